// The sans-IO DERP server core, driven in-process with test-controlled time (no sockets).
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "crypto/key_text.hpp"
#include "crypto/sealed_info.hpp"
#include "crypto/server_info.hpp"
#include "derp/frame.h"
#include "frame/decode.hpp"
#include "frame/encode.hpp"
#include "frame/messages.hpp"
#include "support/server_harness.hpp"

using derp::frame::FrameType;
using derp::server::CloseReason;
using derp::server::DropReason;
using derp::server::HandshakeFailure;
using derp::server::kSecond;
using derp::test::Peer;
using derp::test::ServerHarness;
using derp::test::bytes_of;

namespace {

std::vector<std::uint8_t> packet_of(std::size_t n, std::uint8_t seed = 0) {
  std::vector<std::uint8_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(i * 7 + seed);
  return p;
}

// A packet the server classifies as disco: "TS💬" magic and at least 62 bytes (reference §8).
std::vector<std::uint8_t> disco_packet() {
  std::vector<std::uint8_t> p(80, 0x11);
  const std::uint8_t magic[6] = {0x54, 0x53, 0xF0, 0x9F, 0x92, 0xAC};
  std::memcpy(p.data(), magic, 6);
  return p;
}

std::uint64_t dropped(ServerHarness& h, DropReason r, int kind) {
  return h.server().counters().packets_dropped[static_cast<std::size_t>(r)][static_cast<std::size_t>(kind)];
}

std::vector<std::uint8_t> recv_payload(const Peer& from, const std::vector<std::uint8_t>& packet) {
  std::vector<std::uint8_t> p(from.pub.bytes().begin(), from.pub.bytes().end());
  p.insert(p.end(), packet.begin(), packet.end());
  return p;
}

}  // namespace

TEST_CASE("server core: upgrade, ServerKey, ClientInfo, ServerInfo", "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  const std::string expected_101 =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nDerp-Version: 2\r\n"
      "Derp-Public-Key: 07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c\r\n\r\n";
  CHECK(a.http_head == expected_101);
  REQUIRE(a.frames.size() == 2);
  CHECK(a.frames[0].type == DERP_FRAME_SERVER_KEY);
  derp::frame::ServerKeyFrame sk;
  REQUIRE(derp::frame::decode(derp::Bytes(a.frames[0].payload), &sk) == DERP_OK);
  CHECK(sk.key == h.server().public_key().bytes());
  CHECK(a.frames[1].type == DERP_FRAME_SERVER_INFO);
  derp::crypto::ServerInfo info;
  REQUIRE(derp::crypto::open_server_info(a.priv, h.server().public_key(), derp::Bytes(a.frames[1].payload), &info) ==
          DERP_OK);
  CHECK(info.version == 2);
  CHECK(h.server().counters().accepts == 1);
  CHECK(h.server().client_count() == 1);
  CHECK(a.conn->phase() == derp::server::Phase::Running);
}

TEST_CASE("server core: fast start gets no 101, the ServerKey frame comes first", "[server]") {
  ServerHarness h;
  Peer& a = h.connect(nullptr, /*fast_start=*/true);
  CHECK(a.http_head.empty());
  REQUIRE(a.frames.size() == 2);
  CHECK(a.frames[0].type == DERP_FRAME_SERVER_KEY);
  CHECK(a.frames[1].type == DERP_FRAME_SERVER_INFO);
}

TEST_CASE("server core: packets both ways carry the sender's key", "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  Peer& b = h.connect();
  for (std::size_t size : {0u, 1u, 100u, 1280u, 65536u}) {
    const auto pkt = packet_of(size);
    h.send_packet(a, b.key(), pkt);
    const auto got = b.of_type(FrameType::RecvPacket);
    REQUIRE(!got.empty());
    CHECK(got.back().payload == recv_payload(a, pkt));
  }
  h.send_packet(b, a.key(), bytes_of("reply from B to A"));
  const auto got = a.of_type(FrameType::RecvPacket);
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == recv_payload(b, derp::test::bytes_of("reply from B to A")));
  CHECK(h.server().counters().packets_received == 6);
  CHECK(h.server().counters().packets_sent == 6);
}

