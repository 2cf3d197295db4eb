// What a netcheck run is told: how hard to try, how long to wait, which families, and the previous home region.
// Defaults are those of Tailscale's first (full) report (net/netcheck/netcheck.go, reference §5).
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.hpp"
#include "common/time.hpp"
#include "crypto/random.hpp"

namespace derp::netcheck {

// Upper bound on tries per region and family: keeps the probe table a fixed, small multiple of the map's size.
inline constexpr int kMaxTries = 8;
// Upper bound on regions probed in one run (real maps have a few dozen); regions past it, by id, are left out.
inline constexpr std::size_t kMaxRegions = 1000;

struct Options {
  // STUN requests per region and family. Try k goes to the region's node k % node count (Go's initial plan).
  int tries = 3;
  // Try k is sent k × retry_interval after the start (Go: defaultInitialRetransmitTime, 100 ms).
  Nanos retry_interval = 100 * kMillisecond;
  // The whole run ends this long after it started, answered or not. Go's STUN phase is capped at 3 s
  // (stunProbeTimeout); its 5 s overall limit also covers HTTPS/ICMP fallbacks that this module does not do.
  Nanos timeout = 3 * kSecond;
  // Once this many regions have answered, wait at most twice the slowest latency seen so far for the rest, then
  // finish (Go's enoughRegions for a full report). 0 = wait for every region (or the timeout).
  int enough_regions = 3;
  bool ipv4 = true;
  bool ipv6 = true;

  // The home region before this run (0 = none). A new home must beat it clearly, or it is kept (reference §5).
  int previous_home = 0;
  // The host heard DERP traffic from previous_home recently (Go: a frame since the report began or in the last
  // 8 s), which counts as "still reachable" even when its STUN probes went unanswered.
  bool previous_home_active = false;

  // Fills transaction ids. Default: libsodium's CSPRNG. Tests pass a deterministic one. RFC 8489 §6: the id is
  // our only defence against off-path answers, so a real host wants real randomness.
  crypto::RandomSource random;
};

}  // namespace derp::netcheck
