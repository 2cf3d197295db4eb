// What a netcheck run found: Tailscale's netcheck.Report, minus what this module does not measure (HTTPS/ICMP
// latency, port mapping, captive portals).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "derp/common.h"

namespace derp::netcheck {

struct RegionLatency {
  int region_id = 0;
  std::optional<Nanos> v4;  // best IPv4 STUN round trip, if any answered
  std::optional<Nanos> v6;
  std::optional<Nanos> best() const;  // the smaller of v4 and v6
};

struct Report {
  bool udp = false;   // some STUN round trip completed
  bool ipv4 = false;  // an IPv4 round trip completed (classified by the mapped address, as Go does)
  bool ipv6 = false;
  derp_addr global_v4{};  // family NONE when unknown; the first IPv4 mapping seen (Go's GlobalV4)
  derp_addr global_v6{};  // the latest IPv6 mapping seen (Go's GlobalV6)
  // Hard NAT: two IPv4 answers from different server IPs showed different mapped ip:port. nullopt while fewer than
  // two server IPs have answered over IPv4.
  std::optional<bool> mapping_varies_by_dest_ip;
  int preferred_region = 0;              // 0 = none
  std::vector<RegionLatency> regions;    // every region probed, by region id; unanswered ones have no latency
  bool timed_out = false;                // the run ended at its timeout rather than with every probe settled
};

}  // namespace derp::netcheck
