// ClientInfo / ServerInfo payloads: Tailscale's recorded frames (testdata info_boxes.json, session/, mesh_session/)
// and the worked examples of reference §10.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/box.hpp"
#include "crypto/node_key.hpp"
#include "crypto/sealed_info.hpp"
#include "derp/common.h"
#include "support/testdata.hpp"

using derp::Bytes;
using derp::MutableBytes;
using derp::crypto::ClientInfo;
using derp::crypto::KeyBytes;
using derp::crypto::Nonce;
using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;
using derp::crypto::ServerInfo;
using derp::test::from_hex;
using derp::test::to_hex;

namespace {

constexpr std::uint8_t kClientInfoType = 0x02;
constexpr std::uint8_t kServerInfoType = 0x03;

NodePublic public_of(const NodePrivate& priv) {
  NodePublic pub;
  REQUIRE(derp::crypto::public_of(priv, &pub) == DERP_OK);
  return pub;
}

NodePrivate private_from_hex(const std::string& hex) {
  const auto raw = from_hex(hex);
  REQUIRE(raw.size() == 32);
  return NodePrivate::from_raw(raw.data());
}

std::map<std::string, NodePrivate> named_keys() {
  std::map<std::string, NodePrivate> keys;
  const auto doc = derp::test::read_json_file("tailscale/keys.json");  // kept alive for the loop
  for (const auto& k : doc.at("keys")) {
    keys.emplace(k.at("name").get<std::string>(), private_from_hex(k.at("private_raw_hex").get<std::string>()));
  }
  return keys;
}

struct Frame {
  std::uint8_t type = 0;
  std::vector<std::uint8_t> payload;
};

// Splits a DERP byte stream into frames (1 type byte, 4-byte big-endian length, payload); fails on a torn end.
std::vector<Frame> split_frames(const std::vector<std::uint8_t>& stream, std::size_t from) {
  std::vector<Frame> frames;
  std::size_t at = from;
  while (at < stream.size()) {
    REQUIRE(stream.size() - at >= 5);
    const std::size_t len = derp::load_be32(&stream[at + 1]);
    REQUIRE(stream.size() - at - 5 >= len);
    const auto begin = stream.begin() + static_cast<std::ptrdiff_t>(at + 5);
    frames.push_back({stream[at], std::vector<std::uint8_t>(begin, begin + static_cast<std::ptrdiff_t>(len))});
    at += 5 + len;
  }
  return frames;
}

// The frames of a recorded stream: skip the HTTP head (up to the first blank line), then split.
std::vector<Frame> recorded_frames(const std::string& file) {
  const auto stream = derp::test::read_hex_file(file);
  const std::string_view text(reinterpret_cast<const char*>(stream.data()), stream.size());
  const std::size_t head_end = text.find("\r\n\r\n");
  REQUIRE(head_end != std::string_view::npos);
  return split_frames(stream, head_end + 4);
}

const Frame& first_frame_of_type(const std::vector<Frame>& frames, std::uint8_t type) {
  for (const Frame& f : frames) {
    if (f.type == type) return f;
  }
  FAIL("no frame of type " << int(type));
  return frames.front();
}

// The whole frame as hex: 5-byte header, then the payload.
std::string frame_hex(std::uint8_t type, const std::vector<std::uint8_t>& payload) {
  std::uint8_t header[5] = {type};
  derp::store_be32(&header[1], static_cast<std::uint32_t>(payload.size()));
  return to_hex(header, sizeof header) + to_hex(payload);
}

std::string opened_text(const NodePrivate& recipient, const NodePublic& sender, Bytes sealed) {
  std::vector<std::uint8_t> plain;
  REQUIRE(derp::crypto::open(recipient, sender, sealed, &plain) == DERP_OK);
  return std::string(plain.begin(), plain.end());
}

// Opens one recorded ClientInfo payload and checks it against the plaintext Go sealed; our encoder must write the
// same bytes from the decoded struct.
ClientInfo check_client_info(const NodePrivate& server, const std::vector<std::uint8_t>& payload,
                             const std::string& plaintext, const NodePublic& expected_client) {
  NodePublic client;
  ClientInfo info;
  REQUIRE(derp::crypto::open_client_info(server, payload, &client, &info) == DERP_OK);
  CHECK(client == expected_client);
  CHECK(opened_text(server, client, Bytes(payload).subspan(32)) == plaintext);
  CHECK(derp::crypto::encode_client_info(info) == plaintext);
  return info;
}

ServerInfo check_server_info(const NodePrivate& client, const NodePublic& server,
                             const std::vector<std::uint8_t>& payload, const std::string& plaintext) {
  ServerInfo info;
  REQUIRE(derp::crypto::open_server_info(client, server, payload, &info) == DERP_OK);
  CHECK(opened_text(client, server, payload) == plaintext);
  CHECK(derp::crypto::encode_server_info(info) == plaintext);
  return info;
}

Nonce nonce_from(std::uint8_t first, int step) {
  Nonce n;
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::uint8_t>(first + step * static_cast<int>(i));
  return n;
}

}  // namespace

