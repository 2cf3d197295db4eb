// A token bucket on accepted connections, like derper's -accept-connection-limit / -accept-connection-burst
// (reference §4.9): `rate` tokens per second up to `burst`; each accept takes one. A connection that finds the
// bucket empty is accepted and closed at once, so a flood of clients sees a quick failure and backs off.
#pragma once

#include <cstdint>
#include <limits>

#include "uv/clock.hpp"

namespace derp::uv {

class AcceptLimiter {
 public:
  static constexpr double kUnlimited = std::numeric_limits<double>::infinity();

  // rate: accepts per second (+inf, the default, admits everything); burst: the bucket's size, which is also what
  // it starts with. A zero burst with a finite rate admits nothing, as Go's rate.Limiter does.
  explicit AcceptLimiter(double rate = kUnlimited, std::uint64_t burst = std::numeric_limits<std::uint64_t>::max());

  // True when a token was available (and takes it).
  bool allow(Nanos now);

  bool unlimited() const { return unlimited_; }

 private:
  bool unlimited_;
  double rate_per_ns_;
  double burst_;
  double tokens_;
  Nanos last_ = 0;
  bool started_ = false;
};

}  // namespace derp::uv
