// The DERP URL parser: schemes, default ports and path, IPv6 in brackets, the Host header, and what is refused.
#include <catch2/catch.hpp>

#include "client/url.hpp"
#include "derp/common.h"

using derp::client::DerpUrl;
using derp::client::parse_derp_url;

TEST_CASE("url: https and http with default ports and path", "[client][url]") {
  DerpUrl u;
  REQUIRE(parse_derp_url("https://derp.example.com", &u) == DERP_OK);
  CHECK(u.tls);
  CHECK(u.host == "derp.example.com");
  CHECK(u.port == 443);
  CHECK(u.path == "/derp");
  CHECK(u.host_header == "derp.example.com");

  REQUIRE(parse_derp_url("http://127.0.0.1:3340/derp", &u) == DERP_OK);
  CHECK_FALSE(u.tls);
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == 3340);
  CHECK(u.host_header == "127.0.0.1:3340");

  REQUIRE(parse_derp_url("HTTPS://derp.example.com:8443/custom/path?x=1#frag", &u) == DERP_OK);
  CHECK(u.port == 8443);
  CHECK(u.path == "/custom/path?x=1");
  CHECK(u.host_header == "derp.example.com:8443");

  REQUIRE(parse_derp_url("http://example.com:80/", &u) == DERP_OK);
  CHECK(u.port == 80);
  CHECK(u.path == "/");
  CHECK(u.host_header == "example.com");  // the scheme's default port is left out
}

TEST_CASE("url: IPv6 literals in brackets", "[client][url]") {
  DerpUrl u;
  REQUIRE(parse_derp_url("https://[::1]:8443/derp", &u) == DERP_OK);
  CHECK(u.host == "::1");
  CHECK(u.host_is_ipv6);
  CHECK(u.port == 8443);
  CHECK(u.host_header == "[::1]:8443");
  REQUIRE(parse_derp_url("http://[2001:db8::1]", &u) == DERP_OK);
  CHECK(u.port == 80);
  CHECK(u.host_header == "[2001:db8::1]");
}

TEST_CASE("url: everything else is DERP_ERR_URL", "[client][url]") {
  const char* bad[] = {
      "",
      "derp.example.com",
      "ftp://derp.example.com/",
      "ws://derp.example.com/",
      "https://",
      "https:///derp",
      "https://:443/derp",
      "https://user:pw@derp.example.com/",
      "https://host:0/",
      "https://host:65536/",
      "https://host:12a/",
      "https://host:/",
      "https://[::1/derp",
      "https://[not-ipv6]/",
      "https://[::1]x/",
      "https://::1/derp",
      "https://ho st/",
      "https://host/pa th",
      "https://host/\x01",
      "https://[fe80::1%25eth0]/",
  };
  for (const char* text : bad) {
    INFO(text);
    DerpUrl u;
    u.host = "left over";
    CHECK(parse_derp_url(text, &u) == DERP_ERR_URL);
    CHECK(u.host.empty());
  }
  CHECK(parse_derp_url("https://x", nullptr) == DERP_ERR_INVALID_ARGUMENT);
}
