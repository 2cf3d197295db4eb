// Tailscale's server output against our client core: the byte streams derp.Server / derphttp.Handler wrote to
// each client in the recorded sessions (tailscale/session, tailscale/mesh_session, tailscale/http_upgrade;
// v1.36.2) are fed to a ClientConnection holding the recorded client's key, and the events it reports are
// compared with what Tailscale's own client decoded from the same bytes (s2c.tailscale_client_decode: one Go
// message per frame after ServerKey). Every expectation is read from the JSON; nothing is copied here.
#include <catch2/catch.hpp>

#include <mbedtls/sha256.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "client/connection.hpp"
#include "crypto/client_info.hpp"
#include "crypto/sealed_info.hpp"
#include "crypto/server_info.hpp"
#include "frame/frame_reader.hpp"
#include "frame/frame_types.hpp"
#include "http/head.hpp"
#include "support/client_harness.hpp"
#include "support/testdata.hpp"

using derp::Bytes;
using derp::Nanos;
using derp::kSecond;
using derp::client::ClientConnection;
using derp::client::ClientOptions;
using derp::client::ClientPhase;
using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;
using derp::frame::FrameType;
using derp::test::ByteVec;
using derp::test::from_hex;
using derp::test::read_hex_file;
using derp::test::read_json_file;
using derp::test::RecordingEvents;
using derp::test::to_hex;
using nlohmann::json;

