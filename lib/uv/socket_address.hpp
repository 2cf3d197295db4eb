// Between the driver's socket addresses (sockaddr, what libuv speaks) and the cores' derp_addr, plus the listen
// address text operators write: derper's -a form "host:port", where an empty host means every address.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string_view>

#include "derp/common.h"

namespace derp::uv {

struct ListenAddress {
  // Empty host (":443"): bind the IPv6 wildcard, which on Linux also takes IPv4 (dual stack), falling back to
  // 0.0.0.0 where IPv6 is missing.
  bool any_host = false;
  derp_addr addr{};  // the IP and port when !any_host; port only otherwise
};

// "1.2.3.4:443", "[::1]:443", ":443", and the port names "http"/"https" as Go accepts them. The host must be an IP
// literal: the driver does not resolve names. DERP_OK or DERP_ERR_ADDRESS.
int parse_listen_address(std::string_view text, ListenAddress* out);

// sockaddr_in / sockaddr_in6 → derp_addr with IPv4-mapped IPv6 turned into IPv4 (a dual-stack socket reports IPv4
// peers that way). Family NONE for anything else.
derp_addr from_sockaddr(const sockaddr* sa);
void to_sockaddr(const derp_addr& addr, sockaddr_storage* out);

// The wildcard of a family with a port: "[::]:port" or "0.0.0.0:port".
derp_addr wildcard(std::uint8_t family, std::uint16_t port);

}  // namespace derp::uv
