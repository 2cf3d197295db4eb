#include "uv/accept_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace derp::uv {

AcceptLimiter::AcceptLimiter(double rate, std::uint64_t burst)
    : unlimited_(std::isinf(rate) && rate > 0),
      rate_per_ns_(rate > 0 && !std::isinf(rate) ? rate / 1e9 : 0.0),
      burst_(static_cast<double>(burst)),
      tokens_(static_cast<double>(burst)) {}

bool AcceptLimiter::allow(Nanos now) {
  if (unlimited_) return true;
  if (started_ && now > last_) {
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now - last_) * rate_per_ns_);
  }
  started_ = true;
  last_ = std::max(last_, now);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

}  // namespace derp::uv
