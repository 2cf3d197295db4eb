// The libuv driver over real loopback sockets: DERP handshakes and packet relay (plain and TLS), graceful
// shutdown, and the handshake timeout.
#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <thread>

#include "frame/decode.hpp"
#include "frame/messages.hpp"
#include "test_uv_support.hpp"
#include "tls/client_config.hpp"
#include "tls/server_config.hpp"

using derp::frame::FrameType;
using derp::uv::UvServer;
using namespace derp::uvtest;

namespace {

std::vector<std::uint8_t> recv_payload(const derp::crypto::NodePublic& from, const std::vector<std::uint8_t>& packet) {
  std::vector<std::uint8_t> p(from.bytes().begin(), from.bytes().end());
  p.insert(p.end(), packet.begin(), packet.end());
  return p;
}

// What one relay run found, written by the client thread and checked by the test thread.
struct RelayResult {
  bool handshakes = false;
  std::string error;
  bool server_key_matches = false;
  bool a_to_b = false;
  bool b_to_a_largest = false;
  int burst_received = 0;
};

// Two clients on `open()` streams: handshake, one packet each way (the second of the largest size), then a burst.
template <class OpenStream>
void relay_two_clients(OpenStream open, const derp::crypto::NodePublic& server_key, RelayResult* r) {
  auto sa = open();
  auto sb = open();
  DerpClient a(*sa);
  DerpClient b(*sb);
  r->handshakes = a.handshake() && b.handshake();
  if (!r->handshakes) {
    r->error = a.error() + " / " + b.error();
    return;
  }
  r->server_key_matches = a.server_key() == server_key && b.server_key() == server_key;
  const auto p1 = test_packet(1200, 1);
  Frame f;
  r->a_to_b = a.send_packet(b.public_key(), p1) && b.wait_frame(FrameType::RecvPacket, &f) &&
              f.payload == recv_payload(a.public_key(), p1);
  const auto p2 = test_packet(65536, 2);
  r->b_to_a_largest = b.send_packet(a.public_key(), p2) && a.wait_frame(FrameType::RecvPacket, &f) &&
                      f.payload == recv_payload(b.public_key(), p2);
  // A burst: 100 packets sent back to back all arrive, in order (the receiver keeps reading, so no queue drops).
  for (int i = 0; i < 100; ++i) {
    if (!a.send_packet(b.public_key(), test_packet(1000, static_cast<std::uint8_t>(i)))) return;
  }
  for (int i = 0; i < 100; ++i) {
    if (!b.wait_frame(FrameType::RecvPacket, &f)) break;
    if (f.payload != recv_payload(a.public_key(), test_packet(1000, static_cast<std::uint8_t>(i)))) break;
    r->burst_received++;
  }
}

}  // namespace

TEST_CASE("uv: two clients handshake and relay packets both ways over TCP", "[uv]") {
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, loopback_options(), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);
  CHECK(addr.port != 0);
  const auto server_key = server->core().public_key();

  RelayResult r;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    relay_two_clients([&] { return std::make_unique<PlainStream>(addr); }, server_key, &r);
  });
  CHECK(finished);
  INFO(r.error);
  CHECK(r.handshakes);
  CHECK(r.server_key_matches);
  CHECK(r.a_to_b);
  CHECK(r.b_to_a_largest);
  CHECK(r.burst_received == 100);
  CHECK(server->stopped());
  CHECK(server->counters().accepts == 2);
  CHECK(server->counters().packets_received == 102);
  CHECK(server->counters().packets_sent == 102);
  CHECK(server->counters().current_connections == 0);
  CHECK(server->core().pool().buffers_outstanding() == 0);
}

