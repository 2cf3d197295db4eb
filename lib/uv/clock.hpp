// The driver's one clock: libuv's monotonic high-resolution time in nanoseconds, the unit every core call takes
// (ARCHITECTURE.md, "Time is always a parameter").
#pragma once

#include <uv.h>

#include "server/options.hpp"

namespace derp::uv {

using server::Nanos;

inline Nanos monotonic_now() { return uv_hrtime(); }

// Milliseconds until `deadline` for a uv_timer_t, rounded up so the timer never fires before the deadline (a core
// that is called a little early would only ask to be called again).
inline std::uint64_t millis_until(Nanos deadline, Nanos now) {
  if (deadline <= now) return 0;
  return (deadline - now + server::kMillisecond - 1) / server::kMillisecond;
}

}  // namespace derp::uv
