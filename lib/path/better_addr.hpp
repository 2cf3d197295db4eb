// Which of two direct paths is better: magicsock's current betterAddr (wgengine/magicsock/endpoint.go, the points
// version; our reference §9.4 describes it, its §6.5 still shows v1.36.2's, which switched on any faster Pong and
// so flapped between two equally fast paths). Each side gets the percentage by which it is faster than the
// slower of the two, plus +50 for loopback, +30 for link-local, +20 for a private address (RFC 1918, fc00::/7),
// +10 for IPv6; the higher score wins, but a challenger must beat a zero-point incumbent by more than 1 point
// (the stickiness). The same address is never better than itself. (No MTU or relay terms: we probe neither.)
#pragma once

#include "common/time.hpp"
#include "derp/common.h"

namespace derp::path {

struct AddrLatency {
  derp_addr addr{};  // family DERP_AF_NONE: none
  Nanos latency = 0;
};

bool better_addr(const AddrLatency& a, const AddrLatency& b);

}  // namespace derp::path
