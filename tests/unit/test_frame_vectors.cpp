// Golden DERP streams recorded from Tailscale v1.36.2 (../shared/testdata/tailscale, README §1, §1b, §2): the
// reader must cut them into exactly the recorded frames however the bytes are split, the typed decoders must read
// the recorded meaning, and our encoders must write every frame back byte for byte.
#include <catch2/catch.hpp>

#include <mbedtls/sha256.h>

#include <string>
#include <string_view>

#include "derp/frame.h"
#include "frame/dispatch.hpp"
#include "support/testdata.hpp"
#include "unit/test_frame_helpers.hpp"

using namespace derp::frame;
using namespace derp::frame::test;
using derp::test::from_hex;
using derp::test::to_hex;
using nlohmann::json;

namespace {

std::string sha256_hex(const ByteVector& data) {
  unsigned char digest[32];
  REQUIRE(mbedtls_sha256_ret(data.data(), data.size(), digest, 0) == 0);
  return to_hex(digest, sizeof digest);
}

std::string key_hex(const Key& k) { return to_hex(k.data(), k.size()); }
std::string bytes_hex(Bytes b) { return to_hex(b.data(), b.size()); }

// Where the DERP bytes start: after the HTTP head if the stream has one (a fast-start server sends none).
std::size_t derp_start(const ByteVector& stream) {
  const std::string_view text(reinterpret_cast<const char*>(stream.data()), stream.size());
  if (!text.starts_with("GET ") && !text.starts_with("HTTP/")) return 0;
  const std::size_t end = text.find("\r\n\r\n");
  REQUIRE(end != std::string_view::npos);
  return end + 4;
}

void check_packet(const json& expected, Bytes packet) {
  CHECK(packet.size() == expected.at("len").get<std::size_t>());
  CHECK(sha256_hex(to_vector(packet)) == expected.at("sha256").get<std::string>());
  const std::string content = expected.at("content");
  if (content == "empty") {
    CHECK(packet.empty());
  } else if (content.starts_with("pattern")) {
    CHECK(to_vector(packet) == pattern_packet(packet.size()));
  } else if (content.starts_with("ascii \"")) {
    const std::string text = content.substr(7, content.size() - 8);
    CHECK(std::string(packet.begin(), packet.end()) == text);
  } else {
    FAIL("unexpected packet content description: " << content);
  }
}

// The recorded meaning (`decoded`) against our typed decoder's.
void check_decoded(const json& expected, const ServerKeyFrame& m) {
  CHECK(expected.at("magic_ok").get<bool>());
  CHECK(key_hex(m.key) == expected.at("server_public_key").at("hex").get<std::string>());
  CHECK(m.trailing.size() == expected.at("extra_bytes").get<std::size_t>());
}
void check_decoded(const json& expected, const ClientInfoFrame& m) {
  CHECK(key_hex(m.key) == expected.at("client_public_key").at("hex").get<std::string>());
  CHECK(to_hex(m.nonce.data(), m.nonce.size()) == expected.at("nonce_hex").get<std::string>());
  CHECK(bytes_hex(m.box) == expected.at("box_hex").get<std::string>());
  CHECK(m.box.size() == expected.at("box_len").get<std::size_t>());
}
void check_decoded(const json& expected, const ServerInfoFrame& m) {
  CHECK(to_hex(m.nonce.data(), m.nonce.size()) == expected.at("nonce_hex").get<std::string>());
  CHECK(bytes_hex(m.box) == expected.at("box_hex").get<std::string>());
  CHECK(m.box.size() == expected.at("box_len").get<std::size_t>());
}
void check_decoded(const json& expected, const SendPacketFrame& m) {
  CHECK(key_hex(m.dst) == expected.at("dst").at("hex").get<std::string>());
  check_packet(expected.at("packet"), m.packet);
}
void check_decoded(const json& expected, const RecvPacketFrame& m) {
  CHECK(key_hex(m.src) == expected.at("src").at("hex").get<std::string>());
  check_packet(expected.at("packet"), m.packet);
}
void check_decoded(const json& expected, const KeepAliveFrame&) { CHECK(expected.at("empty").get<bool>()); }
void check_decoded(const json& expected, const WatchConnsFrame&) { CHECK(expected.at("empty").get<bool>()); }
void check_decoded(const json& expected, const NotePreferredFrame& m) {
  CHECK((m.preferred != 0) == expected.at("preferred").get<bool>());
}
void check_decoded(const json& expected, const PeerGoneFrame& m) {
  CHECK(key_hex(m.key) == expected.at("peer").at("hex").get<std::string>());
  if (expected.contains("reason")) {
    CHECK(m.has_reason);
    CHECK(m.reason == expected.at("reason").get<int>());
  } else {
    // v1.36.2 predates the reason byte: 32 bytes, read as "disconnected".
    CHECK_FALSE(m.has_reason);
    CHECK(m.reason == DERP_PEER_GONE_DISCONNECTED);
  }
}
void check_decoded(const json& expected, const PeerPresentFrame& m) {
  CHECK(key_hex(m.key) == expected.at("peer").at("hex").get<std::string>());
  CHECK_FALSE(m.has_endpoint);  // v1.36.2 servers sent the key alone
}
void check_decoded(const json& expected, const ForwardPacketFrame& m) {
  CHECK(key_hex(m.src) == expected.at("src").at("hex").get<std::string>());
  CHECK(key_hex(m.dst) == expected.at("dst").at("hex").get<std::string>());
  check_packet(expected.at("packet"), m.packet);
}
void check_decoded(const json& expected, const ClosePeerFrame& m) {
  CHECK(key_hex(m.key) == expected.at("peer").at("hex").get<std::string>());
}
void check_decoded(const json& expected, const PingFrame& m) {
  CHECK(bytes_hex(m.data) == expected.at("data_hex").get<std::string>());
}
void check_decoded(const json& expected, const PongFrame& m) {
  CHECK(bytes_hex(m.data) == expected.at("data_hex").get<std::string>());
}
void check_decoded(const json&, const HealthFrame&) { FAIL("v1.36.2 never sends Health"); }
void check_decoded(const json&, const RestartingFrame&) { FAIL("v1.36.2 never sends Restarting"); }

// Runs one recorded stream through the reader three ways and checks every frame against the recording.
void check_stream(const std::string& file, const json& expected_frames) {
  INFO("stream " << file);
  const ByteVector stream = derp::test::read_hex_file(file);
  const std::size_t start = derp_start(stream);
  if (!expected_frames.empty()) CHECK(expected_frames.front().at("offset").get<std::size_t>() == start);
  const ByteVector derp_bytes(stream.begin() + static_cast<std::ptrdiff_t>(start), stream.end());

  const ReadResult whole = read_whole(derp_bytes);
  REQUIRE(whole.error == 0);
  // The frames end exactly at EOF: everything consumed, nothing left half-read.
  CHECK(whole.consumed == derp_bytes.size());
  CHECK(whole.buffered_at_end == 0);
  REQUIRE(whole.frames.size() == expected_frames.size());

  const ReadResult bytewise = read_byte_by_byte(derp_bytes);
  CHECK(bytewise.error == 0);
  CHECK(bytewise.buffered_at_end == 0);
  CHECK(bytewise.frames == whole.frames);
  for (std::uint32_t seed = 1; seed <= 8; ++seed) {
    const ReadResult split = read_random_pieces(derp_bytes, seed);
    CHECK(split.error == 0);
    CHECK(split.buffered_at_end == 0);
    CHECK(split.frames == whole.frames);
  }

  std::size_t offset = start;
  for (std::size_t i = 0; i < whole.frames.size(); ++i) {
    const ReadFrame& got = whole.frames[i];
    const json& want = expected_frames[i];
    INFO("frame " << i << " " << want.at("type_name").get<std::string>());
    CHECK(offset == want.at("offset").get<std::size_t>());
    CHECK(got.type == std::stoi(want.at("type").get<std::string>(), nullptr, 16));
    CHECK(got.payload.size() == want.at("length").get<std::size_t>());
    const ByteVector bytes = frame_bytes(got.type, got.payload);
    CHECK(to_hex(bytes.data(), 5) == want.at("header_hex").get<std::string>());
    if (want.contains("payload_hex")) {
      CHECK(to_hex(got.payload) == want.at("payload_hex").get<std::string>());
    } else if (want.contains("payload_prefix_hex")) {
      const std::string prefix = want.at("payload_prefix_hex");
      CHECK(to_hex(got.payload).substr(0, prefix.size()) == prefix);
    } else {
      CHECK(got.payload.empty());  // the recorder leaves out the payload fields of empty frames
    }
    CHECK(sha256_hex(got.payload) == want.at("payload_sha256").get<std::string>());

    const int decoded = decode_and_visit(got.type, as_bytes(got.payload),
                                         [&](const auto& msg) { check_decoded(want.at("decoded"), msg); });
    CHECK(decoded == DERP_OK);
    ByteVector again;
    CHECK(reencode(got.type, as_bytes(got.payload), &again) == DERP_OK);
    CHECK(again == bytes);
    offset += bytes.size();
  }
  CHECK(offset == stream.size());
}

void check_session_file(const std::string& json_file, const std::string& folder) {
  const json session = derp::test::read_json_file(json_file);
  int streams = 0;
  for (const auto& [peer, directions] : session.at("streams").items()) {
    for (const auto& [direction, info] : directions.items()) {
      INFO(peer << " " << direction);
      const std::string file = info.at("file");
      CHECK(file == folder + "/" + peer + "_" + direction + ".hex");
      CHECK(info.at("derp_offset").get<std::size_t>() == info.at("http_len").get<std::size_t>());
      CHECK(info.at("frame_count").get<std::size_t>() == info.at("frames").size());
      check_stream("tailscale/" + file, info.at("frames"));
      ++streams;
    }
  }
  CHECK(streams > 0);
}

}  // namespace

