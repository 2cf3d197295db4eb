// Which of two direct paths is better: magicsock's betterAddr at v1.36.2 (wgengine/magicsock/magicsock.go). The
// same address is never "better" than itself, which with the strict comparison below is the stickiness: a new
// path must be measurably faster to replace the current one. IPv6 wins unless it is more than ~11% slower.
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