namespace {

constexpr Nanos kNow = 1'000 * kSecond;

std::string sha256_hex(Bytes data) {
  unsigned char digest[32];
  REQUIRE(mbedtls_sha256_ret(data.data(), data.size(), digest, 0) == 0);
  return to_hex(digest, sizeof digest);
}

std::string key_hex(const NodePublic& k) { return to_hex(k.bytes().data(), k.bytes().size()); }

NodePublic public_from_hex(const std::string& hex) {
  const ByteVec raw = from_hex(hex);
  REQUIRE(raw.size() == 32);
  return NodePublic::from_raw(raw.data());
}

// keys.json: the fixed keys every recording used, by name ("server", "A", "B", "M", "X", ...).
struct RecordedKey {
  std::optional<NodePrivate> priv;
  NodePublic pub;
  std::string short_string;  // Go's ShortString, "[WGmv9]": how the decoded messages name a key
};

std::map<std::string, RecordedKey> recorded_keys() {
  std::map<std::string, RecordedKey> out;
  const json doc = read_json_file("tailscale/keys.json");  // held: a range-for over a temporary's member dangles
  for (const json& k : doc.at("keys")) {
    RecordedKey r;
    if (k.contains("private_raw_hex")) {
      const ByteVec raw = from_hex(k.at("private_raw_hex").get<std::string>());
      REQUIRE(raw.size() == 32);
      r.priv = NodePrivate::from_raw(raw.data());
      // The recorded public key is X25519(private, 9): ours must agree, or nothing below means anything.
      REQUIRE(key_hex(derp::test::public_of(*r.priv)) == k.at("public_raw_hex").get<std::string>());
    }
    r.pub = public_from_hex(k.at("public_raw_hex").get<std::string>());
    r.short_string = k.at("public_ShortString").get<std::string>();
    out.emplace(k.at("name").get<std::string>(), std::move(r));
  }
  return out;
}

// One recorded server → client stream and what Tailscale's client made of it.
struct Recording {
  std::string name;
  ByteVec s2c;                        // the whole stream: the 101 (if any), then the DERP frames
  json frames;                        // the JSON's frame-by-frame breakdown of s2c
  std::vector<std::string> messages;  // Tailscale's client: one Go message per frame after ServerKey, in order
  std::string client;                 // keys.json name of the recorded client
  std::optional<std::string> client_info_plaintext;  // the ClientInfo JSON that client sealed, when recorded
  std::string host;                                   // the Host header that client sent
  std::optional<std::string> final_error;             // Tailscale's client's Recv error at the end of s2c
  std::vector<std::size_t> write_sizes;               // the server's Write calls, in order, when recorded
};

std::string host_of(const std::string& request_text) {
  derp::http::RequestHead head;
  REQUIRE(derp::http::parse_request_head(request_text, &head) == DERP_OK);
  const auto host = head.headers.find("Host");
  REQUIRE(host.has_value());
  return std::string(*host);
}

// session/ and mesh_session/: streams.<name>.{s2c,c2s}.
Recording session_recording(const std::string& folder, const json& doc, const std::string& name) {
  const json& s2c = doc.at("streams").at(name).at("s2c");
  const json& c2s = doc.at("streams").at(name).at("c2s");
  Recording r;
  r.name = folder + "/" + name;
  r.s2c = read_hex_file("tailscale/" + s2c.at("file").get<std::string>());
  REQUIRE(r.s2c.size() == s2c.at("total_len").get<std::size_t>());
  r.frames = s2c.at("frames");
  r.write_sizes = s2c.at("write_call_sizes").get<std::vector<std::size_t>>();
  const json& decode = s2c.at("tailscale_client_decode");
  r.messages = decode.at("messages").get<std::vector<std::string>>();
  r.final_error = decode.at("final_error").get<std::string>();
  // The ServerKey frame Tailscale's client read names the same key as the frame breakdown.
  REQUIRE(decode.at("server_public_key_from_ServerKey_frame").get<std::string>() ==
          r.frames.at(0).at("decoded").at("server_public_key").at("text").get<std::string>());
  const json& info = c2s.at("frames").at(0);
  REQUIRE(info.at("type_name").get<std::string>() == "frameClientInfo");
  r.client = info.at("decoded").at("client_public_key").at("name").get<std::string>();
  REQUIRE(r.client == name);
  r.client_info_plaintext = info.at("decoded").at("plaintext").get<std::string>();
  r.host = host_of(c2s.at("http_text").get<std::string>());
  return r;
}

// http_upgrade/upgrade.json: <entry>.{s2c_file, s2c_frames, client_recv, c2s_frames, request_text}.
Recording upgrade_recording(const json& doc, const std::string& entry) {
  const json& e = doc.at(entry);
  Recording r;
  r.name = "http_upgrade/" + entry;
  r.s2c = read_hex_file("tailscale/" + e.at("s2c_file").get<std::string>());
  r.frames = e.at("s2c_frames");
  if (e.contains("s2c_write_sizes")) r.write_sizes = e.at("s2c_write_sizes").get<std::vector<std::size_t>>();
  if (e.contains("client_recv")) {
    // client_recv also holds a line about the TLS session ("tls version 0x0304, ..."): not a DERP message.
    for (const auto& m : e.at("client_recv").get<std::vector<std::string>>()) {
      if (m.find('{') != std::string::npos) r.messages.push_back(m);
    }
  }
  if (e.contains("c2s_frames")) {
    // The client that made the capture (README §2: derphttp.NewRegionClient(A)), named by its ClientInfo.
    const json& info = e.at("c2s_frames").at(0);
    REQUIRE(info.at("type_name").get<std::string>() == "frameClientInfo");
    r.client = info.at("decoded").at("client_public_key").at("name").get<std::string>();
    r.client_info_plaintext = info.at("decoded").at("plaintext").get<std::string>();
  } else {
    // minimal_upgrade: a hand-written request, no client key and no ClientInfo, so the server sent no ServerInfo
    // either; the stream holds nothing sealed, and any key reads it the same. A is used.
    r.client = "A";
  }
  r.host = host_of(e.at("request_text").get<std::string>());
  return r;
}

// "PongMessage{0102030405060708}" → {"PongMessage", "0102030405060708"}.
std::pair<std::string, std::string> split_go_message(const std::string& m) {
  const std::size_t open = m.find('{');
  REQUIRE(open != std::string::npos);
  REQUIRE(m.back() == '}');
  return {m.substr(0, open), m.substr(open + 1, m.size() - open - 2)};
}

// "TokenBucketBytesPerSecond:0 TokenBucketBytesBurst:0" → the value of one field.
std::string go_field(const std::string& body, const std::string& field) {
  const std::string prefix = field + ":";
  std::size_t at = 0;
  while (at < body.size()) {
    std::size_t end = body.find(' ', at);
    if (end == std::string::npos) end = body.size();
    const std::string item = body.substr(at, end - at);
    if (item.starts_with(prefix)) return item.substr(prefix.size());
    at = end + 1;
  }
  FAIL("no field " << field << " in " << body);
  return {};
}

// A Go key print "B([ZLEBs])" must name the key the frame carries: the keys.json entry called B, whose
// ShortString is [ZLEBs].
void check_go_key(const std::string& text, const NodePublic& key, const std::map<std::string, RecordedKey>& keys) {
  const std::size_t open = text.find('(');
  REQUIRE(open != std::string::npos);
  REQUIRE(text.back() == ')');
  const RecordedKey& named = keys.at(text.substr(0, open));
  CHECK(text.substr(open + 1, text.size() - open - 2) == named.short_string);
  CHECK(named.pub == key);
}

// What our client must report for a recording, built from the JSON.
struct Expected {
  NodePublic server_key;
  std::vector<std::string> log;  // RecordingEvents::log before EOF
  std::vector<derp::crypto::ServerInfo> server_infos;
  std::vector<RecordingEvents::Packet> packets;
  std::vector<std::pair<NodePublic, std::uint8_t>> gone;
  std::vector<RecordingEvents::PeerPresent> present;
  std::size_t pongs = 0;
  std::size_t keepalives = 0;
  std::size_t packet_bytes = 0;
  std::vector<ByteVec> server_pings;  // the first 8 bytes of each Ping: we must answer each with a Pong
};

Expected expected_of(const Recording& r, const std::map<std::string, RecordedKey>& keys) {
  Expected x;
  // Tailscale's client turns every frame after ServerKey into one message (none of these streams holds a frame
  // type it skips): the two lists run side by side.
  REQUIRE(r.frames.size() == r.messages.size() + 1);
  const std::size_t derp_start = r.frames.at(0).at("offset").get<std::size_t>();
  REQUIRE((derp_start == 0) == (r.s2c.at(0) == derp::frame::type_byte(FrameType::ServerKey)));
  std::size_t end = derp_start;

  for (std::size_t i = 0; i < r.frames.size(); ++i) {
    const json& f = r.frames[i];
    INFO(r.name << " frame " << i << " " << f.at("type_name").get<std::string>());
    const auto type = static_cast<std::uint8_t>(std::stoi(f.at("type").get<std::string>(), nullptr, 16));
    const std::size_t offset = f.at("offset").get<std::size_t>();
    const std::size_t length = f.at("length").get<std::size_t>();
    REQUIRE(offset == end);
    REQUIRE(offset + 5 + length <= r.s2c.size());
    CHECK(to_hex(r.s2c.data() + offset, 5) == f.at("header_hex").get<std::string>());
    const Bytes payload(r.s2c.data() + offset + 5, length);
    CHECK(sha256_hex(payload) == f.at("payload_sha256").get<std::string>());
    end = offset + 5 + length;
    const json& d = f.at("decoded");

    if (i == 0) {
      REQUIRE(type == derp::frame::type_byte(FrameType::ServerKey));
      REQUIRE(d.at("magic_ok").get<bool>());
      x.server_key = public_from_hex(d.at("server_public_key").at("hex").get<std::string>());
      CHECK(keys.at(d.at("server_public_key").at("name").get<std::string>()).pub == x.server_key);
      x.log.push_back("connected");
      continue;
    }
    const auto [kind, body] = split_go_message(r.messages.at(i - 1));
    INFO("Tailscale's client decoded " << r.messages.at(i - 1));
    switch (static_cast<FrameType>(type)) {
      case FrameType::ServerInfo: {
        REQUIRE(kind == "ServerInfoMessage");
        REQUIRE(d.at("open_ok").get<bool>());
        derp::crypto::ServerInfo info;
        REQUIRE(derp::crypto::decode_server_info(d.at("plaintext").get<std::string>(), &info) == DERP_OK);
        // What Go's client kept of it: the token bucket (and the version, which it checks is 2).
        CHECK(std::to_string(info.token_bucket_bytes_per_second) == go_field(body, "TokenBucketBytesPerSecond"));
        CHECK(std::to_string(info.token_bucket_bytes_burst) == go_field(body, "TokenBucketBytesBurst"));
        x.server_infos.push_back(info);
        x.log.push_back("server_info");
        break;
      }
      case FrameType::RecvPacket: {
        REQUIRE(kind == "ReceivedPacket");
        const NodePublic src = public_from_hex(d.at("src").at("hex").get<std::string>());
        const json& p = d.at("packet");
        REQUIRE(length == 32 + p.at("len").get<std::size_t>());
        const ByteVec data(payload.begin() + 32, payload.end());
        CHECK(sha256_hex(data) == p.at("sha256").get<std::string>());
        check_go_key(go_field(body, "Source"), src, keys);
        CHECK(go_field(body, "len(Data)") == std::to_string(data.size()));
        x.packet_bytes += data.size();
        x.packets.push_back(RecordingEvents::Packet{src, data});
        x.log.push_back("packet");
        break;
      }
      case FrameType::Pong:
        REQUIRE(kind == "PongMessage");
        CHECK(body == d.at("data_hex").get<std::string>());
        x.pongs++;  // answers Tailscale's ping, not one of ours: no event, counted as unmatched
        break;
      case FrameType::Ping:
        REQUIRE(kind == "PingMessage");
        x.server_pings.emplace_back(payload.begin(), payload.begin() + 8);
        break;
      case FrameType::KeepAlive:
        REQUIRE(kind == "KeepAliveMessage");
        REQUIRE(d.at("empty").get<bool>());
        x.keepalives++;
        break;
      case FrameType::PeerGone: {
        REQUIRE(kind == "PeerGoneMessage");
        const NodePublic peer = public_from_hex(d.at("peer").at("hex").get<std::string>());
        check_go_key(body, peer, keys);
        // v1.36.2 wrote the 32-byte form, which has no reason byte and means "disconnected" (the reason byte
        // came later, reference §2.2); a longer frame carries it.
        x.gone.emplace_back(peer, length == 32 ? std::uint8_t{DERP_PEER_GONE_DISCONNECTED} : payload[32]);
        x.log.push_back("peer_gone");
        break;
      }
      case FrameType::PeerPresent: {
        REQUIRE(kind == "PeerPresentMessage");
        const NodePublic peer = public_from_hex(d.at("peer").at("hex").get<std::string>());
        check_go_key(body, peer, keys);
        // The 32-byte form of v1.36.2: no endpoint, no flags.
        REQUIRE(length == 32);
        x.present.push_back(RecordingEvents::PeerPresent{peer, derp_addr{}, 0});
        x.log.push_back("peer_present");
        break;
      }
      default:
        FAIL("a frame type this test does not expect in a recording: " << f.at("type_name").get<std::string>());
    }
  }
  // The frames cover the stream to its last byte.
  CHECK(end == r.s2c.size());
  return x;
}

// How the stream is cut into reads. AsWritten: as the server's Write calls cut it (the 101 and the ServerKey frame
// in one 217-byte write, coalesced frames after it), the reads a client most likely saw.
enum class Split { Whole, AsWritten, Random, OneByte };

std::vector<std::size_t> pieces(const Recording& r, Split split, std::uint32_t seed) {
  const std::size_t total = r.s2c.size();
  std::vector<std::size_t> out;
  if (split == Split::Whole) return {total};
  if (split == Split::AsWritten) return r.write_sizes;
  if (split == Split::OneByte) return std::vector<std::size_t>(total, 1);
  // mt19937's output is fixed by the standard (uniform_int_distribution's is not): the same cuts everywhere.
  // Short and long reads mixed, so headers, keys and payloads are cut everywhere and large frames arrive whole.
  std::mt19937 rng(seed);
  for (std::size_t at = 0; at < total;) {
    const std::uint32_t max = (rng() % 2 == 0) ? 16 : 9000;
    const std::size_t n = std::min<std::size_t>(1 + rng() % max, total - at);
    out.push_back(n);
    at += n;
  }
  return out;
}

ClientOptions options_for(const Recording& r, const std::map<std::string, RecordedKey>& keys) {
  ClientOptions o;
  REQUIRE(keys.at(r.client).priv.has_value());
  o.private_key = *keys.at(r.client).priv;
  o.host = r.host;
  // A stream that starts with the ServerKey frame answered a fast-start request; one with a 101 did not.
  o.fast_start = r.s2c.at(0) == derp::frame::type_byte(FrameType::ServerKey);
  // Configured as the recorded client was, so our ClientInfo can be compared with the one it sealed.
  if (r.client_info_plaintext) {
    REQUIRE(derp::crypto::decode_client_info(*r.client_info_plaintext, &o.info) == DERP_OK);
  }
  return o;
}

// What our client wrote after its upgrade request: exactly its ClientInfo frame, then a Pong per server Ping.
void check_output(const ByteVec& out, const Recording& r, const Expected& x, const ClientOptions& o,
                  const NodePublic& our_key, const std::map<std::string, RecordedKey>& keys) {
  derp::frame::FrameReader reader;
  Bytes in(out);
  std::vector<std::pair<std::uint8_t, ByteVec>> frames;
  while (!in.empty()) {
    std::size_t used = 0;
    derp::frame::Frame f;
    const int rc = reader.next(in, &used, &f);
    REQUIRE(rc == 1);  // whole frames only
    frames.emplace_back(f.type, ByteVec(f.payload.begin(), f.payload.end()));
    in = in.subspan(used);
  }
  REQUIRE(frames.size() == 1 + x.server_pings.size());
  REQUIRE(frames[0].first == derp::frame::type_byte(FrameType::ClientInfo));
  // The server's private key is in keys.json: open our ClientInfo as Tailscale's server would.
  const RecordedKey& server = keys.at("server");
  REQUIRE(server.priv.has_value());
  REQUIRE(server.pub == x.server_key);
  NodePublic sender;
  derp::crypto::ClientInfo info;
  REQUIRE(derp::crypto::open_client_info(*server.priv, Bytes(frames[0].second), &sender, &info) == DERP_OK);
  CHECK(sender == our_key);
  CHECK(sender == keys.at(r.client).pub);
  CHECK(info == o.info);
  if (r.client_info_plaintext) {
    // Same JSON as the recorded client sealed, byte for byte (so the same frame length: only the nonce differs).
    CHECK(derp::crypto::encode_client_info(info) == *r.client_info_plaintext);
  }
  for (std::size_t i = 0; i < x.server_pings.size(); ++i) {
    CHECK(frames[1 + i].first == derp::frame::type_byte(FrameType::Pong));
    CHECK(frames[1 + i].second == x.server_pings[i]);
  }
}

void check_replay(const Recording& r, Split split, std::uint32_t seed) {
  const auto keys = recorded_keys();
  const Expected x = expected_of(r, keys);
  const ClientOptions o = options_for(r, keys);
  const NodePublic our_key = derp::test::public_of(o.private_key);

  RecordingEvents ev;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, kNow, &c) == DERP_OK);
  // The upgrade request (compared with Tailscale's in its own test case below) goes out first.
  const ByteVec request = derp::test::take_output(*c, kNow);
  REQUIRE(std::string_view(reinterpret_cast<const char*>(request.data()), request.size()).starts_with("GET "));

  std::size_t at = 0;
  std::size_t reads = 0;
  std::size_t failed_reads = 0;
  for (const std::size_t n : pieces(r, split, seed)) {
    if (n > r.s2c.size() - at) FAIL("the reads add up to more than the " << r.s2c.size() << "-byte stream");
    if (c->receive(Bytes(r.s2c.data() + at, n), kNow) != DERP_OK) failed_reads++;
    at += n;
    reads++;
  }
  INFO(r.name << ": " << reads << " reads; close detail: " << c->close_detail());
  REQUIRE(at == r.s2c.size());
  CHECK(failed_reads == 0);

  // Still open, no error, after everything Tailscale's server wrote.
  CHECK(c->phase() == ClientPhase::Running);
  CHECK(c->close_error() == DERP_OK);
  CHECK(ev.closed == 0);

  CHECK(ev.log == x.log);
  CHECK(ev.connected == 1);
  CHECK(ev.connected_key == x.server_key);
  CHECK(c->server_key() == x.server_key);
  CHECK(ev.server_infos == x.server_infos);
  if (x.server_infos.empty()) {
    CHECK_FALSE(c->server_info().has_value());
  } else {
    REQUIRE(c->server_info().has_value());
    CHECK(*c->server_info() == x.server_infos.back());
    CHECK(c->server_info()->version == derp::crypto::kInfoProtocolVersion);
  }
  REQUIRE(ev.packets.size() == x.packets.size());
  for (std::size_t i = 0; i < x.packets.size(); ++i) {
    INFO("packet " << i);
    CHECK(ev.packets[i].source == x.packets[i].source);
    CHECK(ev.packets[i].payload == x.packets[i].payload);
  }
  CHECK(ev.gone == x.gone);
  REQUIRE(ev.present.size() == x.present.size());
  for (std::size_t i = 0; i < x.present.size(); ++i) {
    INFO("peer present " << i);
    CHECK(ev.present[i].peer == x.present[i].peer);
    CHECK(ev.present[i].endpoint.family == DERP_AF_NONE);
    CHECK(ev.present[i].flags == x.present[i].flags);
  }
  CHECK(ev.health.empty());
  CHECK(ev.restarting.empty());
  // Every recorded Pong answers a ping of Tailscale's client, never one of ours: none may be taken as ours.
  CHECK(ev.ping_results.empty());

  const auto& k = c->counters();
  CHECK(k.packets_received == x.packets.size());
  CHECK(k.bytes_received == x.packet_bytes);
  CHECK(k.pongs_unmatched == x.pongs);
  CHECK(k.pongs_matched == 0);
  CHECK(k.keepalives_received == x.keepalives);
  CHECK(k.server_pings_answered == x.server_pings.size());
  CHECK(k.unknown_frames == 0);
  CHECK(k.packets_sent == 0);
  CHECK(k.pings_sent == 0);

  check_output(derp::test::take_output(*c, kNow), r, x, o, our_key, keys);

  // Tailscale's client ended with "derp.Recv: EOF"; ours reports the server's end of stream as PEER_CLOSED.
  if (r.final_error) CHECK(r.final_error->ends_with("EOF"));
  c->receive_eof(kNow);
  CHECK(ev.closed == 1);
  CHECK(ev.close_error == DERP_ERR_PEER_CLOSED);
  CHECK(c->close_error() == DERP_ERR_PEER_CLOSED);
  CHECK(c->phase() == ClientPhase::Closed);
  CHECK(ev.log.back() == "closed");
  CHECK(ev.log.size() == x.log.size() + 1);
}

