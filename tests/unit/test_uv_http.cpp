// derper's plain HTTP endpoints answered through the libuv driver over a real socket (reference §1.2, §1.6).
#include <catch2/catch.hpp>

#include "test_uv_support.hpp"

using derp::uv::UvServer;
using namespace derp::uvtest;

TEST_CASE("uv: plain HTTP endpoints answer over the socket", "[uv]") {
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, loopback_options(), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  std::string generate_204, probe, robots, not_found, no_upgrade, pipelined;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    generate_204 = http_exchange(addr,
                                 "GET /generate_204 HTTP/1.1\r\nHost: x\r\nX-Tailscale-Challenge: ts_x\r\n"
                                 "Connection: close\r\n\r\n");
    probe = http_exchange(addr, "HEAD /derp/probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    robots = http_exchange(addr, "GET /robots.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    not_found = http_exchange(addr, "GET /no/such/page HTTP/1.1\r\nHost: x\r\n\r\n");
    // No Upgrade header: 426, and the server closes by itself.
    no_upgrade = http_exchange(addr, "GET /derp HTTP/1.1\r\nHost: x\r\n\r\n");
    // Keep-alive: two requests in one write, the second asking to close.
    pipelined = http_exchange(addr,
                              "GET /generate_204 HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /derp/latency-check HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  });
  CHECK(finished);
  CHECK(generate_204.rfind("HTTP/1.1 204 No Content\r\n", 0) == 0);
  CHECK(generate_204.find("\r\nX-Tailscale-Response: response ts_x\r\n") != std::string::npos);
  CHECK(probe.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(probe.find("\r\nAccess-Control-Allow-Origin: *\r\n") != std::string::npos);
  CHECK(robots.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(robots.find("\r\n\r\nUser-agent: *\nDisallow: /\n") != std::string::npos);
  CHECK(not_found.rfind("HTTP/1.1 404 ", 0) == 0);
  CHECK(no_upgrade.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0) == 0);
  CHECK(no_upgrade.find("DERP requires connection upgrade") != std::string::npos);
  CHECK(pipelined.rfind("HTTP/1.1 204 No Content\r\n", 0) == 0);
  CHECK(pipelined.find("HTTP/1.1 200 OK\r\n") != std::string::npos);
  CHECK(server->counters().http_requests == 7);
  CHECK(server->counters().current_connections == 0);
}
