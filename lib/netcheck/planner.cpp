#include "netcheck/planner.hpp"

#include <algorithm>
#include <cstring>
#include "common/address.hpp"
#include "netcheck/home_region.hpp"

namespace derp::netcheck {

namespace {

bool same_ip(const derp_addr& a, const derp_addr& b) {
  if (a.family != b.family) return false;
  return std::memcmp(a.ip, b.ip, a.family == DERP_AF_INET ? 4 : 16) == 0;
}

bool is_open(ProbeState s) { return s == ProbeState::kWaiting || s == ProbeState::kSent; }

// Hard NAT: answers from two different server IPs disagree about our mapped ip:port. Answers from the same server
// IP say nothing about a destination-dependent mapping, so they are not compared. nullopt until two server IPs
// have answered.
std::optional<bool> mapping_varies(const std::vector<ProbeRecord>& probes, const std::vector<std::size_t>& v4) {
  bool two_servers = false;
  for (std::size_t i = 0; i < v4.size(); ++i) {
    for (std::size_t j = i + 1; j < v4.size(); ++j) {
      const ProbeRecord& a = probes[v4[i]];
      const ProbeRecord& b = probes[v4[j]];
      if (same_ip(a.destination, b.destination)) continue;
      if (!(a.mapped == b.mapped)) return true;
      two_servers = true;
    }
  }
  return two_servers ? std::optional<bool>(false) : std::nullopt;
}

}  // namespace

const char* probe_state_name(ProbeState state) {
  switch (state) {
    case ProbeState::kWaiting: return "waiting";
    case ProbeState::kSent: return "sent";
    case ProbeState::kAnswered: return "answered";
    case ProbeState::kSkipped: return "skipped";
    case ProbeState::kFailed: return "failed";
  }
  return "?";
}

std::optional<Nanos> RegionLatency::best() const {
  if (v4 && v6) return std::min(*v4, *v6);
  return v4 ? v4 : v6;
}

Planner::Planner(const derpmap::DerpMap& map, const Options& options, Nanos now)
    : map_(map), options_(options), plan_(make_initial_plan(map, options)), start_(now) {
  options_.tries = std::clamp(options_.tries, 1, kMaxTries);
  sets_.resize(plan_.sets.size());
  probes_.reserve(plan_.probes.size());
  for (const PlannedProbe& p : plan_.probes) {
    ProbeRecord r;
    r.plan = p;
    if (p.target.kind == Target::Kind::kAddress) r.destination = p.target.address;
    if (p.target.kind == Target::Kind::kResolve) {
      const auto key = std::make_pair(p.target.host, p.family);
      if (lookup_table_.emplace(key, LookupEntry{}).second) lookups_.push_back(Lookup{p.target.host, p.family});
    }
    sets_[p.set].open++;
    probes_.push_back(std::move(r));
  }
  finish_if_settled(now);  // an empty plan is over at once
}

const Planner::LookupEntry* Planner::lookup_of(const ProbeRecord& probe) const {
  const auto it = lookup_table_.find(std::make_pair(probe.plan.target.host, probe.plan.family));
  return it == lookup_table_.end() ? nullptr : &it->second;
}

void Planner::move_to(ProbeRecord& probe, ProbeState state) {
  if (is_open(probe.state) && !is_open(state)) sets_[probe.plan.set].open--;
  probe.state = state;
}

void Planner::resolved(std::string_view host, Family family, std::span<const derp_addr> addresses, Nanos now) {
  if (done_) return;
  const auto it = lookup_table_.find(std::make_pair(std::string(host), family));
  if (it == lookup_table_.end() || it->second.state != LookupState::kPending) return;
  LookupEntry& entry = it->second;
  entry.state = LookupState::kFailed;
  for (const derp_addr& a : addresses) {
    const derp_addr plain = unmap_v4(a);
    if ((family == Family::kIPv4 && plain.family == DERP_AF_INET) ||
        (family == Family::kIPv6 && plain.family == DERP_AF_INET6)) {
      entry.state = LookupState::kResolved;
      entry.address = plain;
      break;
    }
  }
  for (ProbeRecord& p : probes_) {
    if (p.state != ProbeState::kWaiting || p.plan.target.kind != Target::Kind::kResolve) continue;
    if (p.plan.family != family || p.plan.target.host != host) continue;
    if (entry.state == LookupState::kFailed) {
      move_to(p, ProbeState::kSkipped);
    } else {
      p.destination = entry.address;
      p.destination.port = p.plan.target.port;
    }
  }
  finish_if_settled(now);
}

// Go's probeWouldHelp: a region not yet measured; the first IPv6 result overall; or IPv4 while hard vs easy NAT is
// still unknown.
bool Planner::would_help(const ProbeRecord& probe) const {
  if (!measured_regions_.contains(probe.plan.region_id)) return true;
  if (probe.plan.family == Family::kIPv6 && !any_v6_answer_) return true;
  if (probe.plan.family == Family::kIPv4 && !mapping_varies(probes_, v4_answers_)) return true;
  return false;
}

void Planner::cancel_set(std::size_t set) {
  sets_[set].cancelled = true;
  for (ProbeRecord& p : probes_) {
    if (p.plan.set == set && p.state == ProbeState::kWaiting) move_to(p, ProbeState::kSkipped);
  }
}

void Planner::new_transaction_id(std::size_t probe) {
  stun::TransactionId& id = probes_[probe].transaction_id;
  // A poor random source (a test's) could repeat itself; an id must name one request only.
  for (int attempt = 0; attempt < 4; ++attempt) {
    options_.random(MutableBytes(id.data(), id.size()));
    if (!outstanding_.contains(id)) return;
  }
  std::uint32_t salt = static_cast<std::uint32_t>(probe) ^ 0x9e3779b9u;
  do {
    store_be32(id.data() + 8, load_be32(id.data() + 8) ^ salt++);
  } while (outstanding_.contains(id));
}

bool Planner::poll_transmit(Nanos now, Transmit* out) {
  if (done_ || out == nullptr) return false;
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    ProbeRecord& p = probes_[i];
    if (p.state != ProbeState::kWaiting) continue;
    if (now < start_ + p.plan.delay) break;  // sorted by delay: nothing later is due either
    if (p.plan.target.kind == Target::Kind::kNone) {
      move_to(p, ProbeState::kSkipped);
      continue;
    }
    if (p.destination.family == DERP_AF_NONE) continue;  // DNS still pending (failed lookups were skipped)
    if (sets_[p.plan.set].answered || sets_[p.plan.set].cancelled) {
      move_to(p, ProbeState::kSkipped);
      continue;
    }
    if (!would_help(p)) {
      cancel_set(p.plan.set);
      continue;
    }
    new_transaction_id(i);
    std::size_t length = 0;
    if (stun::build_tailscale_request(p.transaction_id, MutableBytes(out->bytes.data(), out->bytes.size()),
                                      &length) != DERP_OK) {
      move_to(p, ProbeState::kFailed);  // cannot happen: the buffer is exactly the request's size
      continue;
    }
    p.state = ProbeState::kSent;
    p.sent_at = now;
    outstanding_.emplace(p.transaction_id, i);
    out->probe = i;
    out->to = p.destination;
    return true;
  }
  finish_if_settled(now);
  return false;
}

