// One netcheck run as a sans-IO state machine (ARCHITECTURE.md): it decides which Tailscale-style STUN requests
// to send where and when, matches the answers, and turns them into a Report (UDP, public ip:port per family, hard
// vs easy NAT, latency per region, home region). It never touches a socket, a clock, a resolver or a thread.
//
// Host loop:
//   Planner p(map, options, now);
//   for each p.lookups(): resolve it (A or AAAA), then p.resolved(host, family, addresses, now)  (any time)
//   loop:
//     while (p.poll_transmit(now, &t)) send t.bytes to t.to over a UDP socket of t.to's family
//                                      (p.send_failed(t.probe, now) when the send fails)
//     every datagram that arrives on those sockets: p.receive(bytes, from, now)
//     arm a timer at p.deadline(); when it fires, p.tick(now)
//   until p.done(); then p.report().
// A host without a socket for a family calls p.family_unavailable(family, now) so the run does not wait for it.
//
// Matching is by transaction id alone (RFC 8489 §6.3.1; Go's netcheck does the same): anything that is not a
// binding success response for one of our outstanding requests is ignored and changes nothing. Duplicate answers
// count once. Answers after done() are ignored.
//
// Bounds: the probe table is fixed when the planner is built (at most kMaxRegions × 2 families × kMaxTries
// entries); nothing grows with what arrives from the network.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "derpmap/derpmap.hpp"
#include "common/bytes.hpp"
#include "common/time.hpp"
#include "derp/common.h"
#include "netcheck/options.hpp"
#include "netcheck/plan.hpp"
#include "netcheck/report.hpp"
#include "stun/constants.hpp"
#include "stun/tailscale.hpp"

namespace derp::netcheck {

enum class ProbeState : std::uint8_t {
  kWaiting,   // not sent yet: not due, or waiting for DNS
  kSent,      // request out, no answer yet
  kAnswered,  // a binding success response matched it
  kSkipped,   // never sent: no address, DNS failed, family unavailable, its set was settled, or the run ended
  kFailed,    // the host could not send it
};
const char* probe_state_name(ProbeState state);

struct ProbeRecord {
  PlannedProbe plan;
  ProbeState state = ProbeState::kWaiting;
  derp_addr destination{};  // set once known (from the map, or after DNS)
  stun::TransactionId transaction_id{};
  Nanos sent_at = 0;
  Nanos answered_at = 0;
  derp_addr mapped{};       // our address as that server saw it (kAnswered)
  derp_addr answered_from{};
  std::uint32_t answer_order = 0;  // 1 for the first answer of the run, 2 for the next, ...
};

// A host name to resolve for one family.
struct Lookup {
  std::string host;
  Family family = Family::kIPv4;
  bool operator==(const Lookup&) const = default;
};

// One request to send.
struct Transmit {
  std::size_t probe = 0;  // index into probes()
  derp_addr to{};
  std::array<std::uint8_t, stun::kTailscaleRequestSize> bytes{};
  Bytes datagram() const { return Bytes(bytes.data(), bytes.size()); }
};

class Planner {
 public:
  // Plans every probe (make_initial_plan) and starts the clock at `now`. options.tries is clamped to
  // 1..kMaxTries.
  Planner(const derpmap::DerpMap& map, const Options& options, Nanos now);

  // Host names the run needs, each once per family, in plan order. Constant for the planner's life.
  const std::vector<Lookup>& lookups() const { return lookups_; }
  // The answer to a lookup: the first address of the right family is used (IPv4-mapped IPv6 counts as IPv4).
  // No such address means the lookup failed and its probes are skipped. Unknown or repeated lookups are ignored.
  void resolved(std::string_view host, Family family, std::span<const derp_addr> addresses, Nanos now);

  // The next request that is due at `now`, marked sent at `now`; false when none is due (or done()).
  bool poll_transmit(Nanos now, Transmit* out);
  // The host could not send probe `probe` (no route, no socket): it will not be answered.
  void send_failed(std::size_t probe, Nanos now);
  // No socket for this family: every probe of that family not yet sent is skipped.
  void family_unavailable(Family family, Nanos now);

  // A datagram from a UDP socket of the run. True when it answered one of our outstanding requests; anything
  // else (not STUN, another transaction, a duplicate, malformed, after done()) is ignored and false.
  bool receive(Bytes datagram, const derp_addr& from, Nanos now);

  // When to call tick() next (kNever once done()).
  Nanos deadline() const;
  void tick(Nanos now);
  // The run is over: timeout, enough regions answered, or every probe set settled.
  bool done() const { return done_; }

  // What has been learnt so far; final once done().
  Report report() const;
  const std::vector<ProbeRecord>& probes() const { return probes_; }
  const Plan& plan() const { return plan_; }
  Nanos started_at() const { return start_; }

 private:
  struct SetState {
    bool answered = false;
    bool cancelled = false;   // its remaining probes would not help (Go's cancelSet)
    std::size_t open = 0;     // probes still waiting or sent: the set may still learn something
  };
  enum class LookupState : std::uint8_t { kPending, kResolved, kFailed };
  struct LookupEntry {
    LookupState state = LookupState::kPending;
    derp_addr address{};  // port 0; each probe adds its own
  };

  const LookupEntry* lookup_of(const ProbeRecord& probe) const;
  bool would_help(const ProbeRecord& probe) const;
  void cancel_set(std::size_t set);
  void new_transaction_id(std::size_t probe);
  bool set_settled(std::size_t set) const;
  void move_to(ProbeRecord& probe, ProbeState state);
  void on_answer(Nanos now);
  void finish_if_settled(Nanos now);
  void finish(Nanos now, bool timed_out);
  std::vector<RegionLatency> latencies() const;

  derpmap::DerpMap map_;
  Options options_;
  Plan plan_;
  Nanos start_;
  std::vector<ProbeRecord> probes_;
  std::vector<SetState> sets_;
  std::vector<Lookup> lookups_;
  std::map<std::pair<std::string, Family>, LookupEntry> lookup_table_;
  std::map<stun::TransactionId, std::size_t> outstanding_;  // sent and not yet answered
  std::uint32_t answers_ = 0;
  std::vector<std::size_t> v4_answers_;  // probes answered with an IPv4 mapping, in answer order
  std::set<int> measured_regions_;
  bool any_v6_answer_ = false;
  Nanos early_deadline_ = kNever;  // set once enough regions answered
  bool done_ = false;
  bool timed_out_ = false;
};

}  // namespace derp::netcheck