TEST_CASE("frame golden streams: the recorded session (A and B, both directions)", "[frame][vectors]") {
  DERP_REQUIRE_TESTDATA();
  check_session_file("tailscale/session/session.json", "session");
}

TEST_CASE("frame golden streams: the recorded mesh session (A, B and mesh client M)", "[frame][vectors]") {
  DERP_REQUIRE_TESTDATA();
  check_session_file("tailscale/mesh_session/mesh_session.json", "mesh_session");
}

TEST_CASE("frame golden streams: HTTP upgrade captures, fast start and not", "[frame][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json upgrade = derp::test::read_json_file("tailscale/http_upgrade/upgrade.json");
  const json& fast = upgrade.at("tls_faststart");
  // Fast start: the server writes no HTTP response, its stream starts with the ServerKey frame.
  CHECK(fast.at("s2c_frames").at(0).at("offset").get<int>() == 0);
  check_stream("tailscale/" + fast.at("s2c_file").get<std::string>(), fast.at("s2c_frames"));
  check_stream("tailscale/" + fast.at("c2s_file").get<std::string>(), fast.at("c2s_frames"));
  const json& slow = upgrade.at("tls_nofaststart");
  check_stream("tailscale/" + slow.at("s2c_file").get<std::string>(), slow.at("s2c_frames"));
  check_stream("tailscale/" + slow.at("c2s_file").get<std::string>(), slow.at("c2s_frames"));
  const json& minimal = upgrade.at("minimal_upgrade");
  check_stream("tailscale/" + minimal.at("s2c_file").get<std::string>(), minimal.at("s2c_frames"));
}