void Planner::send_failed(std::size_t probe, Nanos now) {
  if (done_ || probe >= probes_.size() || probes_[probe].state != ProbeState::kSent) return;
  outstanding_.erase(probes_[probe].transaction_id);
  move_to(probes_[probe], ProbeState::kFailed);
  finish_if_settled(now);
}

void Planner::family_unavailable(Family family, Nanos now) {
  if (done_) return;
  for (ProbeRecord& p : probes_) {
    if (p.plan.family == family && p.state == ProbeState::kWaiting) move_to(p, ProbeState::kSkipped);
  }
  finish_if_settled(now);
}

bool Planner::receive(Bytes datagram, const derp_addr& from, Nanos now) {
  if (done_) return false;
  stun::BindingResult result;
  if (stun::parse_binding_response(datagram, &result) != DERP_OK) return false;
  const auto it = outstanding_.find(result.transaction_id);
  if (it == outstanding_.end()) return false;
  const std::size_t index = it->second;
  outstanding_.erase(it);
  ProbeRecord& p = probes_[index];
  move_to(p, ProbeState::kAnswered);
  p.answered_at = now;
  p.mapped = result.address;
  p.answered_from = from;
  p.answer_order = ++answers_;
  measured_regions_.insert(p.plan.region_id);
  if (p.mapped.family == DERP_AF_INET6) any_v6_answer_ = true;
  if (p.mapped.family == DERP_AF_INET) v4_answers_.push_back(index);
  SetState& set = sets_[p.plan.set];
  if (!set.answered) {
    set.answered = true;
    // Go cancels the rest of the set: later tries are not sent, but answers to tries already out still count.
    for (ProbeRecord& other : probes_) {
      if (other.plan.set == p.plan.set && other.state == ProbeState::kWaiting) move_to(other, ProbeState::kSkipped);
    }
  }
  on_answer(now);
  finish_if_settled(now);
  return true;
}

