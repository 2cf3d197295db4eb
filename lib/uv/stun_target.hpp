// Where the direct path sends its STUN requests: a host (an IP literal or a DNS name) and a UDP port, as the user
// wrote it, or as the DERP URL implies. Tailscale's netcheck does the same for a DERP node: STUN port 0 in the map
// means 3478, and a node without an IP in the map has its host name looked up (once per probe, per family).
// Text in, fields out; nothing resolved here (UvDirectPath resolves names with uv_getaddrinfo).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "derp/common.h"

namespace derp::uv {

inline constexpr std::uint16_t kDefaultStunPort = 3478;  // tailcfg.DERPNode.STUNPort 0, and RFC 8489's port

struct StunTarget {
  std::string host;                  // without the brackets of an IPv6 literal
  std::uint16_t port = kDefaultStunPort;
  std::optional<derp_addr> literal;  // set when host is an IP literal (then no lookup is needed)
  bool is_name() const { return !literal.has_value(); }
};

// "host:port", "[ipv6]:port", "1.2.3.4:port", or any of them without ":port" (port 3478); a bare IPv6 literal
// ("::1") is taken as an address without a port. A name is letters, digits, '-', '_' and '.' (at most 253
// characters). DERP_OK, or DERP_ERR_ADDRESS (nothing else written).
int parse_stun_target(std::string_view text, StunTarget* out);

// The default STUN server for a DERP URL: its host (name or literal) on port 3478. nullopt when the URL does not
// parse.
std::optional<StunTarget> default_stun_target(std::string_view derp_url);

// "host:port" ("[v6]:port"), for log lines.
std::string format_stun_target(const StunTarget& t);

}  // namespace derp::uv
