// The driver's STUN listener over real UDP sockets (reference §6): a Tailscale binding request gets an
// XOR-MAPPED-ADDRESS equal to the client's own socket address; anything else gets nothing and is counted.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common/address.hpp"
#include "stun/tailscale.hpp"
#include "test_uv_support.hpp"
#include "uv/socket_address.hpp"

using derp::uv::UvServer;
using namespace derp::uvtest;

namespace {

struct StunExchange {
  bool answered = false;
  bool garbage_ignored = false;
  bool address_matches = false;
  std::string error;
};

// From a UDP socket on the same loopback: garbage first (no answer expected), then a real request.
StunExchange exchange(const derp_addr& server) {
  StunExchange r;
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
  const derp_addr me = derp::uv::from_sockaddr(reinterpret_cast<const sockaddr*>(&local));

  const char garbage[] = "this is not a STUN message at all";
  ::sendto(fd, garbage, sizeof garbage, 0, reinterpret_cast<const sockaddr*>(&to), len);

  derp::stun::TransactionId txid;
  for (std::size_t i = 0; i < txid.size(); ++i) txid[i] = static_cast<std::uint8_t>(0xa0 + i);
  std::uint8_t request[derp::stun::kTailscaleRequestSize];
  std::size_t request_len = 0;
  derp::stun::build_tailscale_request(txid, derp::MutableBytes(request, sizeof request), &request_len);
  ::sendto(fd, request, request_len, 0, reinterpret_cast<const sockaddr*>(&to), len);

  std::uint8_t reply[1500];
  const ssize_t n = ::recv(fd, reply, sizeof reply, 0);
  ::close(fd);
  if (n <= 0) {
    r.error = "no reply";
    return r;
  }
  derp::stun::BindingResult result;
  if (derp::stun::parse_binding_response(derp::Bytes(reply, static_cast<std::size_t>(n)), &result) != DERP_OK) {
    r.error = "reply does not parse";
    return r;
  }
  r.answered = true;
  // The first datagram back answers the real request: the garbage got nothing.
  r.garbage_ignored = result.transaction_id == txid;
  r.address_matches = derp::operator==(result.address, me);
  return r;
}

}  // namespace

TEST_CASE("uv: STUN over UDP answers with the client's own address", "[uv]") {
  const bool with_v6 = ipv6_loopback_available();
  auto options = loopback_options(true);
  if (with_v6) options.stun_listen.push_back("[::1]:0");
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  REQUIRE(server->stun_addresses().size() == (with_v6 ? 2u : 1u));
  const derp_addr v4 = server->stun_addresses()[0];
  CHECK(v4.family == DERP_AF_INET);
  CHECK(v4.port != 0);

  StunExchange r4, r6;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    r4 = exchange(v4);
    if (with_v6) r6 = exchange(server->stun_addresses()[1]);
  });
  CHECK(finished);
  INFO(r4.error);
  CHECK(r4.answered);
  CHECK(r4.garbage_ignored);
  CHECK(r4.address_matches);
  const auto& c = server->counters();
  CHECK(c.stun_ipv4 == 1);
  if (with_v6) {
    INFO(r6.error);
    CHECK(r6.answered);
    CHECK(r6.garbage_ignored);
    CHECK(r6.address_matches);
    CHECK(c.stun_ipv6 == 1);
  } else {
    WARN("no IPv6 loopback here: the STUN v6 half was skipped");
  }
  CHECK(c.stun_requests == (with_v6 ? 2u : 1u));
  CHECK(c.stun_not_stun == (with_v6 ? 2u : 1u));
}
