// The sans-IO client core against our server core, in-process with test-controlled time: handshakes on every
// transport, packets, pings, peer events, rate limits and queue bounds.
#include <catch2/catch.hpp>

#include <string>

#include "client/connection.hpp"
#include "crypto/sealed_info.hpp"
#include "frame/header.hpp"
#include "support/client_harness.hpp"

using derp::Bytes;
using derp::kMillisecond;
using derp::kSecond;
using derp::client::ClientConnection;
using derp::client::ClientPhase;
using derp::frame::FrameType;
using namespace derp::test;

namespace {

ByteVec packet_of(std::size_t n, std::uint8_t seed = 0) {
  ByteVec p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(i * 13 + seed);
  return p;
}

}  // namespace

TEST_CASE("client core: the upgrade request is what tailscaled sends", "[client]") {
  RecordingEvents ev;
  auto o = client_options(test_client_private(1));
  o.host = "derp.example.com:8443";
  o.ideal_node = "900a";
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, 0, &c) == DERP_OK);
  CHECK(c->phase() == ClientPhase::Upgrade);
  const ByteVec out = take_output(*c, 0);
  const std::string text(out.begin(), out.end());
  CHECK(text ==
        "GET /derp HTTP/1.1\r\nHost: derp.example.com:8443\r\nUser-Agent: libderp/" DERP_VERSION_STRING
        "\r\nConnection: Upgrade\r\nIdeal-Node: 900a\r\nUpgrade: DERP\r\n\r\n");

  o.fast_start = true;
  o.ideal_node.clear();
  REQUIRE(ClientConnection::create(o, &ev, 0, &c) == DERP_OK);
  const ByteVec fast = take_output(*c, 0);
  CHECK(std::string(fast.begin(), fast.end()).find("\r\nDerp-Fast-Start: 1\r\n") != std::string::npos);
}

