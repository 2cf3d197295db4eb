// A limit on how many lines of one kind a log gets: at most `burst` lines per window of `window` nanoseconds, the
// rest counted as suppressed so the next line let through can say how many were left out. Fixed windows, starting
// at the first line: simple, deterministic, and enough to keep a flood of 10,000 connections from writing 20,000
// lines. Sans-IO like the cores that use it: the caller passes `now` (monotonic ns); it never reads a clock.
#pragma once

#include <cstdint>

#include "common/time.hpp"

namespace derp {

class LogRateLimiter {
 public:
  LogRateLimiter(std::uint32_t burst, Nanos window) : burst_(burst), window_(window) {}

  // True: write this line. False: it is suppressed (and counted).
  bool allow(Nanos now) {
    if (!started_ || now - window_start_ >= window_) {
      started_ = true;
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ < burst_) {
      ++in_window_;
      return true;
    }
    ++suppressed_;
    ++suppressed_total_;
    return false;
  }

  // Lines suppressed since the last call; the count restarts at zero.
  std::uint64_t take_suppressed() {
    const std::uint64_t n = suppressed_;
    suppressed_ = 0;
    return n;
  }
  std::uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  std::uint32_t burst_;
  Nanos window_;
  Nanos window_start_ = 0;
  std::uint32_t in_window_ = 0;
  bool started_ = false;
  std::uint64_t suppressed_ = 0;
  std::uint64_t suppressed_total_ = 0;
};

}  // namespace derp
