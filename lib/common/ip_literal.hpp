// Is a hostname an IP literal? Several TLS rules turn on it (reference §1.5): no SNI is sent for an IP
// (RFC 6066 §3), an IP is matched against iPAddress subjectAltNames, and derper makes a self-signed
// certificate when -hostname is an IP.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace derp {

struct IpLiteral {
  std::array<std::uint8_t, 16> bytes{};
  std::size_t size = 0;  // 4 for IPv4, 16 for IPv6: the iPAddress SAN octet-string length (RFC 5280 §4.2.1.6)
};

// Dotted-quad IPv4 or textual IPv6 (no brackets, no zone), as Go's net.ParseIP accepts; nullopt otherwise.
std::optional<IpLiteral> parse_ip_literal(std::string_view text);

inline bool is_ip_literal(std::string_view text) { return parse_ip_literal(text).has_value(); }

}  // namespace derp
