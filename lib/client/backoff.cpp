// Reconnect timing: jittered exponential backoff, overridden for a while by the server's Restarting hint.
#include "client/backoff.hpp"

#include <algorithm>

namespace derp::client {

namespace {

Nanos add_saturating(Nanos a, Nanos b) { return b > kNever - 1 - a ? kNever - 1 : a + b; }

}  // namespace

ReconnectPolicy::ReconnectPolicy(BackoffOptions options, std::uint64_t seed) : options_(options), rng_(seed) {
  if (options_.base == 0) options_.base = 1;
  if (options_.max < options_.base) options_.max = options_.base;
}

double ReconnectPolicy::next_jitter() {
  // splitmix64: any seed (0 included) gives a full-period sequence, and a host seeds each client differently so a
  // fleet that lost the same server does not come back in lockstep.
  rng_ += 0x9e3779b97f4a7c15ull;
  std::uint64_t z = rng_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return 0.5 + static_cast<double>(z >> 11) * 0x1.0p-53;  // 53 random bits: [0.5, 1.5)
}

Nanos ReconnectPolicy::on_failure(Nanos now) {
  if (failures_ < UINT32_MAX) ++failures_;
  if (restart_pending_) {
    // The first dial after a Restarting: when the server said, not sooner (it chose the delay to smear the herd).
    restart_pending_ = false;
    return std::max(now, restart_first_dial_at_);
  }
  if (now < restart_hint_until_) return add_saturating(now, restart_retry_every_);

  // base × 2^(n-1), capped at max before the jitter (doubling stops as soon as the cap is reached).
  Nanos delay = options_.base;
  for (std::uint32_t i = 1; i < failures_ && delay < options_.max; ++i) {
    delay = delay > options_.max / 2 ? options_.max : delay * 2;
  }
  delay = std::min(delay, options_.max);
  const double jittered = static_cast<double>(delay) * next_jitter();
  const Nanos result = jittered >= 9.2e18 ? Nanos{9'200'000'000'000'000'000ull} : static_cast<Nanos>(jittered);
  return add_saturating(now, result);
}

void ReconnectPolicy::on_success() {
  failures_ = 0;
  // Back on: whatever the server said about its restart is over.
  restart_pending_ = false;
  restart_hint_until_ = 0;
}

void ReconnectPolicy::on_restarting(Nanos now, Nanos reconnect_in, Nanos try_for) {
  restart_pending_ = true;
  restart_first_dial_at_ = add_saturating(now, reconnect_in);
  restart_hint_until_ = add_saturating(now, try_for);
  restart_retry_every_ = reconnect_in > 0 ? reconnect_in : options_.base;
}

}  // namespace derp::client
