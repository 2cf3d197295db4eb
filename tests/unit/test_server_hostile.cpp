// The server core against hostile clients (issue 15): replayed ClientInfo, frames that pin memory, frames Go's
// server skips, and ClientInfo JSON Go's server refuses.
#include <catch2/catch.hpp>

#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/box.hpp"
#include "crypto/sealed_info.hpp"
#include "derp/frame.h"
#include "frame/header.hpp"
#include "support/server_harness.hpp"

using derp::frame::FrameType;
using derp::server::CloseReason;
using derp::server::HandshakeFailure;
using derp::test::Peer;
using derp::test::ServerHarness;
using derp::test::bytes_of;

namespace {

using ByteVector = std::vector<std::uint8_t>;

ByteVector frame_bytes(std::uint8_t type, const ByteVector& payload) {
  ByteVector out(derp::frame::kHeaderLen);
  derp::frame::write_header(out.data(), type, static_cast<std::uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// The bytes a client sends on a fresh connection: the upgrade request, then its ClientInfo frame.
ByteVector login_bytes(const ByteVector& client_info_payload) {
  ByteVector bytes = bytes_of(derp::test::upgrade_request(false));
  const ByteVector f = frame_bytes(DERP_FRAME_CLIENT_INFO, client_info_payload);
  bytes.insert(bytes.end(), f.begin(), f.end());
  return bytes;
}

ByteVector sealed_client_info(const derp::crypto::NodePrivate& client, const derp::crypto::NodePublic& server) {
  derp::crypto::ClientInfo info;
  info.version = 2;
  info.can_ack_pings = true;
  ByteVector payload;
  REQUIRE(derp::crypto::seal_client_info(client, server, info, &payload) == DERP_OK);
  return payload;
}

// A ClientInfo payload around any JSON text, as a client that writes its own JSON would seal it.
ByteVector sealed_json(const derp::crypto::NodePrivate& client, const derp::crypto::NodePublic& server,
                       const std::string& json) {
  derp::crypto::NodePublic pub;
  REQUIRE(derp::crypto::public_of(client, &pub) == DERP_OK);
  ByteVector box;
  REQUIRE(derp::crypto::seal(client, server, derp::Bytes(reinterpret_cast<const std::uint8_t*>(json.data()), json.size()),
                             &box) == DERP_OK);
  ByteVector payload(pub.bytes().begin(), pub.bytes().end());
  payload.insert(payload.end(), box.begin(), box.end());
  return payload;
}

derp::crypto::NodePrivate fresh_key() {
  derp::crypto::NodePrivate k;
  REQUIRE(derp::crypto::generate_private(&k) == DERP_OK);
  return k;
}

std::uint64_t failures(ServerHarness& h, HandshakeFailure f) {
  return h.server().counters().handshake_failures[static_cast<std::size_t>(f)];
}

// A ping answered proves the connection is read and served.
bool answers_ping(ServerHarness& h, Peer& p, std::uint8_t tag) {
  const std::size_t before = p.of_type(FrameType::Pong).size();
  h.send_frame(p, FrameType::Ping, ByteVector(8, tag));
  const auto pongs = p.of_type(FrameType::Pong);
  return !p.closed && pongs.size() == before + 1 && pongs.back().payload == ByteVector(8, tag);
}

}  // namespace

TEST_CASE("hostile: a replayed ClientInfo is refused, the victim keeps its traffic", "[server][hostile]") {
  ServerHarness h;
  const auto victim_key = fresh_key();
  const ByteVector captured = sealed_client_info(victim_key, h.server().public_key());

  Peer& victim = h.open();
  h.write(victim, login_bytes(captured));
  victim.priv = victim_key;
  derp::crypto::public_of(victim_key, &victim.pub);
  REQUIRE(!victim.closed);
  REQUIRE(victim.of_type(FrameType::ServerInfo).size() == 1);

  // The attacker replays the captured bytes on its own connection.
  Peer& replayer = h.open("198.51.100.7:5555");
  h.write(replayer, login_bytes(captured));
  CHECK(replayer.closed);
  CHECK(replayer.close_reason == CloseReason::bad_handshake);
  CHECK(replayer.of_type(FrameType::ServerInfo).empty());
  CHECK(h.server().counters().client_info_replays == 1);
  CHECK(failures(h, HandshakeFailure::replay) == 1);
  CHECK(h.server().metrics_text().find("derp_client_info_replays 1\n") != std::string::npos);

  // The victim still gets its packets.
  Peer& sender = h.connect();
  h.send_packet(sender, victim.key(), ByteVector(100, 0x42));
  CHECK(victim.of_type(FrameType::RecvPacket).size() == 1);

  // An honest reconnect of the same key seals with a fresh nonce and is accepted, as a second connection.
  Peer& again = h.connect(&victim_key);
  CHECK(!again.closed);
  CHECK(again.of_type(FrameType::ServerInfo).size() == 1);

  // After both connections left, the capture is still refused (the key's nonces are remembered while it is away).
  for (Peer* gone : {&victim, &again}) {
    h.server().remove(gone->conn, h.now());
    gone->conn = nullptr;
    gone->closed = true;
  }
  Peer& later = h.open("198.51.100.7:5556");
  h.write(later, login_bytes(captured));
  CHECK(later.closed);
  CHECK(h.server().counters().client_info_replays == 2);
}

TEST_CASE("hostile: the replay cache stays bounded under a flood of keys, live keys are never evicted",
          "[server][hostile]") {
  auto opts = ServerHarness::default_options();
  opts.replay_cache_keys = 64;
  ServerHarness h(opts);
  const auto victim_key = fresh_key();
  const ByteVector captured = sealed_client_info(victim_key, h.server().public_key());
  Peer& victim = h.open();
  h.write(victim, login_bytes(captured));
  REQUIRE(!victim.closed);
  const auto away_key = fresh_key();
  const ByteVector away_capture = sealed_client_info(away_key, h.server().public_key());
  {
    Peer& away = h.open();
    h.write(away, login_bytes(away_capture));
    REQUIRE(!away.closed);
    h.server().remove(away.conn, h.now());
    away.conn = nullptr;
    away.closed = true;
  }

  // 1,000 fresh keys log in and leave.
  for (int i = 0; i < 1000; ++i) {
    Peer& p = h.connect();
    REQUIRE(!p.closed);
    h.server().remove(p.conn, h.now());
    p.conn = nullptr;
    p.closed = true;
    REQUIRE(h.server().replay_cache().idle_keys() <= 64);
  }
  const auto& cache = h.server().replay_cache();
  CHECK(cache.keys() <= 64 + 1);  // the bound, plus the one live key
  CHECK(cache.nonces() <= (64 + 1) * derp::server::ReplayCache::kNoncesPerKey);
  CHECK(h.server().counters().replay_cache_evictions >= 1000 + 1 - 64);

  // The connected victim's capture is still refused: a flood cannot push out a live key.
  Peer& replayer = h.open("198.51.100.7:5555");
  h.write(replayer, login_bytes(captured));
  CHECK(replayer.closed);
  CHECK(replayer.close_reason == CloseReason::bad_handshake);
  // The key that was away longest was forgotten: its capture logs in (the documented limit of the bound).
  Peer& late = h.open("198.51.100.7:5556");
  h.write(late, login_bytes(away_capture));
  CHECK(!late.closed);
}

TEST_CASE("hostile: replay detection can be turned off", "[server][hostile]") {
  auto opts = ServerHarness::default_options();
  opts.replay_cache_keys = 0;
  ServerHarness h(opts);
  const ByteVector captured = sealed_client_info(fresh_key(), h.server().public_key());
  Peer& a = h.open();
  h.write(a, login_bytes(captured));
  Peer& b = h.open();
  h.write(b, login_bytes(captured));
  CHECK(!a.closed);
  CHECK(!b.closed);
  CHECK(h.server().replay_cache().keys() == 0);
}

TEST_CASE("hostile: unknown frames are skipped as they stream past, never stored", "[server][hostile]") {
  ServerHarness h;
  Peer& p = h.connect();
  // A 60 KiB frame of an unknown type, 1,000 bytes at a time: the server holds none of it.
  ByteVector big(60 * 1024, 0xee);
  const ByteVector f = frame_bytes(0x7e, big);
  for (std::size_t off = 0; off < f.size(); off += 1000) {
    const std::size_t n = std::min<std::size_t>(1000, f.size() - off);
    h.write(p, ByteVector(f.begin() + static_cast<std::ptrdiff_t>(off), f.begin() + static_cast<std::ptrdiff_t>(off + n)));
    REQUIRE(!p.closed);
    REQUIRE(h.server().counters().partial_frame_bytes == 0);
  }
  CHECK(h.server().counters().unknown_frames == 1);
  CHECK(h.server().counters().discarded_frame_bytes == big.size());
  CHECK(answers_ping(h, p, 1));

  // Larger than the largest frame a client sends: a violation (Tailscale's maxUnknownFrameLen), judged from the
  // header alone.
  ByteVector header(derp::frame::kHeaderLen);
  derp::frame::write_header(header.data(), 0x7e, DERP_MAX_PACKET_SIZE + DERP_KEY_LEN + 1);
  h.write(p, header);
  CHECK(p.closed);
  CHECK(p.close_reason == CloseReason::protocol_error);
}

TEST_CASE("hostile: frame types only a server sends are skipped like Go's server does", "[server][hostile]") {
  ServerHarness h;
  Peer& p = h.connect();
  SECTION("a KeepAlive with a 4-byte payload") {
    h.send_frame(p, FrameType::KeepAlive, {1, 2, 3, 4});
  }
  SECTION("a KeepAlive split across reads") {
    const ByteVector f = frame_bytes(DERP_FRAME_KEEP_ALIVE, {1, 2, 3, 4});
    for (std::uint8_t b : f) h.write(p, ByteVector{b});
  }
  SECTION("a second ClientInfo") {
    h.send_frame(p, FrameType::ClientInfo, sealed_client_info(fresh_key(), h.server().public_key()));
  }
  SECTION("a RecvPacket, a Pong, a Health") {
    h.send_frame(p, FrameType::RecvPacket, ByteVector(40, 1));
    h.send_frame(p, FrameType::Pong, ByteVector(8, 1));
    h.send_frame(p, FrameType::Health, bytes_of("fine"));
  }
  CHECK(!p.closed);
  CHECK(h.server().counters().unknown_frames >= 1);
  CHECK(answers_ping(h, p, 9));
}

TEST_CASE("hostile: mesh frames from a client without mesh rights are refused from the header", "[server][hostile]") {
  ServerHarness h;
  Peer& p = h.connect();
  ByteVector header(derp::frame::kHeaderLen);
  derp::frame::write_header(header.data(), DERP_FRAME_FORWARD_PACKET, 2 * DERP_KEY_LEN + 60000);
  h.write(p, header);  // no payload byte needed: the header decides
  CHECK(p.closed);
  CHECK(p.close_reason == CloseReason::protocol_error);
  CHECK(h.server().counters().partial_frame_bytes == 0);
}

TEST_CASE("hostile: the first frame must be ClientInfo, judged from its header", "[server][hostile]") {
  ServerHarness h;
  Peer& p = h.open();
  ByteVector bytes = bytes_of(derp::test::upgrade_request(false));
  ByteVector header(derp::frame::kHeaderLen);
  derp::frame::write_header(header.data(), DERP_FRAME_SEND_PACKET, 60000);
  bytes.insert(bytes.end(), header.begin(), header.end());
  h.write(p, bytes);
  CHECK(p.closed);
  CHECK(p.close_reason == CloseReason::bad_handshake);
  CHECK(failures(h, HandshakeFailure::not_client_info) == 1);
}

TEST_CASE("hostile: a slow known frame pins only what arrived", "[server][hostile]") {
  ServerHarness h;
  Peer& p = h.connect();
  // A SendPacket announcing a full 64 KiB packet, of which 1,000 bytes arrive.
  ByteVector header(derp::frame::kHeaderLen);
  derp::frame::write_header(header.data(), DERP_FRAME_SEND_PACKET, DERP_KEY_LEN + DERP_MAX_PACKET_SIZE);
  h.write(p, header);
  h.write(p, ByteVector(1000, 0));
  REQUIRE(!p.closed);
  const auto held = h.server().counters().partial_frame_bytes;
  CHECK(held > 0);
  CHECK(held <= derp::frame::kHeaderLen + derp::frame::FrameReader::kInitialReserve);
  CHECK(held < DERP_MAX_PACKET_SIZE / 2);
  // The frame completes and the memory is accounted back to zero.
  h.write(p, ByteVector(DERP_KEY_LEN + DERP_MAX_PACKET_SIZE - 1000, 0));
  CHECK(!p.closed);
  CHECK(h.server().counters().partial_frame_bytes == 0);
}

TEST_CASE("hostile: a server-wide budget on incomplete frames closes the connections over their share",
          "[server][hostile]") {
  auto opts = ServerHarness::default_options();
  opts.partial_frame_budget = 256 * 1024;
  ServerHarness h(opts);
  Peer& honest_a = h.connect();
  Peer& honest_b = h.connect();

  // 20 connections each start a 64 KiB SendPacket and send 60 KiB of it.
  std::vector<Peer*> hogs;
  ByteVector header(derp::frame::kHeaderLen);
  derp::frame::write_header(header.data(), DERP_FRAME_SEND_PACKET, DERP_KEY_LEN + DERP_MAX_PACKET_SIZE);
  for (int i = 0; i < 20; ++i) {
    Peer& hog = h.connect();
    h.write(hog, header);
    for (int k = 0; k < 60 && !hog.closed; ++k) h.write(hog, ByteVector(1024, 0));
    hogs.push_back(&hog);
    // Never more than the budget plus the one growth step that was refused.
    REQUIRE(h.server().counters().partial_frame_bytes <= opts.partial_frame_budget);
  }
  std::size_t closed = 0;
  for (Peer* hog : hogs) {
    if (hog->closed) {
      ++closed;
      CHECK(hog->close_reason == CloseReason::frame_budget);
    }
  }
  CHECK(closed >= 20 - 256 / 60);
  CHECK(h.server().counters().partial_frame_budget_closes == closed);
  // Honest clients go on, split packets included.
  const ByteVector packet(1200, 0x33);
  ByteVector payload(honest_b.key().begin(), honest_b.key().end());
  payload.insert(payload.end(), packet.begin(), packet.end());
  const ByteVector f = frame_bytes(DERP_FRAME_SEND_PACKET, payload);
  h.write(honest_a, ByteVector(f.begin(), f.begin() + 600));
  h.write(honest_a, ByteVector(f.begin() + 600, f.end()));
  CHECK(!honest_a.closed);
  CHECK(honest_b.of_type(FrameType::RecvPacket).size() == 1);
}

TEST_CASE("hostile: ClientInfo JSON that Tailscale's server refuses", "[server][hostile]") {
  ServerHarness h;  // no mesh key
  const auto key = fresh_key();
  struct Case {
    const char* what;
    std::string json;
    HandshakeFailure failure;
  };
  const std::vector<Case> cases = {
      {"meshKey \"\" on a server without a mesh key", R"({"version":2,"meshKey":"","CanAckPings":true})",
       HandshakeFailure::mesh_key},
      {"meshKey null (Go's key type refuses it like \"\")", R"({"version":2,"meshKey":null,"CanAckPings":true})",
       HandshakeFailure::mesh_key},
      {"meshKey that is not 64 hex digits", R"({"version":2,"meshKey":"abc","CanAckPings":true})",
       HandshakeFailure::mesh_key},
      {"a trailing NUL after the object", std::string(R"({"version":2,"CanAckPings":true})") + std::string(1, '\0'),
       HandshakeFailure::json},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Peer& p = h.open();
    h.write(p, login_bytes(sealed_json(key, h.server().public_key(), c.json)));
    CHECK(p.closed);
    CHECK(p.close_reason == CloseReason::bad_handshake);
    CHECK(p.of_type(FrameType::ServerInfo).empty());
  }
  CHECK(failures(h, HandshakeFailure::mesh_key) == 3);
  CHECK(failures(h, HandshakeFailure::json) == 1);
  // The same client with Go's own JSON is welcome, and an escaped NUL inside a string is fine.
  Peer& ok = h.open();
  h.write(ok, login_bytes(sealed_json(key, h.server().public_key(), R"({"version":2,"CanAckPings":true,"AppName":"a\u0000"})")));
  CHECK(!ok.closed);
  CHECK(ok.of_type(FrameType::ServerInfo).size() == 1);
}

TEST_CASE("hostile: a mesh key in either hex case grants mesh rights, as Go compares decoded keys",
          "[server][hostile][mesh]") {
  auto opts = ServerHarness::default_options();
  opts.mesh_key = "6d6573682d6b65792d666f722d746573742d766563746f72732d303132333435";
  ServerHarness h(opts);
  std::string upper = *opts.mesh_key;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  Peer& m = h.open();
  h.write(m, login_bytes(sealed_json(fresh_key(), h.server().public_key(),
                                     R"({"version":2,"meshKey":")" + upper + R"(","CanAckPings":true})")));
  REQUIRE(!m.closed);
  h.send_frame(m, FrameType::WatchConns, {});
  CHECK(!m.closed);
  CHECK(m.of_type(FrameType::PeerPresent).size() == 1);
}

TEST_CASE("hostile: per-connection log lines are rate-limited, with a summary line", "[server][hostile]") {
  auto opts = ServerHarness::default_options();
  std::vector<std::string> lines;
  opts.log = [&](derp::server::LogLevel, std::string_view line) { lines.emplace_back(line); };
  ServerHarness h(opts);
  for (int i = 0; i < 200; ++i) h.connect();
  std::size_t connected = 0;
  for (const auto& l : lines) connected += l.find(": connected") != std::string::npos ? 1 : 0;
  CHECK(connected == derp::server::Server::kConnectionLogBurst);
  CHECK(lines.size() == derp::server::Server::kConnectionLogBurst);

  // A minute later the next line brings the summary of the flood and says how many lines were left out.
  h.advance(61 * derp::server::kSecond);
  lines.clear();
  h.connect();
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].find("connections in the last 6") == 0);
  CHECK(lines[0].find("200 DERP handshakes") != std::string::npos);
  CHECK(lines[0].find(std::to_string(200 - derp::server::Server::kConnectionLogBurst) + " of their log lines left out") !=
        std::string::npos);
  CHECK(lines[1] == "(" + std::to_string(200 - derp::server::Server::kConnectionLogBurst) +
                        " per-connection log lines left out)");
  CHECK(lines[2].find(": connected") != std::string::npos);
}