TEST_CASE("frame golden streams: the protocol constants match ours", "[frame][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json constants = derp::test::read_json_file("tailscale/constants.json");
  int checked = 0;
  for (const json& t : constants.at("frame_types")) {
    const int value = t.at("value");
    const std::string name = t.at("name");  // "frameServerKey"
    CHECK(name == std::string("frame") + derp_frame_type_name(value));
    ++checked;
  }
  CHECK(checked == 16);
  CHECK(constants.at("read_at_runtime").at("derp.MaxPacketSize").get<int>() == DERP_MAX_PACKET_SIZE);
  CHECK(constants.at("read_at_runtime").at("derp.ProtocolVersion").get<int>() == DERP_PROTOCOL_VERSION);
  CHECK(constants.at("observed_on_wire").at("frame_header_len").get<int>() == DERP_FRAME_HEADER_LEN);
  CHECK(constants.at("observed_on_wire").at("magic_hex").get<std::string>() ==
        to_hex(reinterpret_cast<const std::uint8_t*>(DERP_FRAME_MAGIC), DERP_FRAME_MAGIC_LEN));
  const json& limits = constants.at("limits_and_timers_from_source");
  CHECK(limits.at("key_len").get<int>() == DERP_KEY_LEN);
  CHECK(limits.at("nonce_len").get<int>() == DERP_NONCE_LEN);
  CHECK(limits.at("max_info_len").get<int>() == DERP_MAX_INFO_LEN);
  CHECK(limits.at("server_clientinfo_max_frame_len").get<int>() == DERP_MAX_CLIENT_INFO_LEN);
  CHECK(limits.at("client_serverkey_max_frame_len").get<int>() == DERP_SERVER_KEY_MAX_LEN);
  CHECK(limits.at("server_ping_payload_max").get<int>() == DERP_MAX_PING_LEN);
  // The Go client's limit on any frame is 1 MiB; our default leaves room for a full ServerInfo box + nonce.
  CHECK(limits.at("client_recv_max_frame_len").get<std::uint32_t>() <= DERP_FRAME_DEFAULT_MAX_LEN);
}
