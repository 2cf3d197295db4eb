// The libuv client driver against our UvServer on loopback, both on one loop stepped by the test: handshake and
// server key, packets both ways, ping, peer gone, server info, fast start and WebSocket, IPv4 and IPv6, sends while
// disconnected, and sends from another thread. Every test ends with no libuv handle left (uv_loop_close == 0).
#include <catch2/catch.hpp>

#include <thread>

#include "support/uv_client_test_loop.hpp"

using derp::uv::UvClient;
using derp::uv::UvClientState;
using namespace derp::uvclienttest;

namespace {

enum class Mode { kPlain, kFastStart, kWebSocket };

std::unique_ptr<UvClient> make_client(TestLoop& loop, derp::uv::UvClientOptions options, Recorder* events) {
  std::unique_ptr<UvClient> client;
  std::string detail;
  INFO(detail);
  REQUIRE(UvClient::create(loop.get(), std::move(options), events, &client, &detail) == DERP_OK);
  REQUIRE(client->start() == DERP_OK);
  return client;
}

}  // namespace

TEST_CASE("uv client: two clients relay, ping, server info and peer gone", "[uvclient]") {
  const bool ipv6 = GENERATE(false, true);
  const Mode mode = GENERATE(Mode::kPlain, Mode::kFastStart, Mode::kWebSocket);
  CAPTURE(ipv6, static_cast<int>(mode));
  TestLoop loop;
  auto server = start_server(loop.get(), {ipv6 ? "[::1]:0" : "127.0.0.1:0"});
  REQUIRE(server);
  const std::string url = url_for(server->tcp_addresses().at(0));

  auto options = [&] {
    auto o = client_options(url);
    o.connection.fast_start = mode == Mode::kFastStart;
    o.connection.websocket = mode == Mode::kWebSocket;
    return o;
  };
  Recorder ea;
  Recorder eb;
  auto a = make_client(loop, options(), &ea);
  auto b = make_client(loop, options(), &eb);
  REQUIRE(loop.run_until([&] { return a->connected() && b->connected(); }));
  CHECK(ea.states.front().state == UvClientState::Connecting);
  CHECK(a->server_key() == server->core().public_key());
  CHECK(b->server_key() == server->core().public_key());
  REQUIRE(loop.run_until([&] { return ea.server_infos == 1 && eb.server_infos == 1; }));
  CHECK(a->server_info().has_value());

  // Packets both ways, the largest one included.
  const auto small = payload(1200, 1);
  const auto largest = payload(65536, 2);
  REQUIRE(a->send_packet(b->public_key(), derp::Bytes(small)) == DERP_OK);
  REQUIRE(b->send_packet(a->public_key(), derp::Bytes(largest)) == DERP_OK);
  REQUIRE(loop.run_until([&] { return eb.packets.size() == 1 && ea.packets.size() == 1; }));
  CHECK(eb.packets[0].source == a->public_key());
  CHECK(eb.packets[0].payload == small);
  CHECK(ea.packets[0].source == b->public_key());
  CHECK(ea.packets[0].payload == largest);
  CHECK(a->counters().packets_sent == 1);
  CHECK(b->counters().packets_received == 1);

  // Ping: a result with a round trip.
  int ping_result = 1;
  derp::Nanos rtt = 0;
  REQUIRE(a->ping([&](int result, derp::Nanos t) {
    ping_result = result;
    rtt = t;
  }) == DERP_OK);
  REQUIRE(loop.run_until([&] { return ping_result != 1; }));
  CHECK(ping_result == DERP_OK);
  CHECK(rtt > 0);

  // b goes: a, which sent to b, hears PeerGone.
  b->stop();
  CHECK(b->state() == UvClientState::Stopped);
  CHECK(loop.run_until([&] { return ea.gone.size() == 1; }));
  if (!ea.gone.empty()) CHECK(ea.gone[0] == b->public_key());
  CHECK(b->send_packet(a->public_key(), derp::Bytes(small)) == DERP_ERR_CLOSED);

  a->stop();
  CHECK(stop_server(loop, *server));
  a.reset();
  b.reset();
  server.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv client: reconnects by itself after the server restarts, with the same key", "[uvclient]") {
  TestLoop loop;
  auto server = start_server(loop.get());
  REQUIRE(server);
  const derp_addr addr = server->tcp_addresses().at(0);
  const std::string url = url_for(addr);
  Recorder ea;
  Recorder eb;
  auto a = make_client(loop, client_options(url), &ea);
  auto b = make_client(loop, client_options(url), &eb);
  REQUIRE(loop.run_until([&] { return a->connected() && b->connected(); }));
  // Connected comes once the client has sent ClientInfo; the server sends Restarting only to connections whose
  // ClientInfo it has read (Server::shutdown, Phase::Running), and ServerInfo is its answer to it.
  REQUIRE(loop.run_until([&] { return ea.server_infos == 1 && eb.server_infos == 1; }));
  const auto a_key = a->public_key();

  // Graceful shutdown: Restarting(100 ms, 5 s) to both, then the server is gone for a while.
  server->shutdown(100, 5000);
  REQUIRE(loop.run_until([&] { return server->stopped(); }));
  CHECK(loop.run_until([&] { return ea.saw(UvClientState::Disconnected) && eb.saw(UvClientState::Disconnected); }));
  // The Restarting frame comes before the close, once per client, and the first retry follows its 100 ms (no
  // jitter: retry_in is measured from the disconnect, a few ms after the frame set the dial time).
  CHECK(ea.restarting == 1);
  CHECK(eb.restarting == 1);
  for (const Recorder* events : {&ea, &eb}) {
    const auto* down = events->last(UvClientState::Disconnected);
    REQUIRE(down != nullptr);
    INFO(down->detail);
    CHECK(down->retry_at != derp::kNever);
    CHECK(down->retry_in <= 100 * derp::kMillisecond);
    CHECK(down->retry_in >= 50 * derp::kMillisecond);
  }
  server.reset();

  // Sends while disconnected are dropped and counted, not queued.
  const auto p = payload(100, 3);
  CHECK(a->send_packet(b->public_key(), derp::Bytes(p)) == DERP_ERR_NOT_CONNECTED);
  CHECK(a->counters().packets_dropped_disconnected == 1);

  loop.run_for(150);
  char listen[64];
  std::snprintf(listen, sizeof listen, "127.0.0.1:%u", static_cast<unsigned>(addr.port));
  auto again = start_server(loop.get(), {listen});
  REQUIRE(again);
  REQUIRE(loop.run_until([&] { return ea.connects == 2 && eb.connects == 2; }, 8000));
  // As above: b must be known to the new server (its ServerInfo sent) before a's packet for b can be relayed.
  REQUIRE(loop.run_until([&] { return ea.server_infos == 2 && eb.server_infos == 2; }));
  CHECK(a->public_key() == a_key);
  CHECK(a->server_key() == again->core().public_key());
  REQUIRE(a->send_packet(b->public_key(), derp::Bytes(p)) == DERP_OK);
  REQUIRE(loop.run_until([&] { return eb.packets.size() == 1; }));
  CHECK(eb.packets[0].payload == p);
  CHECK(a->counters().dials >= 2);

  a->stop();
  b->stop();
  CHECK(stop_server(loop, *again));
  a.reset();
  b.reset();
  again.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv client: connection refused is a clear one-shot failure", "[uvclient]") {
  TestLoop loop;
  const std::uint16_t port = unused_port(loop);
  REQUIRE(port != 0);
  auto options = client_options("http://127.0.0.1:" + std::to_string(port) + "/derp");
  options.reconnect = false;
  Recorder events;
  auto c = make_client(loop, std::move(options), &events);
  REQUIRE(loop.run_until([&] { return c->state() == UvClientState::Stopped; }));
  const auto* down = events.last(UvClientState::Disconnected);
  REQUIRE(down != nullptr);
  CHECK(down->error == DERP_ERR_CONNECT);
  CHECK(down->retry_at == derp::kNever);
  CHECK(down->detail.find("refused") != std::string::npos);
  CHECK(events.states.back().state == UvClientState::Stopped);
  c.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv client: with reconnect, failures are retried on the backoff schedule", "[uvclient]") {
  TestLoop loop;
  const std::uint16_t port = unused_port(loop);
  auto options = client_options("http://127.0.0.1:" + std::to_string(port) + "/derp");
  Recorder events;
  auto c = make_client(loop, std::move(options), &events);
  REQUIRE(loop.run_until([&] { return c->counters().failures >= 3; }));
  const auto* down = events.last(UvClientState::Disconnected);
  REQUIRE(down != nullptr);
  CHECK(down->retry_at != derp::kNever);
  CHECK(down->retry_in <= 300 * derp::kMillisecond);  // max 200 ms × jitter < 1.5
  const auto p = payload(10, 1);
  CHECK(c->send_packet(c->public_key(), derp::Bytes(p)) == DERP_ERR_NOT_CONNECTED);
  CHECK(c->counters().packets_dropped_disconnected == 1);
  c->stop();
  c.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv client: thread-safe sends from another thread arrive, the queue is bounded", "[uvclient]") {
  TestLoop loop;
  auto server = start_server(loop.get());
  REQUIRE(server);
  const std::string url = url_for(server->tcp_addresses().at(0));
  Recorder ea;
  Recorder eb;
  auto a = make_client(loop, client_options(url), &ea);
  auto b = make_client(loop, client_options(url), &eb);
  REQUIRE(loop.run_until([&] { return a->connected() && b->connected(); }));
  REQUIRE(loop.run_until([&] { return ea.server_infos == 1 && eb.server_infos == 1; }));  // both registered

  const auto to = b->public_key();
  int queued = 0;
  std::thread sender([&] {
    for (int i = 0; i < 50; ++i) {
      const auto p = payload(100, static_cast<std::uint8_t>(i));
      if (a->send_packet_threadsafe(to, derp::Bytes(p)) == DERP_OK) queued++;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  // The loop keeps running while the thread sends.
  loop.run_until([&] { return eb.packets.size() == 50; }, 5000);
  sender.join();
  CHECK(queued == 50);
  CHECK(loop.run_until([&] { return eb.packets.size() == 50; }));
  for (std::size_t i = 0; i < eb.packets.size(); ++i) {
    CHECK(eb.packets[i].payload == payload(100, static_cast<std::uint8_t>(i)));
  }

  // A full queue drops and counts: nothing drains it while the loop does not run.
  derp::uv::UvClientOptions small = client_options(url);
  small.max_queued_packets = 2;
  Recorder ec;
  auto c = make_client(loop, std::move(small), &ec);
  const auto p = payload(10, 9);
  CHECK(c->send_packet_threadsafe(to, derp::Bytes(p)) == DERP_OK);
  CHECK(c->send_packet_threadsafe(to, derp::Bytes(p)) == DERP_OK);
  CHECK(c->send_packet_threadsafe(to, derp::Bytes(p)) == DERP_ERR_QUEUE_FULL);
  CHECK(c->threadsafe_packets_dropped() == 1);

  // stop from another thread.
  std::thread stopper([&] { a->stop_threadsafe(); });
  stopper.join();
  CHECK(loop.run_until([&] { return a->state() == UvClientState::Stopped; }));
  CHECK(a->send_packet_threadsafe(to, derp::Bytes(p)) == DERP_ERR_CLOSED);
  b->stop();
  c->stop();
  CHECK(stop_server(loop, *server));
  a.reset();
  b.reset();
  c.reset();
  server.reset();
  CHECK(loop.finish() == 0);
}
