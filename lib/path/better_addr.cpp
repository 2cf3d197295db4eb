#include "path/better_addr.hpp"

#include "common/address.hpp"

namespace derp::path {

bool better_addr(const AddrLatency& a, const AddrLatency& b) {
  if (a.addr.family == b.addr.family && derp::operator==(a.addr, b.addr)) return false;
  if (b.addr.family == DERP_AF_NONE) return true;
  if (a.addr.family == DERP_AF_NONE) return false;
  const bool a6 = a.addr.family == DERP_AF_INET6, b6 = b.addr.family == DERP_AF_INET6;
  if (a6 && !b6) {
    if (a.latency / 10 * 9 < b.latency) return true;  // integer nanoseconds, as Go computes it
  } else if (!a6 && b6) {
    if (better_addr(b, a)) return false;
  }
  return a.latency < b.latency;
}

}  // namespace derp::path