TEST_CASE("server core: an oversized SendPacket closes that connection only", "[server][badinput]") {
  ServerHarness h;
  Peer& a = h.connect();
  Peer& b = h.connect();
  Peer& c = h.connect();
  h.send_packet(a, b.key(), packet_of(65537));
  CHECK(a.closed);
  CHECK(a.close_reason == CloseReason::protocol_error);
  h.send_packet(c, b.key(), bytes_of("still here"));
  CHECK(b.of_type(FrameType::RecvPacket).size() == 1);
}

TEST_CASE("server core: unknown destination — silent for data, PeerGone(NotHere) for disco, rate limited",
          "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  derp::frame::Key nobody{};
  nobody[0] = 0x24;
  h.send_packet(a, nobody, bytes_of("to nobody"));
  CHECK(a.of_type(FrameType::PeerGone).empty());
  CHECK(dropped(h, DropReason::unknown_dest, 1) == 1);
  for (int i = 0; i < 5; ++i) h.send_packet(a, nobody, disco_packet());
  auto gone = a.of_type(FrameType::PeerGone);
  REQUIRE(gone.size() == 3);  // burst of 3
  CHECK(gone[0].payload.size() == 33);
  CHECK(std::equal(nobody.begin(), nobody.end(), gone[0].payload.begin()));
  CHECK(gone[0].payload[32] == DERP_PEER_GONE_NOT_HERE);
  h.advance(1 * kSecond);
  h.send_packet(a, nobody, disco_packet());
  CHECK(a.of_type(FrameType::PeerGone).size() == 4);  // refilled one token per second
  CHECK(dropped(h, DropReason::unknown_dest, 0) == 6);
}

TEST_CASE("server core: ping gets a pong echoing the first 8 bytes", "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  h.send_frame(a, FrameType::Ping, {1, 2, 3, 4, 5, 6, 7, 8});
  auto pongs = a.of_type(FrameType::Pong);
  REQUIRE(pongs.size() == 1);
  CHECK(pongs[0].payload == std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6, 7, 8});
  // Longer pings (up to 1000 bytes) are fine; the pong carries the first 8.
  auto long_ping = packet_of(1000, 3);
  h.send_frame(a, FrameType::Ping, long_ping);
  pongs = a.of_type(FrameType::Pong);
  REQUIRE(pongs.size() == 2);
  CHECK(pongs[1].payload == std::vector<std::uint8_t>(long_ping.begin(), long_ping.begin() + 8));
  // Shorter than 8 or longer than 1000: protocol error.
  h.send_frame(a, FrameType::Ping, {1, 2, 3});
  CHECK(a.closed);
}

TEST_CASE("server core: one pong slot while the receiver is not reading", "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  a.paused = true;
  for (std::uint8_t i = 0; i < 5; ++i) h.send_frame(a, FrameType::Ping, {i, i, i, i, i, i, i, i});
  a.paused = false;
  h.pump();
  CHECK(a.of_type(FrameType::Pong).size() == 1);
  CHECK(h.server().counters().got_ping == 5);
}

TEST_CASE("server core: keep-alives on the interval", "[server]") {
  auto opts = ServerHarness::default_options();
  opts.keepalive_interval = 2 * kSecond;
  opts.keepalive_jitter = 0;
  ServerHarness h(opts);
  Peer& a = h.connect();
  h.advance(1 * kSecond);
  CHECK(a.of_type(FrameType::KeepAlive).empty());
  h.advance(1 * kSecond);
  CHECK(a.of_type(FrameType::KeepAlive).size() == 1);
  h.advance(4 * kSecond);
  CHECK(a.of_type(FrameType::KeepAlive).size() == 3);
  CHECK(a.of_type(FrameType::KeepAlive)[0].payload.empty());
}

