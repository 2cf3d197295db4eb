#include "netcheck/home_region.hpp"

#include <cstdint>
#include <optional>

namespace derp::netcheck {

namespace {

bool may_be_home(const derpmap::DerpMap& map, int region_id) {
  const auto it = map.regions.find(region_id);
  return it != map.regions.end() && !it->second.no_measure_no_home;
}

// Latency × RegionScore when the score is > 0 (Go ignores zero, negative and NaN scores).
std::int64_t scaled(const derpmap::DerpMap& map, int region_id, Nanos latency) {
  double d = static_cast<double>(latency);
  if (map.home_params) {
    const auto it = map.home_params->region_score.find(region_id);
    if (it != map.home_params->region_score.end() && it->second > 0) d *= it->second;
  }
  // A huge score must not overflow the conversion: clamp to something no real latency reaches.
  constexpr double kCap = 1e18;
  return static_cast<std::int64_t>(d > kCap ? kCap : d);
}

}  // namespace

int choose_home(const std::vector<RegionLatency>& regions, const derpmap::DerpMap& map, int previous_home,
                bool previous_home_active) {
  int chosen = 0;
  std::int64_t best = 0;
  std::int64_t old_latency = 0;  // 0 = the old home did not answer (Go's oldRegionCurLatency)
  for (const RegionLatency& r : regions) {
    const std::optional<Nanos> latency = r.best();
    if (!latency || !may_be_home(map, r.region_id)) continue;
    const std::int64_t d = scaled(map, r.region_id, *latency);
    if (r.region_id == previous_home) old_latency = d;
    if (chosen == 0 || d < best) {
      chosen = r.region_id;
      best = d;
    }
  }
  if (previous_home == 0 || chosen == previous_home || !may_be_home(map, previous_home)) return chosen;
  const bool old_reachable = old_latency != 0 || previous_home_active;
  if (!old_reachable) return chosen;
  // Go's two hysteresis rules (signed, as in Go: an old home that did not answer has latency 0 and is kept when
  // it is active, since 0 − best < 10 ms).
  const bool small_absolute_gain = old_latency - best < static_cast<std::int64_t>(kHomeAbsoluteMargin);
  const bool small_relative_gain = best > old_latency / 3 * 2;
  return (small_absolute_gain || small_relative_gain) ? previous_home : chosen;
}

}  // namespace derp::netcheck