TEST_CASE("client core: create refuses bad options", "[client]") {
  RecordingEvents ev;
  std::unique_ptr<ClientConnection> c;
  auto good = client_options(test_client_private(1));
  REQUIRE(ClientConnection::create(good, &ev, 0, &c) == DERP_OK);
  CHECK(ClientConnection::create(good, nullptr, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(c == nullptr);
  CHECK(ClientConnection::create(good, &ev, 0, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  auto o = good;
  o.host.clear();
  CHECK(ClientConnection::create(o, &ev, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  o = good;
  o.host = "evil\r\nX-Injected: 1";
  CHECK(ClientConnection::create(o, &ev, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  o = good;
  o.path = "derp";
  CHECK(ClientConnection::create(o, &ev, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  o = good;
  o.ideal_node = "a b";
  CHECK(ClientConnection::create(o, &ev, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  o = good;
  o.private_key = derp::crypto::NodePrivate();
  CHECK(ClientConnection::create(o, &ev, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  o = good;
  o.info.app_name = std::string(300 * 1024, 'x');  // the sealed ClientInfo would exceed the server's 256 KiB
  CHECK(ClientConnection::create(o, &ev, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(ev.closed == 0);
}

TEST_CASE("client core: handshake over a plain 101 with our server", "[client]") {
  ClientWorld w;
  Link& a = w.dial(1);
  REQUIRE(a.client->phase() == ClientPhase::Running);
  CHECK(a.client->connected());
  CHECK(a.events.connected == 1);
  CHECK(a.events.connected_key == w.server().public_key());
  CHECK(a.client->server_key() == w.server().public_key());
  CHECK(a.client->public_key() == public_of(test_client_private(1)));
  REQUIRE(a.events.server_infos.size() == 1);
  CHECK(a.events.server_infos[0].version == 2);
  CHECK(a.events.server_infos[0].token_bucket_bytes_per_second == 0);
  REQUIRE(a.client->server_info().has_value());
  CHECK(a.client->server_info()->version == 2);
  CHECK(a.events.log == std::vector<std::string>{"connected", "server_info"});
  CHECK(w.server().counters().accepts == 1);
  CHECK(w.server().client_count() == 1);
  CHECK(a.server_conn->client_key() == public_of(test_client_private(1)).bytes());
  // The 101 head arrived in front of the frames.
  CHECK(a.bytes_to_client > kHttp101.size());
  CHECK(a.client->deadline() == w.now() + 120 * kSecond);  // only the idle timer is left
}

TEST_CASE("client core: fast start and WebSocket handshakes with our server", "[client]") {
  ClientWorld w;
  auto plain = w.dial(1).bytes_to_client;
  auto o = client_options(test_client_private(2));
  o.fast_start = true;
  Link& fast = w.dial(o);
  REQUIRE(fast.client->phase() == ClientPhase::Running);
  CHECK(fast.events.server_infos.size() == 1);
  // Same frames, no 101 head in front of them.
  CHECK(fast.bytes_to_client == plain - kHttp101.size());

  o = client_options(test_client_private(3));
  o.websocket = true;
  o.fast_start = true;  // ignored over WebSocket
  Link& ws = w.dial(o);
  REQUIRE(ws.client->phase() == ClientPhase::Running);
  CHECK(ws.server_conn->is_websocket());
  CHECK(ws.events.server_infos.size() == 1);
  CHECK(w.server().counters().websocket_accepts == 1);

  // Packets cross between the WebSocket client and the others, both ways.
  REQUIRE(ws.client->send_packet(fast.client->public_key(), Bytes(packet_of(1500)), w.now()) == DERP_OK);
  REQUIRE(fast.client->send_packet(ws.client->public_key(), Bytes(packet_of(65536, 9)), w.now()) == DERP_OK);
  w.pump();
  REQUIRE(fast.events.packets.size() == 1);
  CHECK(fast.events.packets[0].source == ws.client->public_key());
  CHECK(fast.events.packets[0].payload == packet_of(1500));
  REQUIRE(ws.events.packets.size() == 1);
  CHECK(ws.events.packets[0].payload == packet_of(65536, 9));

  // close() over WebSocket queues a close frame (opcode 0x8, FIN, masked) for the host to write.
  ws.client->close(w.now());
  const ByteVec tail = take_output(*ws.client, w.now());
  REQUIRE(tail.size() >= 2);
  CHECK(tail[0] == 0x88);
  CHECK((tail[1] & 0x80) != 0);
  CHECK(ws.events.close_error == DERP_OK);
}

TEST_CASE("client core: packets both ways, replies sent from inside on_packet", "[client]") {
  ClientWorld w;
  Link& a = w.dial(1);
  Link& b = w.dial(2);
  // B echoes every packet back from inside its handler.
  b.events.on_packet_hook = [&](const RecordingEvents::Packet& p) {
    CHECK(b.client->send_packet(p.source, Bytes(p.payload), w.now()) == DERP_OK);
  };
  std::size_t total = 0;
  for (std::size_t size : {0u, 1u, 100u, 1280u, 65536u}) {
    REQUIRE(a.client->send_packet(b.client->public_key(), Bytes(packet_of(size, 1)), w.now()) == DERP_OK);
    total += size;
  }
  w.pump();
  REQUIRE(b.events.packets.size() == 5);
  REQUIRE(a.events.packets.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(b.events.packets[i].source == a.client->public_key());
    CHECK(a.events.packets[i].source == b.client->public_key());
    CHECK(a.events.packets[i].payload == b.events.packets[i].payload);
  }
  CHECK(b.events.packets[4].payload == packet_of(65536, 1));
  CHECK(a.client->counters().packets_sent == 5);
  CHECK(a.client->counters().bytes_sent == total);
  CHECK(b.client->counters().packets_received == 5);
  CHECK(b.client->counters().bytes_received == total);
  CHECK(a.client->send_packet(b.client->public_key(), Bytes(packet_of(65537)), w.now()) == DERP_ERR_FRAME_TOO_LARGE);
  CHECK(a.client->counters().packets_sent == 5);
}

TEST_CASE("client core: ping gets its pong with the round trip", "[client]") {
  ClientWorld w;
  Link& a = w.dial(1);
  std::uint64_t id1 = 0, id2 = 0;
  REQUIRE(a.client->ping(w.now(), &id1) == DERP_OK);
  w.advance(3 * kMillisecond);  // the pong arrives 3 ms later
  REQUIRE(a.client->ping(w.now(), &id2) == DERP_OK);
  CHECK(id2 != id1);
  w.advance(7 * kMillisecond);
  REQUIRE(a.events.ping_results.size() == 2);
  CHECK(a.events.ping_results[0].id == id1);
  CHECK(a.events.ping_results[0].result == DERP_OK);
  CHECK(a.events.ping_results[0].rtt == 3 * kMillisecond);
  CHECK(a.events.ping_results[1].id == id2);
  CHECK(a.events.ping_results[1].rtt == 7 * kMillisecond);
  CHECK(a.client->counters().pings_sent == 2);
  CHECK(a.client->counters().pongs_matched == 2);
  CHECK(w.server().counters().got_ping == 2);

  // A pong nobody asked for is counted, not reported.
  a.client->receive(Bytes(frame_bytes(FrameType::Pong, {9, 9, 9, 9, 9, 9, 9, 9})), w.now());
  CHECK(a.client->counters().pongs_unmatched == 1);
  CHECK(a.events.ping_results.size() == 2);
  CHECK(a.client->phase() == ClientPhase::Running);
}

TEST_CASE("client core: ping timeout, the outstanding cap, and CLOSED results at close", "[client]") {
  RecordingEvents ev;
  auto o = client_options(test_client_private(1));
  o.ping_timeout = 5 * kSecond;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, 0, &c) == DERP_OK);
  std::uint64_t id = 0;
  CHECK(c->ping(0, &id) == DERP_ERR_NOT_CONNECTED);
  const auto server_pub = public_of(test_server_private());
  REQUIRE(feed(*c, concat({bytes_of_text(kHttp101), server_key_frame(server_pub)}), 0) == DERP_OK);
  REQUIRE(c->connected());
  take_output(*c, 0);

  REQUIRE(c->ping(1 * kSecond, &id) == DERP_OK);
  CHECK(c->deadline() == 6 * kSecond);
  c->tick(6 * kSecond - 1);
  CHECK(ev.ping_results.empty());
  c->tick(6 * kSecond);
  REQUIRE(ev.ping_results.size() == 1);
  CHECK(ev.ping_results[0].id == id);
  CHECK(ev.ping_results[0].result == DERP_ERR_TIMEOUT);
  CHECK(c->phase() == ClientPhase::Running);  // a user ping's timeout is reported, not fatal

  // Keep the connection alive (idle timer) while filling the outstanding pings.
  std::vector<std::uint64_t> ids;
  for (std::size_t i = 0; i < ClientConnection::kMaxOutstandingPings; ++i) {
    REQUIRE(c->ping(7 * kSecond, &id) == DERP_OK);
    ids.push_back(id);
  }
  CHECK(c->ping(7 * kSecond, &id) == DERP_ERR_QUEUE_FULL);
  // A handler that pings or closes again while close() reports must change nothing.
  ev.on_ping_hook = [&](const RecordingEvents::PingResult&) {
    std::uint64_t again = 0;
    CHECK(c->ping(8 * kSecond, &again) == DERP_ERR_CLOSED);
    c->close(8 * kSecond);
  };
  c->close(8 * kSecond);
  REQUIRE(ev.ping_results.size() == 1 + ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CHECK(ev.ping_results[1 + i].id == ids[i]);
    CHECK(ev.ping_results[1 + i].result == DERP_ERR_CLOSED);
  }
  CHECK(ev.closed == 1);
  CHECK(ev.log.back() == "closed");
  CHECK(ev.close_error == DERP_OK);
  c->close(9 * kSecond);
  CHECK(ev.closed == 1);
  CHECK(c->deadline() == derp::kNever);
}

TEST_CASE("client core: PeerGone after the other client leaves", "[client]") {
  ClientWorld w;
  Link& a = w.dial(1);
  Link& b = w.dial(2);
  REQUIRE(a.client->send_packet(b.client->public_key(), Bytes(packet_of(10)), w.now()) == DERP_OK);
  w.pump();
  REQUIRE(b.events.packets.size() == 1);
  a.client->close(w.now());
  w.pump();
  CHECK(a.events.closed == 1);
  CHECK(a.events.close_error == DERP_OK);
  REQUIRE(b.events.gone.size() == 1);
  CHECK(b.events.gone[0].first == a.client->public_key());
  CHECK(b.events.gone[0].second == DERP_PEER_GONE_DISCONNECTED);
  // Sending after close is refused.
  CHECK(a.client->send_packet(b.client->public_key(), Bytes(packet_of(10)), w.now()) == DERP_ERR_CLOSED);
  CHECK(a.client->note_preferred(true) == DERP_ERR_CLOSED);
}

TEST_CASE("client core: mesh watcher sees PeerPresent with endpoint and flags", "[client]") {
  auto so = ClientWorld::default_server_options();
  so.mesh_key = std::string(64, 'b');
  ClientWorld w(so);
  auto o = client_options(test_client_private(1));
  o.info.mesh_key = std::string(64, 'b');
  Link& watcher = w.dial(o);
  REQUIRE(watcher.client->watch_conns() == DERP_OK);
  w.pump();
  Link& other = w.dial(2);
  REQUIRE(other.client->connected());
  REQUIRE(watcher.events.present.size() == 2);  // itself, then the newcomer
  const auto& p = watcher.events.present[1];
  CHECK(p.peer == other.client->public_key());
  CHECK(p.endpoint.family == DERP_AF_INET);
  CHECK(p.endpoint.ip[0] == 127);
  CHECK(p.endpoint.port == 40001);
  CHECK(p.flags == DERP_PEER_PRESENT_REGULAR);
  // ClosePeer from a mesh client closes the other one; the watcher then hears it is gone.
  REQUIRE(watcher.client->close_peer(other.client->public_key()) == DERP_OK);
  w.pump();
  CHECK(other.events.closed == 1);
  CHECK(other.events.close_error == DERP_ERR_PEER_CLOSED);
  REQUIRE(watcher.events.gone.size() == 1);
  CHECK(watcher.events.gone[0].first == other.client->public_key());
}

TEST_CASE("client core: server Ping is answered with the same 8 bytes", "[client]") {
  ClientWorld w;
  Link& a = w.dial(1);
  take_output(*a.client, w.now());
  const ByteVec data = {1, 2, 3, 4, 5, 6, 7, 8, 0xaa, 0xbb};  // longer pings echo their first 8 bytes
  REQUIRE(a.client->receive(Bytes(frame_bytes(FrameType::Ping, data)), w.now()) == DERP_OK);
  const ByteVec out = take_output(*a.client, w.now());
  CHECK(out == frame_bytes(FrameType::Pong, {1, 2, 3, 4, 5, 6, 7, 8}));
  CHECK(a.client->counters().server_pings_answered == 1);
}

TEST_CASE("client core: Health, Restarting and unknown frames", "[client]") {
  ClientWorld w;
  Link& a = w.dial(1);
  const auto now = w.now();
  REQUIRE(a.client->receive(Bytes(frame_bytes(FrameType::Health, bytes_of_text("duplicate key"))), now) == DERP_OK);
  REQUIRE(a.client->receive(Bytes(frame_bytes(FrameType::Health, {})), now) == DERP_OK);
  REQUIRE(a.events.health.size() == 2);
  CHECK(a.events.health[0] == "duplicate key");
  CHECK(a.events.health[1].empty());

  // Restarting(5 s, 10 s) as the reference's worked example spells it, with trailing bytes from the future.
  const ByteVec restarting = {0x00, 0x00, 0x13, 0x88, 0x00, 0x00, 0x27, 0x10, 0xff};
  REQUIRE(a.client->receive(Bytes(frame_bytes(FrameType::Restarting, restarting)), now) == DERP_OK);
  REQUIRE(a.events.restarting.size() == 1);
  CHECK(a.events.restarting[0].first == 5 * kSecond);
  CHECK(a.events.restarting[0].second == 10 * kSecond);

  // A second ServerKey (fast start, §9.2), an unknown type and a client-only type are skipped.
  const ByteVec skipped = concat({server_key_frame(w.server().public_key()), frame_bytes(0x30, {1, 2, 3}),
                                  frame_bytes(FrameType::SendPacket, ByteVec(40, 0))});
  REQUIRE(a.client->receive(Bytes(skipped), now) == DERP_OK);
  CHECK(a.client->counters().unknown_frames == 3);
  CHECK(a.client->phase() == ClientPhase::Running);
}

TEST_CASE("client core: our server's shutdown sends Restarting, then the connection ends", "[client]") {
  ClientWorld w;
  Link& a = w.dial(1);
  w.server().shutdown(2000, 15000, w.now());
  w.pump();
  REQUIRE(a.events.restarting.size() == 1);
  CHECK(a.events.restarting[0].first == 2 * kSecond);
  CHECK(a.events.restarting[0].second == 15 * kSecond);
  CHECK(a.events.closed == 1);
  CHECK(a.events.close_error == DERP_ERR_PEER_CLOSED);
  CHECK(a.events.log.back() == "closed");
}

TEST_CASE("client core: the ServerInfo token bucket drops our excess sends", "[client]") {
  ClientWorld w;
  Link& a = w.dial(1);
  Link& b = w.dial(2);
  derp::crypto::ServerInfo info;
  info.version = 2;
  info.token_bucket_bytes_per_second = 1000;
  info.token_bucket_bytes_burst = 1500;
  const ByteVec frame = server_info_frame(test_server_private(), a.client->public_key(), info);
  REQUIRE(a.client->receive(Bytes(frame), w.now()) == DERP_OK);
  REQUIRE(a.events.server_infos.size() == 2);
  CHECK(a.events.server_infos[1] == info);

  // Each 100-byte packet costs 5 + 32 + 100 = 137 bytes: 10 fit the 1500-byte burst, the 11th does not.
  const ByteVec pkt = packet_of(100);
  for (int i = 0; i < 10; ++i) REQUIRE(a.client->send_packet(b.client->public_key(), Bytes(pkt), w.now()) == DERP_OK);
  CHECK(a.client->send_packet(b.client->public_key(), Bytes(pkt), w.now()) == DERP_ERR_QUEUE_FULL);
  CHECK(a.client->counters().packets_dropped_rate_limit == 1);
  CHECK(a.client->counters().packets_sent == 10);
  // One second refills 1000 bytes: 130 left + 1000 = 1130, so 8 more pass.
  w.advance(1 * kSecond);
  int passed = 0;
  while (a.client->send_packet(b.client->public_key(), Bytes(pkt), w.now()) == DERP_OK) ++passed;
  CHECK(passed == 8);
  CHECK(a.client->counters().packets_dropped_rate_limit == 2);
  w.pump();
  CHECK(b.events.packets.size() == 18);

  // A client told to ignore the bucket does.
  auto o = client_options(test_client_private(3));
  o.honour_server_rate_limit = false;
  Link& c = w.dial(o);
  REQUIRE(c.client->receive(Bytes(server_info_frame(test_server_private(), c.client->public_key(), info)),
                            w.now()) == DERP_OK);
  for (int i = 0; i < 30; ++i) REQUIRE(c.client->send_packet(b.client->public_key(), Bytes(pkt), w.now()) == DERP_OK);
  CHECK(c.client->counters().packets_dropped_rate_limit == 0);
}

TEST_CASE("client core: send before connected, and the pending output cap", "[client]") {
  RecordingEvents ev;
  auto o = client_options(test_client_private(1));
  o.max_pending_output = 4096;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, 0, &c) == DERP_OK);
  const auto dst = public_of(test_client_private(2));
  const ByteVec pkt = packet_of(1000);
  CHECK(c->send_packet(dst, Bytes(pkt), 0) == DERP_ERR_NOT_CONNECTED);
  CHECK(c->note_preferred(true) == DERP_ERR_NOT_CONNECTED);
  CHECK(c->watch_conns() == DERP_ERR_NOT_CONNECTED);
  CHECK(c->close_peer(dst) == DERP_ERR_NOT_CONNECTED);
  REQUIRE(feed(*c, concat({bytes_of_text(kHttp101), server_key_frame(public_of(test_server_private()))}), 0) ==
          DERP_OK);
  REQUIRE(c->connected());
  // The request and ClientInfo are queued whatever the cap; packets only while they fit.
  take_output(*c, 0);
  int sent = 0;
  while (c->send_packet(dst, Bytes(pkt), 0) == DERP_OK) ++sent;
  CHECK(sent == 3);  // 3 × 1037 bytes fit in 4096, a fourth does not
  CHECK(c->counters().packets_dropped_queue_full == 1);
  CHECK(c->pending_output().size() == 3 * 1037);
  CHECK(c->pending_output().size() <= o.max_pending_output);
  // Writing the output makes room again.
  c->output_written(1037, 0);
  CHECK(c->send_packet(dst, Bytes(pkt), 0) == DERP_OK);
  CHECK(c->note_preferred(true) == DERP_OK);  // control frames have a reserve past the cap
}

TEST_CASE("client core: a view handed to the host stays valid while more is queued", "[client]") {
  RecordingEvents ev;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(client_options(test_client_private(1)), &ev, 0, &c) == DERP_OK);
  REQUIRE(feed(*c, concat({bytes_of_text(kHttp101), server_key_frame(public_of(test_server_private()))}), 0) ==
          DERP_OK);
  const ByteVec expected = take_output(*c, 0);  // request + ClientInfo
  CHECK(expected.size() > 100);
  const auto dst = public_of(test_client_private(2));
  REQUIRE(c->send_packet(dst, Bytes(packet_of(100)), 0) == DERP_OK);
  const Bytes in_flight = c->pending_output();  // a write of these bytes is "in flight"
  const ByteVec snapshot(in_flight.begin(), in_flight.end());
  for (int i = 0; i < 200; ++i) REQUIRE(c->send_packet(dst, Bytes(packet_of(1000, 7)), 0) == DERP_OK);
  CHECK(ByteVec(in_flight.begin(), in_flight.end()) == snapshot);  // not moved by the queueing
  c->output_written(in_flight.size(), 0);
  const ByteVec rest = take_output(*c, 0);
  CHECK(rest.size() == 200 * 1037);
  CHECK(ByteVec(rest.begin(), rest.begin() + 5) == ByteVec{0x04, 0x00, 0x00, 0x04, 0x08});
}

TEST_CASE("client core: liveness — keep-alives, keep-alive pings and the idle timeout", "[client]") {
  ClientWorld w;
  auto o = client_options(test_client_private(1));
  o.keepalive_ping_after = 30 * kSecond;
  Link& a = w.dial(o);
  Link& b = w.dial(2);  // default options: idle timeout 120 s, relies on the server's keep-alives
  w.advance(400 * kSecond);
  CHECK(a.client->connected());
  CHECK(b.client->connected());
  CHECK(b.client->counters().keepalives_received >= 5);  // every 60-65 s
  CHECK(a.client->counters().pings_sent >= 1);
  CHECK(a.client->counters().pongs_matched == a.client->counters().pings_sent);
  CHECK(a.events.ping_results.empty());  // our own liveness pings are not the host's

  // A server that goes silent (its output is no longer delivered) is found by the keep-alive ping first...
  auto silent = [&](Link& l) {
    l.server_conn = nullptr;  // the harness stops moving bytes; the server core forgets nothing yet
    l.eof_delivered = true;
  };
  silent(a);
  silent(b);
  w.advance(200 * kSecond);
  CHECK(a.events.close_error == DERP_ERR_TIMEOUT);
  CHECK(a.events.close_detail.find("keep-alive ping") != std::string::npos);
  // ...and by the idle timeout otherwise.
  CHECK(b.events.close_error == DERP_ERR_TIMEOUT);
  CHECK(b.events.close_detail.find("nothing received") != std::string::npos);
}

TEST_CASE("client core: close from inside on_packet stops delivery at once", "[client]") {
  ClientWorld w;
  Link& a = w.dial(1);
  Link& b = w.dial(2);
  b.events.on_packet_hook = [&](const RecordingEvents::Packet&) {
    b.client->close(w.now());
    CHECK(b.client->send_packet(a.client->public_key(), Bytes(packet_of(1)), w.now()) == DERP_ERR_CLOSED);
  };
  for (int i = 0; i < 3; ++i) {
    REQUIRE(a.client->send_packet(b.client->public_key(), Bytes(packet_of(20)), w.now()) == DERP_OK);
  }
  w.pump();
  CHECK(b.events.packets.size() == 1);
  CHECK(b.events.closed == 1);
  CHECK(b.events.close_error == DERP_OK);
  CHECK(b.events.log.back() == "closed");
  CHECK(b.client->receive(Bytes(recv_packet_frame(a.client->public_key(), {1})), w.now()) == DERP_OK);
  CHECK(b.events.packets.size() == 1);
}