TEST_CASE("server core: a newer connection with the same key takes over, the last writer wins", "[server]") {
  ServerHarness h;
  Peer& b = h.connect();
  Peer& a1 = h.connect();
  Peer& a2 = h.connect(&a1.priv);
  CHECK(h.server().counters().current_dup_client_keys == 1);
  h.send_packet(b, a1.key(), bytes_of("one"));
  CHECK(a1.of_type(FrameType::RecvPacket).empty());
  CHECK(a2.of_type(FrameType::RecvPacket).size() == 1);
  // The old connection speaks: it is active again.
  h.send_frame(a1, FrameType::NotePreferred, {1});
  h.send_packet(b, a1.key(), bytes_of("two"));
  CHECK(a1.of_type(FrameType::RecvPacket).size() == 1);
  CHECK(a2.of_type(FrameType::RecvPacket).size() == 1);
  // When the active one leaves, the other takes the traffic; no PeerGone while the key is still here.
  h.write(a1, std::string("\xff\xff\xff\xff\xff\xff", 6));  // garbage: a1 is closed
  CHECK(a1.closed);
  h.send_packet(b, a2.key(), bytes_of("three"));
  CHECK(a2.of_type(FrameType::RecvPacket).size() == 2);
  CHECK(h.server().counters().current_dup_client_keys == 0);
}

TEST_CASE("server core: PeerGone(disconnected) to those the leaver sent to", "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  Peer& b = h.connect();
  Peer& c = h.connect();
  h.send_packet(a, b.key(), bytes_of("hi b"));
  h.server().remove(a.conn, h.now());
  a.conn = nullptr;
  a.closed = true;
  h.pump();
  const auto gone = b.of_type(FrameType::PeerGone);
  REQUIRE(gone.size() == 1);
  CHECK(std::equal(a.key().begin(), a.key().end(), gone[0].payload.begin()));
  CHECK(gone[0].payload[32] == DERP_PEER_GONE_DISCONNECTED);
  CHECK(c.of_type(FrameType::PeerGone).empty());  // a never sent to c
}

TEST_CASE("server core: the admission hook refuses a key", "[server]") {
  auto opts = ServerHarness::default_options();
  derp::crypto::NodePrivate banned;
  derp::crypto::generate_private(&banned);
  derp::crypto::NodePublic banned_pub;
  derp::crypto::public_of(banned, &banned_pub);
  opts.admit = [banned_pub](const derp::crypto::NodePublic& k, const derp_addr&) { return !(k == banned_pub); };
  ServerHarness h(opts);
  Peer& ok = h.connect();
  Peer& bad = h.connect(&banned);
  CHECK(!ok.closed);
  CHECK(bad.closed);
  CHECK(bad.close_reason == CloseReason::denied);
  CHECK(bad.of_type(FrameType::ServerInfo).empty());
  CHECK(h.server().counters().handshake_failures[static_cast<std::size_t>(HandshakeFailure::denied)] == 1);
}

TEST_CASE("server core: a slow receiver drops its oldest packets, counted, while others go on", "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  Peer& slow = h.connect();
  Peer& fast = h.connect();
  slow.paused = true;
  for (int i = 0; i < 100; ++i) {
    h.send_packet(a, slow.key(), packet_of(200, static_cast<std::uint8_t>(i)));
    h.send_packet(a, fast.key(), packet_of(200, static_cast<std::uint8_t>(i)));
  }
  CHECK(fast.of_type(FrameType::RecvPacket).size() == 100);
  // 32 queued; the rest dropped from the head. The first packet may already have been handed out for writing.
  CHECK(dropped(h, DropReason::queue_head, 1) >= 67);
  CHECK(dropped(h, DropReason::queue_head, 1) <= 68);
  slow.paused = false;
  h.pump();
  const auto got = slow.of_type(FrameType::RecvPacket);
  CHECK(got.size() + dropped(h, DropReason::queue_head, 1) == 100);
  // The newest survive: the last packet delivered is the last one sent.
  CHECK(got.back().payload == recv_payload(a, packet_of(200, 99)));
}