void check_all_splits(const Recording& r) {
  {
    INFO(r.name << ", whole");
    check_replay(r, Split::Whole, 0);
  }
  if (!r.write_sizes.empty()) {
    INFO(r.name << ", as the server wrote it");
    check_replay(r, Split::AsWritten, 0);
  }
  for (const std::uint32_t seed : {1u, 2u, 3u}) {
    INFO(r.name << ", random split, seed " << seed);
    check_replay(r, Split::Random, seed);
  }
  {
    INFO(r.name << ", one byte per read");
    check_replay(r, Split::OneByte, 0);
  }
}

}  // namespace

TEST_CASE("client vectors: Tailscale's recorded session streams read as Tailscale's client read them",
          "[client][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json doc = read_json_file("tailscale/session/session.json");
  for (const char* name : {"A", "B"}) check_all_splits(session_recording("session", doc, name));
}

TEST_CASE("client vectors: Tailscale's recorded mesh session streams read as Tailscale's client read them",
          "[client][vectors][mesh]") {
  DERP_REQUIRE_TESTDATA();
  const json doc = read_json_file("tailscale/mesh_session/mesh_session.json");
  for (const char* name : {"A", "B", "M"}) check_all_splits(session_recording("mesh_session", doc, name));
}

TEST_CASE("client vectors: Tailscale's upgrade answers, with and without fast start", "[client][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json doc = read_json_file("tailscale/http_upgrade/upgrade.json");
  const Recording fast = upgrade_recording(doc, "tls_faststart");
  const Recording slow = upgrade_recording(doc, "tls_nofaststart");
  const Recording minimal = upgrade_recording(doc, "minimal_upgrade");
  // Fast start: no HTTP answer at all; the others: the 101 first.
  CHECK(fast.s2c.at(0) == derp::frame::type_byte(FrameType::ServerKey));
  for (const Recording* r : {&slow, &minimal}) {
    CHECK(std::string(r->s2c.begin(), r->s2c.begin() + 5) == "HTTP/");
  }
  // The TLS captures were made by client A and carry a ServerInfo sealed to A; minimal_upgrade has none.
  CHECK(fast.client == "A");
  CHECK(slow.client == "A");
  CHECK(minimal.messages.empty());
  for (const Recording* r : {&fast, &slow, &minimal}) check_all_splits(*r);
}

