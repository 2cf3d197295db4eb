// The driver's lingering close during a graceful shutdown: a client whose last bytes the server never read still
// gets the Restarting frame and then a clean end of stream (FIN, not RST), and the server stops once it has closed.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
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

TEST_CASE("uv: shutdown with unread client bytes still delivers Restarting, then a clean EOF", "[uv]") {
  const bool use_tls = GENERATE(false, true);
  CAPTURE(use_tls);
  std::unique_ptr<derp::tls::ServerConfig> server_tls;
  std::unique_ptr<derp::tls::ClientConfig> client_tls;
  auto options = loopback_options();
  if (use_tls) {
    std::string detail;
    REQUIRE(derp::tls::ServerConfig::self_signed("127.0.0.1", static_cast<std::int64_t>(std::time(nullptr)),
                                                 &server_tls, &detail) == DERP_OK);
    derp::tls::ClientOptions o;
    o.ca_bundle_path = "";
    REQUIRE(derp::tls::ClientConfig::create(o, &client_tls, &detail) == DERP_OK);
    options.tls = server_tls.get();
  }
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  std::string error;
  bool restarting = false;
  std::uint32_t reconnect_in = 0;
  long end_of_stream = 1;  // the read after Restarting: 0 is EOF (or close_notify), -ECONNRESET a reset
  long tcp_end = 1;        // plain TCP only: the socket-level read after that
  std::atomic<bool> extra_sent{false};
  bool stopped = false;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner& loop) {
    std::unique_ptr<Stream> stream;
    PlainStream* plain = nullptr;
    if (use_tls) {
      auto t = std::make_unique<TlsStream>(addr, *client_tls, server_tls->cert_name());
      if (!t->ok()) {
        error = "TLS: " + t->error();
        return;
      }
      stream = std::move(t);
    } else {
      auto p = std::make_unique<PlainStream>(addr);
      plain = p.get();
      stream = std::move(p);
    }
    DerpClient c(*stream);
    if (!c.handshake()) {
      error = "handshake: " + c.error();
      return;
    }
    // The loop thread is held inside this task until the extra bytes sit in the server's receive buffer, so the
    // shutdown below closes a connection with input the server never read: the case where a plain close sends RST.
    loop.post([&] {
      while (!extra_sent) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      server->shutdown(100, 5000);
    });
    // To a key no client has: dropped if ever read.
    if (!c.send_packet(c.server_key(), test_packet(1000, 7))) {
      error = "send: " + c.error();
      return;
    }
    extra_sent = true;
    Frame f;
    derp::frame::RestartingFrame msg;
    if (c.wait_frame(FrameType::Restarting, &f) && derp::frame::decode(derp::Bytes(f.payload), &msg) == DERP_OK) {
      restarting = true;
      reconnect_in = msg.reconnect_in_ms;
    }
    std::uint8_t buf[256];
    end_of_stream = stream->read_some(derp::MutableBytes(buf, sizeof buf));
    if (plain != nullptr) {
      const ssize_t n = ::recv(plain->fd(), buf, sizeof buf, 0);
      tcp_end = n < 0 ? -errno : static_cast<long>(n);
    }
    // Our close ends the server's lingering close: it stops well before its grace time.
    stream.reset();
    for (int i = 0; i < 100 && !stopped; ++i) {
      loop.call([&] { stopped = server->stopped(); });
      if (!stopped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  INFO(error);
  CHECK(finished);
  CHECK(error.empty());
  CHECK(restarting);
  CHECK(reconnect_in == 100);
  CHECK(end_of_stream == 0);
  if (!use_tls) CHECK(tcp_end == 0);  // FIN: the server read (and dropped) our bytes before it closed
  CHECK(stopped);
}