TEST_CASE("server core: the per-connection byte bound holds with large packets", "[server]") {
  auto opts = ServerHarness::default_options();
  opts.queue_bytes = 256 * 1024;
  ServerHarness h(opts);
  Peer& a = h.connect();
  Peer& slow = h.connect();
  slow.paused = true;
  for (int i = 0; i < 20; ++i) h.send_packet(a, slow.key(), packet_of(65536));
  CHECK(slow.conn->output_size() <= 256 * 1024 + 65536 + 37);
  CHECK(dropped(h, DropReason::queue_bytes, 1) >= 16);
}

TEST_CASE("server core: a receiver that stops reading is closed after the write timeout", "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  Peer& stuck = h.connect();
  Peer& ok = h.connect();
  stuck.paused = true;
  h.send_packet(a, stuck.key(), bytes_of("never read"));
  h.advance(1 * kSecond);
  h.send_packet(a, ok.key(), bytes_of("fine"));
  CHECK(!stuck.closed);
  h.advance(2 * kSecond);
  CHECK(stuck.closed);
  CHECK(stuck.close_reason == CloseReason::write_timeout);
  CHECK(!ok.closed);
  CHECK(h.server().counters().sclient_write_timeouts == 1);
  CHECK(dropped(h, DropReason::gone_disconnected, 1) == 1);
}

TEST_CASE("server core: handshake deadline closes a silent client", "[server][badinput]") {
  ServerHarness h;
  Peer& silent = h.open();
  Peer& half = h.open();
  h.write(half, derp::test::upgrade_request(false));  // upgrades, never sends ClientInfo
  Peer& ok = h.connect();
  h.advance(9 * kSecond);
  CHECK(!silent.closed);
  h.advance(2 * kSecond);
  CHECK(silent.closed);
  CHECK(half.closed);
  CHECK(half.close_reason == CloseReason::handshake_timeout);
  CHECK(!ok.closed);
}

TEST_CASE("server core: bad handshakes close with a reason", "[server][badinput]") {
  ServerHarness h;
  SECTION("first frame is not ClientInfo") {
    Peer& p = h.open();
    h.write(p, derp::test::upgrade_request(false));
    h.send_frame(p, FrameType::SendPacket, std::vector<std::uint8_t>(40, 0));
    CHECK(p.closed);
    CHECK(p.close_reason == CloseReason::bad_handshake);
  }
  SECTION("ClientInfo box sealed to another server key") {
    derp::crypto::NodePrivate client, other_server;
    derp::crypto::generate_private(&client);
    derp::crypto::generate_private(&other_server);
    derp::crypto::NodePublic other_pub;
    derp::crypto::public_of(other_server, &other_pub);
    std::vector<std::uint8_t> payload;
    REQUIRE(derp::crypto::seal_client_info(client, other_pub, derp::crypto::ClientInfo{}, &payload) == DERP_OK);
    Peer& p = h.open();
    h.write(p, derp::test::upgrade_request(false));
    h.send_frame(p, FrameType::ClientInfo, payload);
    CHECK(p.closed);
    CHECK(p.close_reason == CloseReason::bad_handshake);
    CHECK(h.server().counters().handshake_failures[static_cast<std::size_t>(HandshakeFailure::box)] == 1);
  }
  SECTION("garbage after the upgrade") {
    Peer& p = h.open();
    h.write(p, derp::test::upgrade_request(false) + std::string("\x02\xff\xff\xff\xff garbage", 14));
    CHECK(p.closed);
    CHECK(p.close_reason == CloseReason::protocol_error);
  }
  SECTION("truncated ClientInfo, then silence") {
    Peer& p = h.open();
    h.write(p, derp::test::upgrade_request(false) + std::string("\x02\x00\x00\x00\x68\x01\x02", 7));
    CHECK(!p.closed);
    h.advance(11 * kSecond);
    CHECK(p.closed);
    CHECK(p.close_reason == CloseReason::handshake_timeout);
  }
  SECTION("oversized HTTP head") {
    Peer& p = h.open();
    h.write(p, "GET /derp HTTP/1.1\r\nX-Filler: " + std::string(9000, 'a'));
    CHECK(p.closed);
    CHECK(p.http_head.rfind("HTTP/1.1 431", 0) == 0);
  }
  Peer& ok = h.connect();
  CHECK(!ok.closed);
}

