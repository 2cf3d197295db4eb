// The direct path's STUN server: how it is written (an IP literal or a DNS name, a port or 3478), the default from
// the DERP URL's host (a name too, as Tailscale's netcheck looks up a DERP node's host name), and a name looked up
// with uv_getaddrinfo for the socket's own family on loopback ("localhost"), the answer arriving on that socket.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "common/address.hpp"
#include "support/uv_client_test_loop.hpp"
#include "test_uv_support.hpp"
#include "uv/stun_target.hpp"

using derp::uv::parse_stun_target;
using derp::uv::StunTarget;
using derp::uv::UvClient;
using namespace derp::uvclienttest;

TEST_CASE("stun target: literals, names, ports and the 3478 default", "[uvdirect]") {
  StunTarget t;
  REQUIRE(parse_stun_target("192.0.2.1:3479", &t) == DERP_OK);
  CHECK(t.host == "192.0.2.1");
  CHECK(t.port == 3479);
  REQUIRE(t.literal);
  CHECK(derp::format_addr(*t.literal) == "192.0.2.1:3479");

  REQUIRE(parse_stun_target("[2001:db8::1]:9", &t) == DERP_OK);
  CHECK(t.host == "2001:db8::1");
  REQUIRE(t.literal);
  CHECK(t.literal->family == DERP_AF_INET6);
  CHECK(derp::format_addr(*t.literal) == "[2001:db8::1]:9");

  REQUIRE(parse_stun_target("derp.example.com:3478", &t) == DERP_OK);
  CHECK(t.is_name());
  CHECK(t.host == "derp.example.com");
  CHECK(derp::uv::format_stun_target(t) == "derp.example.com:3478");

  // No port: 3478, for a name, an IPv4 literal, a bracketed or bare IPv6 literal.
  for (const char* text : {"localhost", "192.0.2.1", "[2001:db8::1]", "2001:db8::1"}) {
    CAPTURE(text);
    REQUIRE(parse_stun_target(text, &t) == DERP_OK);
    CHECK(t.port == 3478);
  }
  CHECK(parse_stun_target("localhost", &t) == DERP_OK);
  CHECK(t.is_name());

  for (const char* bad : {"", ":3478", "host:", "host:0", "host:65536", "host:12x", "[192.0.2.1]:3478",
                          "[2001:db8::1", "[2001:db8::1]3478", "two words:1", "host/x:1", "a\nb:1"}) {
    CAPTURE(bad);
    StunTarget untouched;
    untouched.host = "kept";
    CHECK(parse_stun_target(bad, &untouched) == DERP_ERR_ADDRESS);
    CHECK(untouched.host == "kept");
  }
}

TEST_CASE("stun target: the default is the DERP URL's host, a name or a literal, on port 3478", "[uvdirect]") {
  auto d = derp::uv::default_stun_target("https://derp.example.com/derp");
  REQUIRE(d);
  CHECK(d->is_name());
  CHECK(derp::uv::format_stun_target(*d) == "derp.example.com:3478");
  d = derp::uv::default_stun_target("http://192.0.2.7:8080/derp");
  REQUIRE(d);
  REQUIRE(d->literal);
  CHECK(derp::format_addr(*d->literal) == "192.0.2.7:3478");  // the DERP port is not the STUN port
  d = derp::uv::default_stun_target("http://[2001:db8::2]:8080");
  REQUIRE(d);
  REQUIRE(d->literal);
  CHECK(derp::format_addr(*d->literal) == "[2001:db8::2]:3478");
  CHECK_FALSE(derp::uv::default_stun_target("ftp://x"));
}

namespace {

std::unique_ptr<UvClient> direct_client(TestLoop& loop, const std::string& url, Recorder* events,
                                        const std::string& stun, const std::string& stun6 = "",
                                        const std::string& bind = "127.0.0.1:0", const std::string& bind6 = "") {
  auto o = client_options(url);
  o.direct.enabled = true;
  o.direct.udp_bind = bind;
  o.direct.udp_bind6 = bind6;
  o.direct.stun_server = stun;
  o.direct.stun_server6 = stun6;
  std::unique_ptr<UvClient> c;
  std::string why;
  const int rc = UvClient::create(loop.get(), std::move(o), events, &c, &why);
  INFO(why);
  REQUIRE(rc == DERP_OK);
  return c;
}

}  // namespace

