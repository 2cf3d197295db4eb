// The probe plan of a full netcheck report: which STUN requests go to which node, over which family, when.
// Follows Go's makeProbePlanInitial (net/netcheck/netcheck.go) and nodeAddr for the address of each probe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "derpmap/derpmap.hpp"
#include "common/time.hpp"
#include "derp/common.h"
#include "netcheck/options.hpp"

namespace derp::netcheck {

enum class Family : std::uint8_t { kIPv4 = DERP_AF_INET, kIPv6 = DERP_AF_INET6 };
const char* family_name(Family family);  // "v4" / "v6"

// Where one probe goes, as far as the map says without DNS.
struct Target {
  enum class Kind : std::uint8_t {
    kAddress,  // `address` is ready (an IP field or STUNTestIP of the right family)
    kResolve,  // resolve `host` (A or AAAA by the probe's family), then use `port`
    kNone,     // no usable address in this family (STUN off, a bad STUNTestIP, an IP of the other family)
  };
  Kind kind = Kind::kNone;
  derp_addr address{};
  std::string host;
  std::uint16_t port = 0;
};

// Go's nodeAddr: port STUNPort (0 → 3478, −1 → off); STUNTestIP, when set, replaces everything else (and must be of
// the probe's family); else the IPv4/IPv6 field as an IP literal, or DNS on HostName when the field is empty.
Target stun_target(const derpmap::DerpNode& node, Family family);

struct PlannedProbe {
  int region_id = 0;     // the region's key in the map (tailscale looks regions up by it)
  std::size_t set = 0;   // index into Plan::sets
  int try_index = 0;     // 0-based
  Family family = Family::kIPv4;
  Nanos delay = 0;       // after the start of the run
  std::string node_name;
  Target target;
};

// One region over one family: done as soon as any of its probes is answered (Go's probe set).
struct ProbeSet {
  int region_id = 0;
  Family family = Family::kIPv4;
};

struct Plan {
  std::vector<ProbeSet> sets;
  std::vector<PlannedProbe> probes;  // sorted by delay, then by set
  std::vector<int> regions;          // regions with at least one probe, ascending
  bool truncated = false;            // the map had more than kMaxRegions probeable regions
};

// Every region that has nodes and is not NoMeasureNoHome (reference §5: such regions are neither measured nor made
// home); per family enabled in options, `tries` probes at k × retry_interval to node k % node count, skipping a
// node whose field for that family is set but not an IP of that family ("none" by convention).
Plan make_initial_plan(const derpmap::DerpMap& map, const Options& options);

}  // namespace derp::netcheck