// Go's addNodeLatency: once `enough_regions` regions have answered, give the rest twice the slowest latency so far.
void Planner::on_answer(Nanos now) {
  if (options_.enough_regions <= 0 || early_deadline_ != kNever) return;
  const std::vector<RegionLatency> lat = latencies();
  int measured = 0;
  Nanos slowest = 0;
  for (const RegionLatency& r : lat) {
    if (const auto b = r.best()) {
      ++measured;
      slowest = std::max(slowest, *b);
    }
  }
  if (measured >= options_.enough_regions) early_deadline_ = now + 2 * slowest;
}

// Open while any probe may still be sent or answered: an unanswered request keeps its set open until the timeout,
// as in Go.
bool Planner::set_settled(std::size_t set) const {
  return sets_[set].answered || sets_[set].cancelled || sets_[set].open == 0;
}

void Planner::finish_if_settled(Nanos now) {
  if (done_) return;
  if (now >= start_ + options_.timeout) return finish(now, true);
  if (now >= early_deadline_) return finish(now, false);
  for (std::size_t s = 0; s < sets_.size(); ++s) {
    if (!set_settled(s)) return;
  }
  finish(now, false);
}

void Planner::finish(Nanos /*now*/, bool timed_out) {
  done_ = true;
  timed_out_ = timed_out;
  outstanding_.clear();
  for (ProbeRecord& p : probes_) {
    if (p.state == ProbeState::kWaiting) move_to(p, ProbeState::kSkipped);
  }
}

Nanos Planner::deadline() const {
  if (done_) return kNever;
  Nanos next = std::min(start_ + options_.timeout, early_deadline_);
  // The first waiting probe that only waits for its time (probes are sorted by delay). One waiting for DNS is
  // woken by resolved(), not by the clock.
  for (const ProbeRecord& p : probes_) {
    if (p.state != ProbeState::kWaiting) continue;
    if (p.plan.target.kind == Target::Kind::kResolve && p.destination.family == DERP_AF_NONE) continue;
    next = std::min(next, start_ + p.plan.delay);
    break;
  }
  return next;
}

void Planner::tick(Nanos now) { finish_if_settled(now); }

std::vector<RegionLatency> Planner::latencies() const {
  std::vector<RegionLatency> out;
  out.reserve(plan_.regions.size());
  for (const int id : plan_.regions) out.push_back(RegionLatency{id, std::nullopt, std::nullopt});
  for (const ProbeRecord& p : probes_) {
    if (p.state != ProbeState::kAnswered) continue;
    const auto it = std::lower_bound(out.begin(), out.end(), p.plan.region_id,
                                     [](const RegionLatency& r, int id) { return r.region_id < id; });
    if (it == out.end() || it->region_id != p.plan.region_id) continue;
    // A zero round trip (same `now` for send and answer) is still a measurement; Go treats 0 as "none".
    const Nanos d = std::max<Nanos>(p.answered_at - p.sent_at, 1);
    // Go files the latency under the family of the mapped address it got back.
    std::optional<Nanos>& slot = p.mapped.family == DERP_AF_INET6 ? it->v6 : it->v4;
    if (!slot || d < *slot) slot = d;
  }
  return out;
}

Report Planner::report() const {
  Report r;
  r.regions = latencies();
  const ProbeRecord* first_v4 = nullptr;
  const ProbeRecord* last_v6 = nullptr;
  for (const ProbeRecord& p : probes_) {
    if (p.state != ProbeState::kAnswered) continue;
    r.udp = true;
    if (p.mapped.family == DERP_AF_INET6) {
      r.ipv6 = true;
      if (last_v6 == nullptr || p.answer_order > last_v6->answer_order) last_v6 = &p;
    } else if (p.mapped.family == DERP_AF_INET) {
      r.ipv4 = true;
      if (first_v4 == nullptr || p.answer_order < first_v4->answer_order) first_v4 = &p;
    }
  }
  if (first_v4 != nullptr) r.global_v4 = first_v4->mapped;
  if (last_v6 != nullptr) r.global_v6 = last_v6->mapped;
  r.mapping_varies_by_dest_ip = mapping_varies(probes_, v4_answers_);
  r.preferred_region = choose_home(r.regions, map_, options_.previous_home, options_.previous_home_active);
  r.timed_out = timed_out_;
  return r;
}

}  // namespace derp::netcheck
