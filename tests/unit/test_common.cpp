#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "common/address.hpp"
#include "derp/common.h"

TEST_CASE("version macros and runtime agree", "[common]") {
  CHECK(derp_version() == DERP_VERSION_HEX);
  CHECK(std::string(derp_version_string()) == DERP_VERSION_STRING);
}

TEST_CASE("every error code has its own name and message", "[common]") {
#define CHECK_ERR_(name, value, message)                              \
  CHECK(std::string(derp_err_name(DERP_ERR_##name)) == #name);        \
  CHECK(std::string(derp_strerror(DERP_ERR_##name)) == message);      \
  CHECK(DERP_ERR_##name < 0);
  DERP_ERRNO_MAP(CHECK_ERR_)
#undef CHECK_ERR_
  CHECK(std::string(derp_strerror(12345)) == "unknown error");
  CHECK(std::string(derp_err_name(0)) == "OK");
}

TEST_CASE("addresses parse and format both families", "[common]") {
  derp_addr a{};
  REQUIRE(derp_addr_parse("192.0.2.1:41641", &a) == DERP_OK);
  CHECK(a.family == DERP_AF_INET);
  CHECK(a.port == 41641);
  char text[DERP_ADDR_TEXT_MAX];
  REQUIRE(derp_addr_format(&a, text, sizeof text) == DERP_OK);
  CHECK(std::string(text) == "192.0.2.1:41641");

  REQUIRE(derp_addr_parse("[2001:db8::1]:3478", &a) == DERP_OK);
  CHECK(a.family == DERP_AF_INET6);
  REQUIRE(derp_addr_format(&a, text, sizeof text) == DERP_OK);
  CHECK(std::string(text) == "[2001:db8::1]:3478");
  CHECK(derp_addr_format(&a, text, 5) == DERP_ERR_BUFFER_TOO_SMALL);

  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "::1:80", "[::1]", "[::1]:x", "a.b.c.d:1"}) {
    INFO(bad);
    CHECK(derp_addr_parse(bad, &a) == DERP_ERR_ADDRESS);
  }
}

TEST_CASE("v4-mapped IPv6 unmaps to IPv4", "[common]") {
  derp_addr a{};
  REQUIRE(derp_addr_parse("[::ffff:192.0.2.1]:5", &a) == DERP_OK);
  const derp_addr u = derp::unmap_v4(a);
  CHECK(u.family == DERP_AF_INET);
  CHECK(derp::format_addr(u) == "192.0.2.1:5");
  std::uint8_t wire[16];
  derp::addr_to_16(u, wire);
  CHECK(std::memcmp(wire, a.ip, 16) == 0);
}