TEST_CASE("client vectors: a recorded Pong answering Tailscale's ping is not taken for ours", "[client][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json doc = read_json_file("tailscale/session/session.json");
  const Recording r = session_recording("session", doc, "A");
  const auto keys = recorded_keys();
  const Expected x = expected_of(r, keys);
  REQUIRE(x.pongs == 1);
  const ClientOptions o = options_for(r, keys);

  // Our client has a ping of its own outstanding when Tailscale's pong arrives.
  RecordingEvents ev;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, kNow, &c) == DERP_OK);
  std::uint64_t id = 0;
  int ping_rc = 1;
  ev.on_connected_hook = [&] { ping_rc = c->ping(kNow, &id); };
  REQUIRE(c->receive(Bytes(r.s2c), kNow) == DERP_OK);
  REQUIRE(ping_rc == DERP_OK);
  CHECK(c->counters().pings_sent == 1);
  CHECK(c->counters().pongs_unmatched == 1);
  CHECK(c->counters().pongs_matched == 0);
  CHECK(ev.ping_results.empty());
  // Ours then times out as it should, since its pong never came.
  c->tick(kNow + o.ping_timeout);
  REQUIRE(ev.ping_results.size() == 1);
  CHECK(ev.ping_results[0].id == id);
  CHECK(ev.ping_results[0].result == DERP_ERR_TIMEOUT);
  CHECK(c->phase() == ClientPhase::Running);
}

