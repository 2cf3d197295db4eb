#include "path/better_addr.hpp"

#include <cstring>

#include "common/address.hpp"

namespace derp::path {

namespace {

bool is_loopback(const derp_addr& a) {
  static const std::uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return a.family == DERP_AF_INET ? a.ip[0] == 127 : std::memcmp(a.ip, kV6Loopback, 16) == 0;
}

bool is_link_local(const derp_addr& a) {
  return a.family == DERP_AF_INET ? (a.ip[0] == 169 && a.ip[1] == 254) : (a.ip[0] == 0xfe && (a.ip[1] & 0xc0) == 0x80);
}

// Go's netip.Addr.IsPrivate: 10/8, 172.16/12, 192.168/16, fc00::/7.
bool is_private(const derp_addr& a) {
  if (a.family == DERP_AF_INET6) return (a.ip[0] & 0xfe) == 0xfc;
  return a.ip[0] == 10 || (a.ip[0] == 172 && (a.ip[1] & 0xf0) == 16) || (a.ip[0] == 192 && a.ip[1] == 168);
}

int kind_points(const derp_addr& a) {
  int points = is_loopback(a) ? 50 : is_link_local(a) ? 30 : is_private(a) ? 20 : 0;
  if (a.family == DERP_AF_INET6) points += 10;
  return points;
}

}  // namespace

bool better_addr(const AddrLatency& a_in, const AddrLatency& b_in) {
  const AddrLatency a{unmap_v4(a_in.addr), a_in.latency};
  const AddrLatency b{unmap_v4(b_in.addr), b_in.latency};
  if (a.addr.family == b.addr.family && derp::operator==(a.addr, b.addr)) return false;
  if (b.addr.family == DERP_AF_NONE) return true;
  if (a.addr.family == DERP_AF_NONE) return false;
  // The percentage by which the faster one beats the slower, in integer nanoseconds as Go computes it.
  int a_points = 0, b_points = 0;
  if (a.latency > b.latency && a.latency > 0) {
    b_points = static_cast<int>(100 - (b.latency * 100) / a.latency);
  } else if (b.latency > 0) {
    a_points = static_cast<int>(100 - (a.latency * 100) / b.latency);
  }
  a_points += kind_points(a.addr);
  b_points += kind_points(b.addr);
  if (a_points <= 1 && b_points == 0) return false;  // less than 1 % better: keep the current path
  return a_points > b_points;
}

}  // namespace derp::path