TEST_CASE("uv: TLS with a self-signed certificate and a pinned client handshakes and relays", "[uv]") {
  std::unique_ptr<derp::tls::ServerConfig> tls_config;
  std::string detail;
  REQUIRE(derp::tls::ServerConfig::self_signed("127.0.0.1", static_cast<std::int64_t>(std::time(nullptr)),
                                               &tls_config, &detail) == DERP_OK);
  derp::tls::ClientOptions client_options;
  client_options.ca_bundle_path = "";
  std::unique_ptr<derp::tls::ClientConfig> client_config;
  REQUIRE(derp::tls::ClientConfig::create(client_options, &client_config, &detail) == DERP_OK);
  const std::string pin = tls_config->cert_name();
  const std::string wrong_pin = "sha256-raw:" + std::string(64, '0');

  auto options = loopback_options();
  options.tls = tls_config.get();
  std::unique_ptr<UvServer> server;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);
  const auto server_key = server->core().public_key();

  RelayResult r;
  bool wrong_pin_refused = false;
  std::string generate_204;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    {
      TlsStream bad(addr, *client_config, wrong_pin);
      wrong_pin_refused = !bad.ok();
    }
    relay_two_clients(
        [&] {
          auto s = std::make_unique<TlsStream>(addr, *client_config, pin);
          if (!s->ok()) r.error = "TLS: " + s->error();
          return s;
        },
        server_key, &r);
    TlsStream http(addr, *client_config, pin);
    if (http.ok() && http.write_all(text_bytes("GET /generate_204 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                               "X-Tailscale-Challenge: ts_tls\r\nConnection: close\r\n\r\n"))) {
      http.read_to_end(&generate_204);
    }
  });
  CHECK(finished);
  CHECK(wrong_pin_refused);
  INFO(r.error);
  CHECK(r.handshakes);
  CHECK(r.server_key_matches);
  CHECK(r.a_to_b);
  CHECK(r.b_to_a_largest);
  CHECK(r.burst_received == 100);
  CHECK(generate_204.rfind("HTTP/1.1 204 ", 0) == 0);
  CHECK(generate_204.find("X-Tailscale-Response: response ts_tls\r\n") != std::string::npos);
  CHECK(server->stopped());
  CHECK(server->counters().current_connections == 0);
}

TEST_CASE("uv: graceful shutdown sends Restarting, drains and stops the server", "[uv]") {
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, loopback_options(), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  bool handshakes = false;
  int restarting_frames = 0;
  std::uint32_t reconnect_in = 0;
  std::uint32_t try_for = 0;
  int closed = 0;
  bool stopped = false;
  bool new_connection_refused = false;
  bool on_stopped_ran = false;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner& loop) {
    PlainStream sa(addr);
    PlainStream sb(addr);
    DerpClient a(sa);
    DerpClient b(sb);
    handshakes = a.handshake() && b.handshake();
    if (!handshakes) return;
    loop.post([&] { server->shutdown(1234, 56789, [&] { on_stopped_ran = true; }); });
    for (DerpClient* c : {&a, &b}) {
      Frame f;
      derp::frame::RestartingFrame msg;
      if (c->wait_frame(FrameType::Restarting, &f) && derp::frame::decode(derp::Bytes(f.payload), &msg) == DERP_OK) {
        restarting_frames++;
        reconnect_in = msg.reconnect_in_ms;
        try_for = msg.try_for_ms;
      }
      if (c->wait_closed()) closed++;
    }
    // The server stops by itself once its connections are gone (no grace timeout needed).
    for (int i = 0; i < 200 && !stopped; ++i) {
      loop.call([&] { stopped = server->stopped(); });
      if (!stopped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    PlainStream late(addr);
    new_connection_refused = late.fd() < 0;
  });
  CHECK(finished);
  CHECK(handshakes);
  CHECK(restarting_frames == 2);
  CHECK(reconnect_in == 1234);
  CHECK(try_for == 56789);
  CHECK(closed == 2);
  CHECK(stopped);
  CHECK(on_stopped_ran);
  CHECK(new_connection_refused);
}

TEST_CASE("uv: a client that sends nothing is closed at the handshake timeout, others keep working", "[uv]") {
  auto options = loopback_options();
  options.core.handshake_timeout = 300 * derp::server::kMillisecond;
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  bool handshakes = false;
  bool silent_closed = false;
  long silent_closed_after_ms = 0;
  bool relay_after = false;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    PlainStream sa(addr);
    PlainStream sb(addr);
    DerpClient a(sa);
    DerpClient b(sb);
    handshakes = a.handshake() && b.handshake();
    if (!handshakes) return;
    const auto start = std::chrono::steady_clock::now();
    PlainStream silent(addr);
    std::string nothing;
    silent_closed = silent.read_to_end(&nothing) && nothing.empty();
    silent_closed_after_ms = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
    // a and b connected before the silent one and are past their handshakes: no timeout applies to them.
    const auto p = test_packet(500, 9);
    Frame f;
    relay_after = a.send_packet(b.public_key(), p) && b.wait_frame(FrameType::RecvPacket, &f) &&
                  f.payload == recv_payload(a.public_key(), p);
  });
  CHECK(finished);
  CHECK(handshakes);
  CHECK(silent_closed);
  CHECK(silent_closed_after_ms >= 250);
  CHECK(silent_closed_after_ms < 3000);
  CHECK(relay_after);
}