TEST_CASE("client vectors: our upgrade request asks what derphttp's does", "[client][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json doc = read_json_file("tailscale/http_upgrade/upgrade.json");
  const auto keys = recorded_keys();
  // plain_request: derphttp.Client over plain HTTP; tls_faststart_request: the region client with fast start.
  for (const auto& [entry, file, fast_start] :
       {std::tuple{"plain_request", "tailscale/http_upgrade/plain_request.hex", false},
        std::tuple{"tls_faststart", "tailscale/http_upgrade/tls_faststart_request.hex", true},
        std::tuple{"tls_nofaststart", "tailscale/http_upgrade/tls_nofaststart_request.hex", false}}) {
    INFO(entry);
    const ByteVec theirs_bytes = read_hex_file(file);
    const std::string theirs_text(theirs_bytes.begin(), theirs_bytes.end());
    const json& e = doc.at(entry);
    CHECK(theirs_text == (e.contains("text") ? e.at("text") : e.at("request_text")).get<std::string>());

    derp::http::RequestHead theirs;
    REQUIRE(derp::http::find_head_end(theirs_text) == theirs_text.size());
    REQUIRE(derp::http::parse_request_head(theirs_text, &theirs) == DERP_OK);

    ClientOptions o;
    o.private_key = *keys.at("A").priv;
    o.host = std::string(*theirs.headers.find("Host"));  // the same URL host:port, so the same Host header
    o.fast_start = fast_start;
    RecordingEvents ev;
    std::unique_ptr<ClientConnection> c;
    REQUIRE(ClientConnection::create(o, &ev, kNow, &c) == DERP_OK);
    const ByteVec ours_bytes = derp::test::take_output(*c, kNow);
    const std::string ours_text(ours_bytes.begin(), ours_bytes.end());
    INFO("ours: " << ours_text);
    INFO("theirs: " << theirs_text);
    derp::http::RequestHead ours;
    REQUIRE(derp::http::find_head_end(ours_text) == ours_text.size());  // nothing after the head
    REQUIRE(derp::http::parse_request_head(ours_text, &ours) == DERP_OK);

    CHECK(ours.method == theirs.method);
    CHECK(ours.target == theirs.target);
    CHECK(ours.path == theirs.path);
    CHECK(ours.version_minor == theirs.version_minor);
    for (const char* name : {"Upgrade", "Connection", "Derp-Fast-Start"}) {
      INFO(name);
      REQUIRE(ours.headers.find(name).has_value() == theirs.headers.find(name).has_value());
      if (theirs.headers.find(name)) CHECK(*ours.headers.find(name) == *theirs.headers.find(name));
    }
    CHECK(theirs.headers.has_token("Upgrade", "DERP"));
    CHECK(ours.headers.has_token("Upgrade", "DERP"));
    CHECK(theirs.headers.has_token("Connection", "Upgrade"));
    CHECK(ours.headers.has_token("Connection", "Upgrade"));
    // The same header names in the same order. Values may differ: User-Agent is "Go-http-client/1.1" there and
    // "libderp/<version>" here, and Host is whatever the caller dials (here the same, since we pass theirs).
    REQUIRE(ours.headers.count == theirs.headers.count);
    for (std::size_t i = 0; i < theirs.headers.count; ++i) {
      CHECK(derp::http::iequals(ours.headers.items[i].name, theirs.headers.items[i].name));
    }
    CHECK(*ours.headers.find("Host") == *theirs.headers.find("Host"));
    CHECK(theirs.headers.find("User-Agent").has_value());
    CHECK(ours.headers.find("User-Agent").has_value());
  }
}