TEST_CASE("info: recorded boxes: every Go ClientInfo/ServerInfo opens to its plaintext, which we re-encode exactly",
          "[crypto][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto keys = named_keys();
  const NodePrivate& server = keys.at("server");
  const auto doc = derp::test::read_json_file("tailscale/info_boxes.json");
  REQUIRE(doc.at("recorded").size() >= 9);
  int client_infos = 0;
  int server_infos = 0;
  for (const auto& v : doc.at("recorded")) {
    const std::string name = v.at("name");
    INFO(name);
    const auto frame = from_hex(v.at("frame_hex").get<std::string>());
    REQUIRE(frame.size() >= 5);
    REQUIRE(derp::load_be32(&frame[1]) == frame.size() - 5);
    const std::vector<std::uint8_t> payload(frame.begin() + 5, frame.end());
    const std::string plaintext = v.at("plaintext");
    if (v.contains("client_public_key_hex")) {
      REQUIRE(frame[0] == kClientInfoType);
      const auto client_key = from_hex(v.at("client_public_key_hex").get<std::string>());
      CHECK(to_hex(payload.data(), 24 + 32).substr(64) == v.at("nonce_hex").get<std::string>());
      CHECK(to_hex(payload.data() + 56, payload.size() - 56) == v.at("box_hex").get<std::string>());
      check_client_info(server, payload, plaintext, NodePublic::from_raw(client_key.data()));
      ++client_infos;
    } else {
      REQUIRE(frame[0] == kServerInfoType);
      // "session_A_ServerInfo": sealed for client A.
      const std::string client_name = name.substr(std::string("session_").size(), 1);
      check_server_info(keys.at(client_name), public_of(server), payload, plaintext);
      ++server_infos;
    }
  }
  CHECK(client_infos == 7);
  CHECK(server_infos == 2);
}

TEST_CASE("info: recorded boxes: the option combinations decode to the right fields", "[crypto][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto keys = named_keys();
  const auto doc = derp::test::read_json_file("tailscale/info_boxes.json");
  for (const auto& v : doc.at("recorded")) {
    if (v.at("name") != "derp_NewClient_all") continue;
    const auto frame = from_hex(v.at("frame_hex").get<std::string>());
    NodePublic client;
    ClientInfo info;
    REQUIRE(derp::crypto::open_client_info(keys.at("server"), Bytes(frame).subspan(5), &client, &info) == DERP_OK);
    CHECK(info.version == 2);
    CHECK(info.mesh_key == "6d6573682d6b65792d666f722d746573742d766563746f72732d303132333435");
    CHECK(info.can_ack_pings);
    CHECK(info.is_prober);
    CHECK(client == public_of(keys.at("A")));
  }
}

