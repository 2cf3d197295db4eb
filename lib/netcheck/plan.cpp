#include "netcheck/plan.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

#include "common/address.hpp"
#include "common/ip_literal.hpp"

namespace derp::netcheck {

namespace {

using derpmap::DialAddress;

std::size_t family_size(Family family) { return family == Family::kIPv4 ? 4 : 16; }

// An IP literal of exactly this family (Go: ip.Is4() / ip.Is6(); a v4-mapped IPv6 literal is not IPv4).
std::optional<derp_addr> literal_of(std::string_view text, Family family, std::uint16_t port) {
  const auto ip = parse_ip_literal(text);
  if (!ip || ip->size != family_size(family)) return std::nullopt;
  return family == Family::kIPv4 ? make_addr_v4(ip->bytes.data(), port) : make_addr_v6(ip->bytes.data(), port);
}

DialAddress dial_of(const derpmap::DerpNode& node, Family family) {
  return family == Family::kIPv4 ? derpmap::node_ipv4_dial(node) : derpmap::node_ipv6_dial(node);
}

}  // namespace

const char* family_name(Family family) { return family == Family::kIPv4 ? "v4" : "v6"; }

Target stun_target(const derpmap::DerpNode& node, Family family) {
  Target t;
  const std::optional<std::uint16_t> port = derpmap::effective_stun_port(node);
  if (!port) return t;  // STUN off for this node
  t.port = *port;
  if (!node.stun_test_ip.empty()) {
    if (auto a = literal_of(node.stun_test_ip, family, *port)) {
      t.kind = Target::Kind::kAddress;
      t.address = *a;
    }
    return t;
  }
  const DialAddress dial = dial_of(node, family);
  switch (dial.kind) {
    case DialAddress::Kind::kAddress:
      if (auto a = literal_of(dial.ip, family, *port)) {
        t.kind = Target::Kind::kAddress;
        t.address = *a;
      }
      break;
    case DialAddress::Kind::kUseDns:
      if (!node.host_name.empty()) {
        t.kind = Target::Kind::kResolve;
        t.host = node.host_name;
      }
      break;
    case DialAddress::Kind::kDisabled: break;
  }
  return t;
}

Plan make_initial_plan(const derpmap::DerpMap& map, const Options& options) {
  Plan plan;
  const int tries = std::clamp(options.tries, 1, kMaxTries);
  for (const auto& [region_id, region] : map.regions) {
    if (region.nodes.empty() || region.no_measure_no_home) continue;
    if (plan.regions.size() == kMaxRegions) {
      plan.truncated = true;
      break;
    }
    bool probed = false;
    for (const Family family : {Family::kIPv4, Family::kIPv6}) {
      if (family == Family::kIPv4 ? !options.ipv4 : !options.ipv6) continue;
      const std::size_t set = plan.sets.size();
      bool any = false;
      for (int k = 0; k < tries; ++k) {
        const derpmap::DerpNode& node = region.nodes[static_cast<std::size_t>(k) % region.nodes.size()];
        // Go's nodeMight4/6 and the "none" check: a field that is set but not an IP of this family turns the
        // family off for this node. The address itself is settled by stun_target (STUNTestIP may override it).
        if (dial_of(node, family).kind == DialAddress::Kind::kDisabled) continue;
        PlannedProbe p;
        p.region_id = region_id;
        p.set = set;
        p.try_index = k;
        p.family = family;
        p.delay = static_cast<Nanos>(k) * options.retry_interval;
        p.node_name = node.name;
        p.target = stun_target(node, family);
        plan.probes.push_back(std::move(p));
        any = true;
      }
      if (any) {
        plan.sets.push_back(ProbeSet{region_id, family});
        probed = true;
      }
    }
    if (probed) plan.regions.push_back(region_id);
  }
  std::stable_sort(plan.probes.begin(), plan.probes.end(),
                   [](const PlannedProbe& a, const PlannedProbe& b) { return a.delay < b.delay; });
  return plan;
}

}  // namespace derp::netcheck