TEST_CASE("uv direct: a STUN server given by name (localhost) is looked up and answers the client's socket",
          "[uvdirect]") {
  TestLoop loop;
  derp::uv::UvServerOptions so;
  REQUIRE(derp::crypto::generate_private(&so.core.private_key) == DERP_OK);
  so.tcp_listen = {"127.0.0.1:0"};
  so.stun_listen = {"127.0.0.1:0"};
  std::unique_ptr<derp::uv::UvServer> server;
  std::string detail;
  REQUIRE(derp::uv::UvServer::create(loop.get(), std::move(so), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const std::string url = url_for(server->tcp_addresses().at(0));
  const std::uint16_t stun_port = server->stun_addresses().at(0).port;

  Recorder events;
  auto c = direct_client(loop, url, &events, "localhost:" + std::to_string(stun_port));
  REQUIRE(c->start() == DERP_OK);
  // No address before the lookup answers; then the A record of localhost with the given port.
  REQUIRE(loop.run_until([&] { return c->direct_path()->stun_server(DERP_AF_INET) != nullptr; }));
  CHECK(derp::format_addr(*c->direct_path()->stun_server(DERP_AF_INET)) == "127.0.0.1:" + std::to_string(stun_port));
  // The request went from the client's own UDP socket: the server saw that socket's address.
  REQUIRE(loop.run_until([&] { return c->direct_path()->public_endpoint().has_value(); }));
  CHECK(derp::operator==(*c->direct_path()->public_endpoint(), c->direct_path()->bound()));
  CHECK(c->direct_path()->stun_server(DERP_AF_INET6) == nullptr);  // no IPv6 socket with a 127.0.0.1 bind

  c->stop();
  server->close();
  REQUIRE(loop.run_until([&] { return server->stopped(); }));
  c.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv direct: with no STUN server given, the DERP URL's host name is looked up, on port 3478",
          "[uvdirect]") {
  TestLoop loop;
  Recorder events;
  // Nothing has to listen: the lookup of the URL's name is what is checked.
  auto c = direct_client(loop, "http://localhost:9/derp", &events, "");
  REQUIRE(loop.run_until([&] { return c->direct_path()->stun_server(DERP_AF_INET) != nullptr; }));
  CHECK(derp::format_addr(*c->direct_path()->stun_server(DERP_AF_INET)) == "127.0.0.1:3478");
  c.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv direct: a client closed while its STUN lookup is in flight leaks nothing", "[uvdirect]") {
  TestLoop loop;
  for (int i = 0; i < 20; ++i) {
    Recorder events;
    auto c = direct_client(loop, "http://localhost:9/derp", &events, "localhost:9");
    c.reset();  // at once: the lookup is still on the threadpool; its callback must find the socket gone
  }
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv direct: stun_server6 serves the IPv6 socket, stun_server the IPv4 one", "[uvdirect]") {
  if (!derp::uvtest::ipv6_loopback_available()) {
    WARN("no IPv6 loopback (::1) here: the stun_server6 test was skipped");
    return;
  }
  TestLoop loop;
  derp::uv::UvServerOptions so;
  REQUIRE(derp::crypto::generate_private(&so.core.private_key) == DERP_OK);
  so.tcp_listen = {"127.0.0.1:0"};
  so.stun_listen = {"127.0.0.1:0", "[::1]:0"};
  std::unique_ptr<derp::uv::UvServer> server;
  std::string detail;
  REQUIRE(derp::uv::UvServer::create(loop.get(), std::move(so), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const std::string url = url_for(server->tcp_addresses().at(0));
  std::string stun4, stun6;
  for (const derp_addr& a : server->stun_addresses()) (a.family == DERP_AF_INET6 ? stun6 : stun4) = derp::format_addr(a);
  REQUIRE(!stun4.empty());
  REQUIRE(!stun6.empty());

  Recorder events;
  auto c = direct_client(loop, url, &events, "localhost:" + stun4.substr(stun4.rfind(':') + 1), stun6,
                         "127.0.0.1:0", "[::1]:0");
  REQUIRE(c->start() == DERP_OK);
  REQUIRE(c->direct_path()->stun_server(DERP_AF_INET6) != nullptr);  // a literal: known at once
  CHECK(derp::format_addr(*c->direct_path()->stun_server(DERP_AF_INET6)) == stun6);
  REQUIRE(loop.run_until([&] { return c->direct_path()->stun_server(DERP_AF_INET) != nullptr; }));
  CHECK(derp::format_addr(*c->direct_path()->stun_server(DERP_AF_INET)) == stun4);
  // Each socket learns its own public endpoint: STUN of its family from itself.
  const derp::uv::UvDirectPath* d = c->direct_path();
  REQUIRE(loop.run_until([&] {
    return d->public_endpoint(DERP_AF_INET) != nullptr && d->public_endpoint(DERP_AF_INET6) != nullptr;
  }));
  CHECK(derp::operator==(*d->public_endpoint(DERP_AF_INET), *d->bound(DERP_AF_INET)));
  CHECK(derp::operator==(*d->public_endpoint(DERP_AF_INET6), *d->bound(DERP_AF_INET6)));

  c->stop();
  server->close();
  REQUIRE(loop.run_until([&] { return server->stopped(); }));
  c.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv direct: a bad stun_server or stun_server6 is refused at create", "[uvdirect]") {
  TestLoop loop;
  for (const auto& [stun, stun6] : {std::pair<std::string, std::string>{"host:0", ""}, {"", "192.0.2.1:3478"},
                                    {"", "[::1"}}) {
    CAPTURE(stun, stun6);
    auto o = client_options("http://127.0.0.1:9");
    o.direct.enabled = true;
    o.direct.udp_bind = "127.0.0.1:0";
    o.direct.stun_server = stun;
    o.direct.stun_server6 = stun6;
    std::unique_ptr<UvClient> c;
    std::string why;
    Recorder events;
    CHECK(UvClient::create(loop.get(), std::move(o), &events, &c, &why) == DERP_ERR_ADDRESS);
    CHECK(why.find("STUN") != std::string::npos);
  }
  CHECK(loop.finish() == 0);
}