TEST_CASE("info: reference §10: the worked ClientInfo and ServerInfo frames, byte for byte", "[crypto]") {
  const NodePrivate server = private_from_hex("0002030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f60");
  const NodePrivate client = private_from_hex("4042434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60");
  CHECK(to_hex(public_of(server).data(), 32) == "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c");
  CHECK(to_hex(public_of(client).data(), 32) == "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466");

  ClientInfo ci;
  ci.version = 2;
  ci.can_ack_pings = true;
  const Nonce up = nonce_from(0x00, 1);  // 00 01 … 17
  std::vector<std::uint8_t> payload;
  REQUIRE(derp::crypto::seal_client_info(client, public_of(server), ci, &payload, &up) == DERP_OK);
  CHECK(frame_hex(kClientInfoType, payload) ==
        "0200000068"
        "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466"
        "000102030405060708090a0b0c0d0e0f1011121314151617"
        "adae4041b70fe715a2dcf63c8ac02df1"
        "e4e99f7e03896c0d8df02f11f38281e1fd9e1b60e2040edd9003eadd2e2a72bf");
  NodePublic opened_client;
  ClientInfo opened;
  REQUIRE(derp::crypto::open_client_info(server, payload, &opened_client, &opened) == DERP_OK);
  CHECK(opened == ci);
  CHECK(opened_client == public_of(client));

  ServerInfo si;
  si.version = 2;
  const Nonce down = nonce_from(0xff, -1);  // ff fe … e8
  REQUIRE(derp::crypto::seal_server_info(server, public_of(client), si, &payload, &down) == DERP_OK);
  CHECK(frame_hex(kServerInfoType, payload) ==
        "0300000035"
        "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8"
        "167ff1e485f1cb7369dd3107d4ed7330b81dc33e9bf584b5c1a382a7c9");
  ServerInfo opened_si;
  REQUIRE(derp::crypto::open_server_info(client, public_of(server), payload, &opened_si) == DERP_OK);
  CHECK(opened_si == si);
}

TEST_CASE("info: session/: the ClientInfo and ServerInfo frames of the recorded streams", "[crypto][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto keys = named_keys();
  const NodePrivate& server = keys.at("server");
  const auto session = derp::test::read_json_file("tailscale/session/session.json");
  for (const std::string name : {"A", "B"}) {
    INFO("client " << name);
    const NodePrivate& client = keys.at(name);
    const auto& streams = session.at("streams").at(name);

    const auto c2s = recorded_frames("tailscale/session/" + name + "_c2s.hex");
    REQUIRE(c2s.front().type == kClientInfoType);  // the first frame a client writes
    const std::string client_plain = streams.at("c2s").at("frames").at(0).at("decoded").at("plaintext");
    const ClientInfo ci = check_client_info(server, c2s.front().payload, client_plain, public_of(client));
    CHECK(ci.version == 2);
    CHECK(ci.can_ack_pings == (name == "A"));  // A had SetCanAckPings(true), B the defaults

    const auto s2c = recorded_frames("tailscale/session/" + name + "_s2c.hex");
    REQUIRE(s2c.at(0).type == 0x01);  // ServerKey comes first, then ServerInfo
    REQUIRE(s2c.at(1).type == kServerInfoType);
    const std::string server_plain = streams.at("s2c").at("frames").at(1).at("decoded").at("plaintext");
    const ServerInfo si = check_server_info(client, public_of(server), s2c.at(1).payload, server_plain);
    CHECK(si == ServerInfo{2, 0, 0});
  }
}

TEST_CASE("info: mesh_session/: the mesh client's ClientInfo carries meshKey", "[crypto][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto keys = named_keys();
  const auto mesh = derp::test::read_json_file("tailscale/mesh_session/mesh_session.json");
  const std::string mesh_key = mesh.at("mesh_key");
  for (const std::string name : {"A", "B", "M"}) {
    INFO("client " << name);
    const auto c2s = recorded_frames("tailscale/mesh_session/" + name + "_c2s.hex");
    const std::string plain = mesh.at("streams").at(name).at("c2s").at("frames").at(0).at("decoded").at("plaintext");
    const ClientInfo ci =
        check_client_info(keys.at("server"), first_frame_of_type(c2s, kClientInfoType).payload, plain,
                          public_of(keys.at(name)));
    if (name == "M") {
      CHECK(ci.mesh_key == mesh_key);
    } else {
      CHECK_FALSE(ci.mesh_key.has_value());
    }
    const auto s2c = recorded_frames("tailscale/mesh_session/" + name + "_s2c.hex");
    check_server_info(keys.at(name), public_of(keys.at("server")), first_frame_of_type(s2c, kServerInfoType).payload,
                      "{\"version\":2}");
  }
}

