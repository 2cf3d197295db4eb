// Receivers that read slowly or not at all, over real sockets: the driver's write-in-flight path (uv_write
// pointing into core buffers, or an owned TLS copy), the core's drop policy and write timeout, and a shutdown
// whose drain is cut short by the grace bound.
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
using derp::server::DropReason;
using derp::server::kMillisecond;
using derp::uv::UvServer;
using namespace derp::uvtest;

namespace {

constexpr int kBigPackets = 320;  // × 64 KiB = 20 MiB: more than loopback socket buffers hold
constexpr std::size_t kBigPacket = 65536;

// Packet i carries i in its first two bytes, so a receiver can check order and integrity after drops.
std::vector<std::uint8_t> numbered_packet(int i) {
  auto p = test_packet(kBigPacket, static_cast<std::uint8_t>(i));
  p[0] = static_cast<std::uint8_t>(i >> 8);
  p[1] = static_cast<std::uint8_t>(i);
  return p;
}

struct TlsFixture {
  std::unique_ptr<derp::tls::ServerConfig> server;
  std::unique_ptr<derp::tls::ClientConfig> client;
  TlsFixture() {
    std::string detail;
    REQUIRE(derp::tls::ServerConfig::self_signed("127.0.0.1", static_cast<std::int64_t>(std::time(nullptr)), &server,
                                                 &detail) == DERP_OK);
    derp::tls::ClientOptions o;
    o.ca_bundle_path = "";
    REQUIRE(derp::tls::ClientConfig::create(o, &client, &detail) == DERP_OK);
  }
};

std::unique_ptr<Stream> open_stream(const derp_addr& addr, const TlsFixture* tls) {
  if (tls == nullptr) return std::make_unique<PlainStream>(addr);
  return std::make_unique<TlsStream>(addr, *tls->client, tls->server->cert_name());
}

}  // namespace

TEST_CASE("uv: a slow receiver gets an in-order, intact subset and keeps working", "[uv]") {
  const bool use_tls = GENERATE(false, true);
  CAPTURE(use_tls);
  std::unique_ptr<TlsFixture> tls;
  auto options = loopback_options();
  options.core.write_timeout = 0;  // the pause below must not count as a dead receiver
  if (use_tls) {
    tls = std::make_unique<TlsFixture>();
    options.tls = tls->server.get();
  }
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  bool handshakes = false;
  int received = 0;
  bool in_order_and_intact = true;
  bool last_arrived = false;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    auto sa = open_stream(addr, tls.get());
    auto sb = open_stream(addr, tls.get());
    DerpClient a(*sa);
    DerpClient b(*sb);
    handshakes = a.handshake() && b.handshake();
    if (!handshakes) return;
    // b reads nothing while a sends 20 MiB: the server's writes to b block and its queue overflows.
    for (int i = 0; i < kBigPackets; ++i) {
      if (!a.send_packet(b.public_key(), numbered_packet(i))) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // Then one more small packet, after the flood: it must get through once b catches up.
    const auto marker = test_packet(100, 77);
    if (!a.send_packet(b.public_key(), marker)) return;
    int last = -1;
    Frame f;
    while (b.wait_frame(FrameType::RecvPacket, &f)) {
      const std::vector<std::uint8_t> packet(f.payload.begin() + 32, f.payload.end());
      if (packet == marker) {
        last_arrived = true;
        break;
      }
      const int i = (packet.size() >= 2) ? (packet[0] << 8 | packet[1]) : -1;
      if (i <= last || i >= kBigPackets || packet != numbered_packet(i)) in_order_and_intact = false;
      last = i;
      received++;
    }
  });
  CHECK(finished);
  CHECK(handshakes);
  CHECK(last_arrived);
  CHECK(in_order_and_intact);
  CHECK(received > 0);
  const auto& c = server->counters();
  const std::uint64_t dropped = c.packets_dropped[static_cast<std::size_t>(DropReason::queue_head)][1] +
                                c.packets_dropped[static_cast<std::size_t>(DropReason::queue_tail)][1] +
                                c.packets_dropped[static_cast<std::size_t>(DropReason::queue_bytes)][1];
  CHECK(static_cast<std::uint64_t>(received) + dropped == kBigPackets);
  CHECK(server->core().pool().buffers_outstanding() == 0);
}

TEST_CASE("uv: a receiver that stops reading is closed by the write timeout, the sender goes on", "[uv]") {
  const bool use_tls = GENERATE(false, true);
  CAPTURE(use_tls);
  std::unique_ptr<TlsFixture> tls;
  auto options = loopback_options();
  options.core.write_timeout = 300 * kMillisecond;
  if (use_tls) {
    tls = std::make_unique<TlsFixture>();
    options.tls = tls->server.get();
  }
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  bool handshakes = false;
  bool stalled_closed = false;
  bool sender_still_works = false;
  std::uint64_t write_timeouts = 0;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner& loop) {
    auto sa = open_stream(addr, tls.get());
    auto sb = open_stream(addr, tls.get());
    auto sc = open_stream(addr, tls.get());
    DerpClient a(*sa);
    DerpClient b(*sb);
    DerpClient c(*sc);
    handshakes = a.handshake() && b.handshake() && c.handshake();
    if (!handshakes) return;
    for (int i = 0; i < kBigPackets; ++i) {
      if (!a.send_packet(b.public_key(), numbered_packet(i))) return;
    }
    // Wait for the server to give up on b (its output stalls for 300 ms), then drain what b had buffered.
    for (int i = 0; i < 300 && write_timeouts == 0; ++i) {
      loop.call([&] { write_timeouts = server->counters().sclient_write_timeouts; });
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stalled_closed = b.wait_closed();
    const auto p = test_packet(1000, 5);
    Frame f;
    sender_still_works = a.send_packet(c.public_key(), p) && c.wait_frame(FrameType::RecvPacket, &f) &&
                         f.payload.size() == 32 + p.size();
  });
  CHECK(finished);
  CHECK(handshakes);
  CHECK(write_timeouts == 1);
  CHECK(stalled_closed);
  CHECK(sender_still_works);
  CHECK(server->core().pool().buffers_outstanding() == 0);
}

TEST_CASE("uv: shutdown gives up on a client that does not drain after the grace time", "[uv]") {
  auto options = loopback_options();
  options.core.write_timeout = 0;
  options.shutdown_grace = 300 * kMillisecond;
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  bool handshakes = false;
  bool stopped = false;
  long stopped_after_ms = -1;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner& loop) {
    PlainStream sa(addr);
    PlainStream sb(addr);
    DerpClient a(sa);
    DerpClient b(sb);
    handshakes = a.handshake() && b.handshake();
    if (!handshakes) return;
    for (int i = 0; i < kBigPackets; ++i) {
      if (!a.send_packet(b.public_key(), numbered_packet(i))) return;
    }
    const auto start = std::chrono::steady_clock::now();
    loop.post([&] { server->shutdown(0, 0); });
    for (int i = 0; i < 300 && !stopped; ++i) {
      loop.call([&] { stopped = server->stopped(); });
      if (!stopped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stopped_after_ms = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
    b.wait_closed();
  });
  CHECK(finished);
  CHECK(handshakes);
  CHECK(stopped);
  CHECK(stopped_after_ms >= 250);
  CHECK(stopped_after_ms < 2000);
  CHECK(server->counters().current_connections == 0);
}
