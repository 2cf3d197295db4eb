#include "common/address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace derp {

namespace {
constexpr std::uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}

derp_addr make_addr_v4(const std::uint8_t ip[4], std::uint16_t port) {
  derp_addr a{};
  a.family = DERP_AF_INET;
  a.port = port;
  std::memcpy(a.ip, ip, 4);
  return a;
}

derp_addr make_addr_v6(const std::uint8_t ip[16], std::uint16_t port) {
  derp_addr a{};
  a.family = DERP_AF_INET6;
  a.port = port;
  std::memcpy(a.ip, ip, 16);
  return a;
}

derp_addr unmap_v4(const derp_addr& addr) {
  if (addr.family == DERP_AF_INET6 && std::memcmp(addr.ip, kV4MappedPrefix, 12) == 0) {
    return make_addr_v4(addr.ip + 12, addr.port);
  }
  return addr;
}

void addr_to_16(const derp_addr& addr, std::uint8_t out[16]) {
  std::memset(out, 0, 16);
  if (addr.family == DERP_AF_INET) {
    std::memcpy(out, kV4MappedPrefix, 12);
    std::memcpy(out + 12, addr.ip, 4);
  } else if (addr.family == DERP_AF_INET6) {
    std::memcpy(out, addr.ip, 16);
  }
}

std::string format_addr(const derp_addr& addr) {
  char ip[INET6_ADDRSTRLEN] = {0};
  if (addr.family == DERP_AF_INET) {
    inet_ntop(AF_INET, addr.ip, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(addr.port);
  }
  if (addr.family == DERP_AF_INET6) {
    inet_ntop(AF_INET6, addr.ip, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(addr.port);
  }
  return "";
}

int parse_addr(const char* text, derp_addr* out) {
  if (text == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  std::string s(text);
  std::string host;
  std::string port;
  int family = AF_INET;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find("]:");
    if (close == std::string::npos) return DERP_ERR_ADDRESS;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    family = AF_INET6;
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon) return DERP_ERR_ADDRESS;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5) return DERP_ERR_ADDRESS;
  unsigned long port_value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return DERP_ERR_ADDRESS;
    port_value = port_value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (port_value > 65535) return DERP_ERR_ADDRESS;
  std::uint8_t ip[16] = {0};
  if (inet_pton(family, host.c_str(), ip) != 1) return DERP_ERR_ADDRESS;
  *out = family == AF_INET ? make_addr_v4(ip, static_cast<std::uint16_t>(port_value))
                           : make_addr_v6(ip, static_cast<std::uint16_t>(port_value));
  return DERP_OK;
}

bool operator==(const derp_addr& a, const derp_addr& b) {
  if (a.family != b.family || a.port != b.port) return false;
  const std::size_t n = a.family == DERP_AF_INET ? 4 : a.family == DERP_AF_INET6 ? 16 : 0;
  return std::memcmp(a.ip, b.ip, n) == 0;
}

}  // namespace derp