TEST_CASE("info: sealed info: size limits and failures", "[crypto]") {
  KeyBytes raw{};
  raw[0] = 1;
  raw[31] = 0x40;
  const NodePrivate server(raw);
  raw[1] = 2;
  const NodePrivate client(raw);
  ClientInfo ci;
  ci.version = 2;
  std::vector<std::uint8_t> payload;
  REQUIRE(derp::crypto::seal_client_info(client, public_of(server), ci, &payload) == DERP_OK);
  CHECK(payload.size() == 32 + 40 + std::string(R"({"version":2,"CanAckPings":false})").size());

  NodePublic who;
  ClientInfo got;
  CHECK(derp::crypto::open_client_info(server, Bytes(payload).first(71), &who, &got) == DERP_ERR_MALFORMED);
  CHECK(derp::crypto::open_client_info(server, Bytes(payload).first(56), &who, &got) == DERP_ERR_MALFORMED);
  std::vector<std::uint8_t> huge(256 * 1024 + 1);
  CHECK(derp::crypto::open_client_info(server, huge, &who, &got) == DERP_ERR_FRAME_TOO_LARGE);
  huge.pop_back();
  CHECK(derp::crypto::open_client_info(server, huge, &who, &got) == DERP_ERR_BOX_OPEN);  // size fine, box not
  auto tampered = payload;
  tampered[5] ^= 1;  // the client key: the box then does not open with it
  CHECK(derp::crypto::open_client_info(server, tampered, &who, &got) == DERP_ERR_BOX_OPEN);
  CHECK(derp::crypto::open_client_info(client, payload, &who, &got) == DERP_ERR_BOX_OPEN);  // not for us

  // A box that opens but holds bad JSON.
  const NodePublic client_public = public_of(client);
  std::vector<std::uint8_t> bad_json(client_public.data(), client_public.data() + 32);
  std::vector<std::uint8_t> box;
  const std::string not_json = "{\"version\":\"2\"}";
  REQUIRE(derp::crypto::seal(client, public_of(server),
                             Bytes(reinterpret_cast<const std::uint8_t*>(not_json.data()), not_json.size()),
                             &box) == DERP_OK);
  bad_json.insert(bad_json.end(), box.begin(), box.end());
  CHECK(derp::crypto::open_client_info(server, bad_json, &who, &got) == DERP_ERR_BAD_JSON);
  CHECK(got == ClientInfo{});  // untouched

  // Too big to send: the server would refuse it.
  ClientInfo big;
  big.app_name.assign(256 * 1024, 'x');
  CHECK(derp::crypto::seal_client_info(client, public_of(server), big, &payload) == DERP_ERR_FRAME_TOO_LARGE);

  // Caller buffers: the size needed comes back with BUFFER_TOO_SMALL.
  std::size_t written = 0;
  std::vector<std::uint8_t> small(10);
  CHECK(derp::crypto::seal_client_info(client, public_of(server), ci, MutableBytes(small), &written) ==
        DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(written == 32 + 40 + 33);
  small.resize(written);
  CHECK(derp::crypto::seal_client_info(client, public_of(server), ci, MutableBytes(small), &written) == DERP_OK);

  ServerInfo si{2, 0, 0};
  REQUIRE(derp::crypto::seal_server_info(server, public_of(client), si, &payload) == DERP_OK);
  ServerInfo got_si;
  CHECK(derp::crypto::open_server_info(client, public_of(server), Bytes(payload).first(39), &got_si) ==
        DERP_ERR_MALFORMED);
  std::vector<std::uint8_t> too_long(24 + (1u << 20) + 1);
  CHECK(derp::crypto::open_server_info(client, public_of(server), too_long, &got_si) == DERP_ERR_FRAME_TOO_LARGE);
  CHECK(derp::crypto::open_server_info(client, public_of(client), payload, &got_si) == DERP_ERR_BOX_OPEN);
  REQUIRE(derp::crypto::open_server_info(client, public_of(server), payload, &got_si) == DERP_OK);
  CHECK(got_si == si);
}
