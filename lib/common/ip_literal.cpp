#include "common/ip_literal.hpp"

#include <arpa/inet.h>

#include <string>

namespace derp {

std::optional<IpLiteral> parse_ip_literal(std::string_view text) {
  // Longest IPv6 text is 45 characters; anything longer is not an address (and keeps the copy small).
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string nul_terminated(text);
  IpLiteral ip;
  if (inet_pton(AF_INET, nul_terminated.c_str(), ip.bytes.data()) == 1) {
    ip.size = 4;
    return ip;
  }
  if (inet_pton(AF_INET6, nul_terminated.c_str(), ip.bytes.data()) == 1) {
    ip.size = 16;
    return ip;
  }
  return std::nullopt;
}

}  // namespace derp
