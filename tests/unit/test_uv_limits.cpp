// The accept limiter (derper -accept-connection-limit/-burst, reference §4.9), on its own with fake time and over
// real sockets; and the listen address forms the driver takes.
#include <catch2/catch.hpp>

#include "test_uv_support.hpp"
#include "uv/accept_limiter.hpp"
#include "uv/socket_address.hpp"

using derp::server::kMillisecond;
using derp::server::kSecond;
using derp::uv::AcceptLimiter;
using derp::uv::UvServer;
using namespace derp::uvtest;

TEST_CASE("uv: accept limiter is a token bucket", "[uv]") {
  SECTION("unlimited by default") {
    AcceptLimiter l;
    for (int i = 0; i < 1000; ++i) REQUIRE(l.allow(0));
  }
  SECTION("burst, then the rate") {
    AcceptLimiter l(10.0, 3);  // 10 per second, burst 3
    const derp::server::Nanos t0 = 5 * kSecond;
    CHECK(l.allow(t0));
    CHECK(l.allow(t0));
    CHECK(l.allow(t0));
    CHECK_FALSE(l.allow(t0));
    CHECK_FALSE(l.allow(t0 + 50 * kMillisecond));  // half a token
    CHECK(l.allow(t0 + 100 * kMillisecond));       // one token
    CHECK_FALSE(l.allow(t0 + 100 * kMillisecond));
    // Refill never exceeds the burst.
    CHECK(l.allow(t0 + 100 * kSecond));
    CHECK(l.allow(t0 + 100 * kSecond));
    CHECK(l.allow(t0 + 100 * kSecond));
    CHECK_FALSE(l.allow(t0 + 100 * kSecond));
  }
  SECTION("zero burst admits nothing") {
    AcceptLimiter l(5.0, 0);
    CHECK_FALSE(l.allow(kSecond));
    CHECK_FALSE(l.allow(100 * kSecond));
  }
}

TEST_CASE("uv: listen addresses", "[uv]") {
  derp::uv::ListenAddress a;
  REQUIRE(derp::uv::parse_listen_address(":443", &a) == DERP_OK);
  CHECK(a.any_host);
  CHECK(a.addr.port == 443);
  REQUIRE(derp::uv::parse_listen_address(":https", &a) == DERP_OK);
  CHECK(a.addr.port == 443);
  REQUIRE(derp::uv::parse_listen_address("127.0.0.1:3340", &a) == DERP_OK);
  CHECK_FALSE(a.any_host);
  CHECK(a.addr.family == DERP_AF_INET);
  CHECK(a.addr.port == 3340);
  REQUIRE(derp::uv::parse_listen_address("[::1]:0", &a) == DERP_OK);
  CHECK(a.addr.family == DERP_AF_INET6);
  CHECK(a.addr.ip[15] == 1);
  CHECK(derp::uv::parse_listen_address("443", &a) == DERP_ERR_ADDRESS);
  CHECK(derp::uv::parse_listen_address("::1:443", &a) == DERP_ERR_ADDRESS);
  CHECK(derp::uv::parse_listen_address("example.com:443", &a) == DERP_ERR_ADDRESS);
  CHECK(derp::uv::parse_listen_address("1.2.3.4:65536", &a) == DERP_ERR_ADDRESS);
  CHECK(derp::uv::parse_listen_address("1.2.3.4:", &a) == DERP_ERR_ADDRESS);

  std::unique_ptr<UvServer> server;
  std::string detail;
  auto options = loopback_options();
  options.tcp_listen = {"nonsense"};
  CHECK(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_ERR_ADDRESS);
  CHECK(detail.find("nonsense") != std::string::npos);
}

TEST_CASE("uv: a busy port is a clear listen error and nothing stays bound", "[uv]") {
  std::unique_ptr<UvServer> first;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, loopback_options(), &first, &detail) == DERP_OK);
  REQUIRE(first->listen(&detail) == DERP_OK);
  const std::string taken = "127.0.0.1:" + std::to_string(first->tcp_addresses().at(0).port);

  auto options = loopback_options();
  options.tcp_listen = {"127.0.0.1:0", taken};
  std::unique_ptr<UvServer> second;
  REQUIRE(UvServer::create(nullptr, std::move(options), &second, &detail) == DERP_OK);
  CHECK(second->listen(&detail) == DERP_ERR_UV_LISTEN);
  CHECK(detail.find(taken) != std::string::npos);
  CHECK(second->listen(&detail) == DERP_ERR_UV_STATE);
  second.reset();  // the destructor finishes closing what the failed listen() opened
  first.reset();
}

TEST_CASE("uv: the accept limiter closes connections over the limit at once", "[uv]") {
  auto options = loopback_options();
  options.accept_rate = 0.0;  // no refill: exactly `burst` connections get in
  options.accept_burst = 2;
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  std::string answers[3];
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    for (std::string& answer : answers) {
      answer = http_exchange(addr, "GET /generate_204 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    }
  });
  CHECK(finished);
  CHECK(answers[0].rfind("HTTP/1.1 204 ", 0) == 0);
  CHECK(answers[1].rfind("HTTP/1.1 204 ", 0) == 0);
  CHECK(answers[2].empty());  // accepted, then closed with no answer
  CHECK(server->accept_counters().accepted == 2);
  CHECK(server->accept_counters().rejected == 1);
  CHECK(server->counters().http_requests == 2);
}
