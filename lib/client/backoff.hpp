// When a reconnecting client dials again: jittered exponential backoff after failures, and the server's Restarting
// hints (reference §5 "backoff", frame Restarting). Sans-IO: the host passes the time and a seed; the policy only
// answers "when".
//
//   failure n (consecutive, n >= 1): delay = min(base × 2^(n-1), max) × random[0.5, 1.5)
//   success (a connection reached on_connected): n = 0
//   Restarting(reconnect_in, try_for) received at t: the next dial is at t + reconnect_in (no jitter: the server
//     chose it), and until t + try_for failures retry every reconnect_in (or base, when that is 0) instead of
//     backing off — the server said it is coming back.
#pragma once

#include <cstdint>

#include "common/time.hpp"

namespace derp::client {

struct BackoffOptions {
  Nanos base = 100 * kMillisecond;
  Nanos max = 10 * kSecond;
};

class ReconnectPolicy {
 public:
  explicit ReconnectPolicy(BackoffOptions options = {}, std::uint64_t seed = 0x2545f4914f6cdd1dull);

  // A dial or a connection failed (or an established connection was lost) at now: returns when to dial next.
  Nanos on_failure(Nanos now);
  // A connection completed its handshake.
  void on_success();
  // The server sent Restarting at now.
  void on_restarting(Nanos now, Nanos reconnect_in, Nanos try_for);

  std::uint32_t consecutive_failures() const { return failures_; }

 private:
  double next_jitter();  // in [0.5, 1.5)

  BackoffOptions options_;
  std::uint64_t rng_;
  std::uint32_t failures_ = 0;
  Nanos restart_hint_until_ = 0;
  Nanos restart_retry_every_ = 0;
  Nanos restart_first_dial_at_ = 0;
  bool restart_pending_ = false;
};

}  // namespace derp::client
