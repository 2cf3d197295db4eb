// The driver's STUN listener over real UDP sockets, for the requests beyond Tailscale's: the exact datagrams
// libnice's stun_usage_bind_run and Vovida's stun send (RFC 3489, no magic cookie) get MAPPED-ADDRESS equal to
// the client's own socket address and their 16-byte id back; a change request gets a 420; an RFC 8489 request
// with a malformed attribute gets a 400. IPv4 and, where the host has it, IPv6 loopback.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/address.hpp"
#include "stun/builder.hpp"
#include "stun/header.hpp"
#include "stun/message.hpp"
#include "support/testdata.hpp"
#include "test_uv_support.hpp"
#include "uv/socket_address.hpp"

using derp::uv::UvServer;
using namespace derp::uvtest;
namespace stun = derp::stun;

namespace {

constexpr const char* kClassicIdHex = "4d219a3cb7e7a701bc34d686fa87dfae";

struct Exchange {
  derp_addr me{};
  std::vector<std::vector<std::uint8_t>> replies;  // one per request, in order; empty when none came
  std::string error;
};

// From one UDP socket on the loopback: each request in turn, waiting up to 2 s for its answer.
Exchange send_each(const derp_addr& server, const std::vector<std::vector<std::uint8_t>>& requests) {
  Exchange r;
  sockaddr_storage to;
  derp::uv::to_sockaddr(server, &to);
  const int fd = ::socket(to.ss_family, SOCK_DGRAM, 0);
  const socklen_t len = to.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  sockaddr_storage local{};
  local.ss_family = to.ss_family;
  if (to.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr = in6addr_loopback;
  if (to.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&local)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{};
  tv.tv_sec = 2;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), len) != 0) {
    r.error = "bind";
    ::close(fd);
    return r;
  }
  socklen_t local_len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
  r.me = derp::uv::from_sockaddr(reinterpret_cast<const sockaddr*>(&local));
  for (const auto& request : requests) {
    ::sendto(fd, request.data(), request.size(), 0, reinterpret_cast<const sockaddr*>(&to), len);
    std::uint8_t reply[1500];
    const ssize_t n = ::recv(fd, reply, sizeof reply, 0);
    r.replies.emplace_back(reply, reply + (n > 0 ? n : 0));
  }
  ::close(fd);
  return r;
}

std::vector<std::vector<std::uint8_t>> requests() {
  using derp::test::from_hex;
  std::vector<std::vector<std::uint8_t>> out;
  out.push_back(from_hex(std::string("00010000") + kClassicIdHex));                        // libnice
  out.push_back(from_hex(std::string("00010008") + kClassicIdHex + "0003000400000000"));  // Vovida test I
  out.push_back(from_hex(std::string("00010008") + kClassicIdHex + "0003000400000006"));  // Vovida test II
  // RFC 8489, with a 3-byte PRIORITY.
  std::vector<std::uint8_t> bad(64);
  stun::Builder b(bad);
  b.begin(stun::kBindingRequest, stun::TransactionId{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9});
  b.add_attribute(stun::kAttrPriority, derp::Bytes(from_hex("010203")));
  b.add_fingerprint();
  std::size_t len = 0;
  b.finish(&len);
  bad.resize(len);
  out.push_back(bad);
  return out;
}

// What each reply must be, given the client's own address.
void check_replies(const Exchange& r) {
  INFO(r.error);
  REQUIRE(r.replies.size() == 4);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("classic request " << i);
    stun::Message m;
    REQUIRE(stun::parse_classic(derp::Bytes(r.replies[i]), &m) == DERP_OK);
    CHECK(derp::test::to_hex(m.classic_transaction_id.data(), m.classic_transaction_id.size()) == kClassicIdHex);
    CHECK_FALSE(m.xor_mapped_address.has_value());
    if (i < 2) {
      CHECK(m.type == stun::kBindingSuccessResponse);
      REQUIRE(m.mapped_address);
      CHECK(derp::format_addr(*m.mapped_address) == derp::format_addr(r.me));
    } else {
      CHECK(m.type == stun::kBindingErrorResponse);
      REQUIRE(m.error_code);
      CHECK(m.error_code->code == 420);
    }
  }
  stun::Message m;
  REQUIRE(stun::parse(derp::Bytes(r.replies[3]), &m) == DERP_OK);
  REQUIRE(m.error_code);
  CHECK(m.error_code->code == 400);
  CHECK(std::string(m.error_code->reason.begin(), m.error_code->reason.end()) == "Bad Request: malformed PRIORITY");
  CHECK(m.has_fingerprint);
}

}  // namespace

TEST_CASE("uv: STUN over UDP answers classic RFC 3489 clients and malformed requests", "[uv]") {
  const bool with_v6 = ipv6_loopback_available();
  auto options = loopback_options(true);
  if (with_v6) options.stun_listen.push_back("[::1]:0");
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  REQUIRE(server->stun_addresses().size() == (with_v6 ? 2u : 1u));

  Exchange r4, r6;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    r4 = send_each(server->stun_addresses()[0], requests());
    if (with_v6) r6 = send_each(server->stun_addresses()[1], requests());
  });
  CHECK(finished);
  check_replies(r4);
  if (with_v6) {
    check_replies(r6);
  } else {
    WARN("no IPv6 loopback here: the STUN v6 half was skipped");
  }
  const auto& c = server->counters();
  CHECK(c.stun_requests == (with_v6 ? 8u : 4u));
  CHECK(c.stun_not_stun == 0);
}