TEST_CASE("server core: plain HTTP endpoints", "[server][http]") {
  ServerHarness h;
  std::string r = h.http_get("GET /generate_204 HTTP/1.1\r\nX-Tailscale-Challenge: ts_derp.test\r\n\r\n");
  CHECK(r.rfind("HTTP/1.1 204 No Content\r\n", 0) == 0);
  CHECK(r.find("X-Tailscale-Response: response ts_derp.test\r\n") != std::string::npos);
  CHECK(r.find("Cache-Control: no-cache, no-store, must-revalidate, no-transform, max-age=0\r\n") != std::string::npos);
  r = h.http_get("GET /generate_204 HTTP/1.1\r\nX-Tailscale-Challenge: bad challenge!\r\n\r\n");
  CHECK(r.find("X-Tailscale-Response") == std::string::npos);

  for (const char* probe : {"/derp/probe", "/derp/latency-check"}) {
    r = h.http_get(std::string("HEAD ") + probe + " HTTP/1.1\r\n\r\n");
    CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(r.find("Access-Control-Allow-Origin: *\r\n") != std::string::npos);
    r = h.http_get(std::string("POST ") + probe + " HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    CHECK(r.rfind("HTTP/1.1 405", 0) == 0);
    CHECK(r.find("bogus probe method") != std::string::npos);
  }
  r = h.http_get("GET /robots.txt HTTP/1.1\r\n\r\n");
  CHECK(r.find("\r\n\r\nUser-agent: *\nDisallow: /\n") != std::string::npos);
  r = h.http_get("GET / HTTP/1.1\r\n\r\n");
  CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(r.find("<h1>DERP</h1>") != std::string::npos);
  r = h.http_get("GET /derp HTTP/1.1\r\n\r\n");
  CHECK(r.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0) == 0);
  CHECK(r.find("\r\n\r\nDERP requires connection upgrade\n") != std::string::npos);
  r = h.http_get("GET /nothing-here HTTP/1.1\r\n\r\n");
  CHECK(r.rfind("HTTP/1.1 404", 0) == 0);
  r = h.http_get("BREW /coffee HTTP/1.1\r\n\r\n");
  CHECK(r.rfind("HTTP/1.1 405", 0) == 0);
  r = h.http_get("NOT HTTP AT ALL\r\n\r\n");
  CHECK(r.rfind("HTTP/1.1 400", 0) == 0);

  r = h.http_get("GET /debug/varz HTTP/1.1\r\n\r\n", "127.0.0.1:5555");
  CHECK(r.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(r.find("derp_http_requests ") != std::string::npos);
  CHECK(r.find("derp_packets_dropped{reason=\"queue_head\",kind=\"other\"} 0") != std::string::npos);
  r = h.http_get("GET /metrics HTTP/1.1\r\n\r\n", "192.0.2.7:5555");
  CHECK(r.rfind("HTTP/1.1 403", 0) == 0);
}

TEST_CASE("server core: plain answers keep the connection for the next request", "[server][http]") {
  ServerHarness h;
  Peer& p = h.open();
  h.write(p, "GET /derp/probe HTTP/1.1\r\n\r\nGET /generate_204 HTTP/1.1\r\n\r\n");
  CHECK(!p.closed);
  CHECK(p.http_body.find("HTTP/1.1 204") != std::string::npos);
  h.write(p, "GET /robots.txt HTTP/1.1\r\nConnection: close\r\n\r\n");
  CHECK(p.closed);
}

TEST_CASE("server core: -derp=false keeps probes but refuses /derp", "[server][http]") {
  auto opts = ServerHarness::default_options();
  opts.serve_derp = false;
  ServerHarness h(opts);
  CHECK(h.http_get("GET /derp HTTP/1.1\r\nUpgrade: DERP\r\n\r\n").rfind("HTTP/1.1 404", 0) == 0);
  CHECK(h.http_get("GET /derp/probe HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("server core: mesh frames need the mesh key", "[server][mesh]") {
  auto opts = ServerHarness::default_options();
  opts.mesh_key = "6d6573682d6b65792d666f722d746573742d766563746f72732d303132333435";
  ServerHarness h(opts);
  Peer& a = h.connect();
  Peer& b = h.connect();
  Peer& intruder = h.connect();
  h.send_frame(intruder, FrameType::WatchConns, {});
  CHECK(intruder.closed);
  CHECK(intruder.close_reason == CloseReason::protocol_error);

  derp::crypto::ClientInfo mesh_info;
  mesh_info.version = 2;
  mesh_info.mesh_key = *opts.mesh_key;
  Peer& m = h.connect(nullptr, false, &mesh_info);
  h.send_frame(m, FrameType::WatchConns, {});
  auto present = m.of_type(FrameType::PeerPresent);
  REQUIRE(present.size() == 3);  // a, b and m itself
  for (const auto& f : present) CHECK(f.payload.size() == DERP_PEER_PRESENT_LEN);

  // ForwardPacket from a mesh peer is delivered with the given source key.
  derp::frame::Key x{};
  x[0] = 0xad;
  const std::string text = "forwarded via mesh";
  std::vector<std::uint8_t> fwd(64 + text.size());
  std::memcpy(fwd.data(), x.data(), 32);
  std::memcpy(fwd.data() + 32, b.key().data(), 32);
  std::memcpy(fwd.data() + 64, text.data(), text.size());
  h.send_frame(m, FrameType::ForwardPacket, fwd);
  auto got = b.of_type(FrameType::RecvPacket);
  REQUIRE(got.size() == 1);
  CHECK(std::equal(x.begin(), x.end(), got[0].payload.begin()));

  // ClosePeer closes every connection of the key, and the watcher hears PeerGone.
  h.send_frame(m, FrameType::ClosePeer, std::vector<std::uint8_t>(a.key().begin(), a.key().end()));
  CHECK(a.closed);
  CHECK(a.close_reason == CloseReason::closed_by_mesh);
  auto gone = m.of_type(FrameType::PeerGone);
  REQUIRE(!gone.empty());
  CHECK(std::equal(a.key().begin(), a.key().end(), gone.back().payload.begin()));
  // A new client is announced to the watcher.
  h.connect();
  CHECK(m.of_type(FrameType::PeerPresent).size() == 4);
}

TEST_CASE("server core: shutdown sends Restarting and closes", "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  Peer& b = h.connect();
  h.server().shutdown(1000, 10000, h.now());
  h.pump();
  for (Peer* p : {&a, &b}) {
    const auto r = p->of_type(FrameType::Restarting);
    REQUIRE(r.size() == 1);
    CHECK(r[0].payload == std::vector<std::uint8_t>{0, 0, 0x03, 0xe8, 0, 0, 0x27, 0x10});
    CHECK(p->closed);
  }
  Peer& late = h.open();
  CHECK(late.closed);
  CHECK(late.http_head.rfind("HTTP/1.1 503", 0) == 0);
}

TEST_CASE("server core: idle connections hold no output or read memory", "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  Peer& b = h.connect();
  h.send_packet(a, b.key(), packet_of(65536));
  CHECK(a.conn->output_size() == 0);
  CHECK(b.conn->output_size() == 0);
  CHECK(h.server().pool().buffers_outstanding() == 0);
  CHECK(h.server().counters().queued_bytes == 0);
}

TEST_CASE("server core: a closing connection whose last output never drains ends at the write timeout",
          "[server]") {
  ServerHarness h;
  Peer& p = h.open();
  p.paused = true;
  h.write(p, "GET /nowhere HTTP/1.1\r\n\r\n");  // 404, then close after flushing
  REQUIRE(p.conn->phase() == derp::server::Phase::Closing);
  const auto before = p.conn->deadline();
  CHECK(before != derp::server::kNever);
  h.advance(3 * kSecond);
  CHECK(p.closed);
  CHECK(p.close_reason == CloseReason::http_refused);
}

TEST_CASE("server core: the host can add its own lines to the metrics page", "[server][http]") {
  auto opts = ServerHarness::default_options();
  opts.extra_metrics = [](std::string& out) { out += "host_accepts_rejected 7\n"; };
  ServerHarness h(opts);
  CHECK(h.http_get("GET /metrics HTTP/1.1\r\n\r\n").find("host_accepts_rejected 7\n") != std::string::npos);
}

TEST_CASE("server core: receive_some stops when a receiver's queue is half full, and fed so a big read loses nothing",
          "[server]") {
  ServerHarness h;
  Peer& a = h.connect();
  Peer& b = h.connect();
  // 60 frames for one receiver in one read (a 64 KiB read holds that many 1 KB packets); the queue holds 32.
  std::vector<std::uint8_t> read;
  std::vector<std::size_t> frame_ends;
  for (int i = 0; i < 60; ++i) {
    derp::frame::SendPacketFrame f;
    f.dst = b.key();
    const auto pkt = packet_of(1000, static_cast<std::uint8_t>(i));
    f.packet = derp::Bytes(pkt);
    std::vector<std::uint8_t> one(5 + 32 + pkt.size());
    std::size_t written = 0;
    REQUIRE(derp::frame::encode(f, derp::MutableBytes(one), &written) == DERP_OK);
    read.insert(read.end(), one.begin(), one.begin() + static_cast<std::ptrdiff_t>(written));
    frame_ends.push_back(read.size());
  }
  derp::Bytes in(read);
  std::vector<std::size_t> stops;
  while (!in.empty()) {
    std::size_t used = 0;
    REQUIRE(a.conn->receive_some(in, h.now(), &used) == DERP_OK);
    REQUIRE(used > 0);
    in = in.subspan(used);
    stops.push_back(read.size() - in.size());
    h.pump();  // the host writes out what is ready, as UvConnection does between calls
  }
  // Every stop is at a frame boundary, after 16 packets (half of the 32-packet queue) were routed.
  REQUIRE(stops.size() == 4);
  CHECK(stops[0] == frame_ends[15]);
  CHECK(stops[1] == frame_ends[31]);
  CHECK(stops[2] == frame_ends[47]);
  CHECK(stops[3] == read.size());
  const auto got = b.of_type(FrameType::RecvPacket);
  REQUIRE(got.size() == 60);
  for (int i = 0; i < 60; ++i) CHECK(got[i].payload == recv_payload(a, packet_of(1000, static_cast<std::uint8_t>(i))));
  CHECK(dropped(h, DropReason::queue_head, 1) == 0);

  // receive() takes the whole read: the receiver's queue overflows although it would take everything.
  a.conn->receive(derp::Bytes(read), h.now());
  h.pump();
  CHECK(b.of_type(FrameType::RecvPacket).size() == 60 + 32);
  CHECK(dropped(h, DropReason::queue_head, 1) == 28);
}
