// Choosing the home (preferred) DERP region from one report's latencies: Go's
// addReportHistoryAndSetPreferredDERP (net/netcheck/netcheck.go, reference §5) for a single report, without the
// 5-minute history (a host that keeps history can feed its best latencies in as `regions`).
#pragma once

#include <vector>

#include "derpmap/derpmap.hpp"
#include "common/time.hpp"
#include "netcheck/report.hpp"

namespace derp::netcheck {

// Go's preferredDERPAbsoluteDiff: a new home must be at least this much faster than a reachable old one.
inline constexpr Nanos kHomeAbsoluteMargin = 10 * kMillisecond;

// The region with the lowest best latency, scaled by HomeParams.RegionScore[id] when that is > 0; ties go to the
// lower region id. NoMeasureNoHome regions and regions not in the map never win. Then stickiness: when
// previous_home (0 = none) is still reachable (it answered now, or previous_home_active) the old home is kept
// unless the new one is both ≥ 10 ms faster and faster than ⅔ of the old latency. 0 when nothing qualifies.
int choose_home(const std::vector<RegionLatency>& regions, const derpmap::DerpMap& map, int previous_home,
                bool previous_home_active);

}  // namespace derp::netcheck
