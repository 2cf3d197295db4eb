// A connection the server closed for a protocol violation is reset, not drained: a peer that keeps sending after
// its violation cannot feed the server gigabytes (issue 15). Bounded in bytes: the peer gives up after 64 MiB.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <ctime>

#include "frame/header.hpp"
#include "test_uv_support.hpp"
#include "tls/client_config.hpp"
#include "tls/server_config.hpp"

using derp::uv::UvServer;
using namespace derp::uvtest;

TEST_CASE("uv: a connection closed for a violation is reset however much the peer keeps sending", "[uv][hostile]") {
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

  constexpr std::size_t kGiveUpAfter = 64u << 20;
  std::string error;
  std::size_t sent_after_violation = 0;
  bool write_failed = false;
  int last_errno = 0;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
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
    // A SendPacket header claiming 4 GiB: fatal from the header alone.
    std::uint8_t header[derp::frame::kHeaderLen];
    derp::frame::write_header(header, DERP_FRAME_SEND_PACKET, 0xFFFFFFFFu);
    if (!stream->write_all(derp::Bytes(header, sizeof header))) {
      error = "header write failed";
      return;
    }
    // Then keep sending until the server's reset stops us, or give up: a lingering server would read it all.
    const std::vector<std::uint8_t> chunk(64 * 1024, 0x5a);
    while (sent_after_violation < kGiveUpAfter) {
      errno = 0;
      if (!stream->write_all(derp::Bytes(chunk))) {
        write_failed = true;
        last_errno = errno;
        break;
      }
      sent_after_violation += chunk.size();
    }
    (void)plain;
  });
  INFO(error);
  CHECK(finished);
  CHECK(error.empty());
  CHECK(write_failed);
  CHECK(sent_after_violation < kGiveUpAfter);
  // Ended by the peer's reset (ECONNRESET, or EPIPE once the reset arrived), not by a send timeout.
  CHECK((last_errno == ECONNRESET || last_errno == EPIPE));
}
