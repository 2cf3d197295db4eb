// The path core in a simulated internet (path_sim.hpp): real disco packets between two cores, NATs of each kind,
// a DERP relay and simulated time. Every case sends packets both ways from the first millisecond and checks each
// one arrives, on which path, and when the path changed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "path_sim.hpp"

using derp::kMillisecond;
using derp::kSecond;
using derp::Nanos;
using derp::path::Via;
using derp::test::NatKind;
using derp::test::PathSim;

namespace {

constexpr Nanos kInterval = 100 * kMillisecond;

std::size_t count_via(const PathSim::Node& n, Via via) {
  return static_cast<std::size_t>(
      std::count_if(n.received.begin(), n.received.end(), [&](const auto& r) { return r.via == via; }));
}

// Every packet "<from>-><to> #0 .. #count-1" arrived exactly once.
void check_all_arrived(const PathSim::Node& n, const std::string& from, int count) {
  INFO(n.name << " received " << n.received.size() << " of " << count);
  REQUIRE(n.received.size() == static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    const std::string want = from + "->" + n.name + " #" + std::to_string(i);
    CHECK(n.received[static_cast<std::size_t>(i)].text == want);
  }
}

struct Outcome {
  bool direct_a = false, direct_b = false;
  Nanos a_direct_at = 0, b_direct_at = 0;
};

// Both ways from t = 0 for 20 s, then a quiet second; returns when each side went direct (if it did).
Outcome run_both_ways(PathSim& sim) {
  sim.discover_endpoints();
  sim.schedule_traffic(sim.a(), sim.b(), 0, kInterval, 20 * kSecond);
  sim.schedule_traffic(sim.b(), sim.a(), 0, kInterval, 20 * kSecond);
  sim.run_until(21 * kSecond);
  check_all_arrived(sim.b(), "alice", 200);
  check_all_arrived(sim.a(), "bob", 200);
  // The first packets always go through the relay: no path exists yet.
  CHECK(sim.a().received.front().via == Via::kDerp);
  CHECK(sim.b().received.front().via == Via::kDerp);
  Outcome o;
  for (const auto& c : sim.a().changes) {
    if (c.via == Via::kDirect && !o.direct_a) {
      o.direct_a = true;
      o.a_direct_at = c.at;
    }
  }
  for (const auto& c : sim.b().changes) {
    if (c.via == Via::kDirect && !o.direct_b) {
      o.direct_b = true;
      o.b_direct_at = c.at;
    }
  }
  return o;
}

void expect_upgrades(NatKind a, NatKind b) {
  PathSim sim(a, b);
  const Outcome o = run_both_ways(sim);
  REQUIRE(o.direct_a);
  REQUIRE(o.direct_b);
  // Within a few seconds of simulated time (the relay takes 40 ms a hop, UDP 10 ms).
  CHECK(o.a_direct_at < 3 * kSecond);
  CHECK(o.b_direct_at < 3 * kSecond);
  // Still direct at the end, and the late packets went direct.
  CHECK(sim.a().core->peer_status(sim.b().node_key, sim.now()).path == Via::kDirect);
  CHECK(sim.b().core->peer_status(sim.a().node_key, sim.now()).path == Via::kDirect);
  CHECK(sim.a().received.back().via == Via::kDirect);
  CHECK(sim.b().received.back().via == Via::kDirect);
  CHECK(count_via(sim.b(), Via::kDirect) > 150);
  // Each side changed path once (derp → direct), with the measured round trip of the simulated UDP path.
  REQUIRE(sim.a().changes.size() == 1);
  CHECK(sim.a().changes[0].rtt == 2 * sim.udp_latency);
  REQUIRE(sim.b().changes.size() == 1);
}

void expect_stays_on_derp(NatKind a, NatKind b) {
  PathSim sim(a, b);
  const Outcome o = run_both_ways(sim);
  CHECK_FALSE(o.direct_a);
  CHECK_FALSE(o.direct_b);
  CHECK(sim.a().changes.empty());
  CHECK(sim.b().changes.empty());
  CHECK(count_via(sim.a(), Via::kDirect) == 0);
  CHECK(count_via(sim.b(), Via::kDirect) == 0);
  CHECK(sim.a().core->peer_status(sim.b().node_key, sim.now()).path == Via::kDerp);
  // Discovery kept trying: pings went out and the NATs (or the block) dropped them.
  CHECK(sim.a().core->counters().pings_sent > 0);
  CHECK(sim.udp_dropped_by_nat > 0);
}

}  // namespace

TEST_CASE("path sim: easy NAT to easy NAT upgrades to direct", "[path]") { expect_upgrades(NatKind::kEasy, NatKind::kEasy); }

TEST_CASE("path sim: easy NAT to no NAT upgrades to direct, both ways round", "[path]") {
  expect_upgrades(NatKind::kEasy, NatKind::kNone);
  expect_upgrades(NatKind::kNone, NatKind::kEasy);
}

TEST_CASE("path sim: hard NAT to no NAT upgrades to direct through the hard side's own mapping", "[path]") {
  expect_upgrades(NatKind::kHard, NatKind::kNone);
  expect_upgrades(NatKind::kNone, NatKind::kHard);
}

TEST_CASE("path sim: no NAT on either side upgrades to direct", "[path]") { expect_upgrades(NatKind::kNone, NatKind::kNone); }

TEST_CASE("path sim: hard NAT to hard NAT stays on DERP and every packet arrives", "[path]") {
  expect_stays_on_derp(NatKind::kHard, NatKind::kHard);
}

TEST_CASE("path sim: easy NAT to hard NAT stays on DERP (endpoint-dependent filtering)", "[path]") {
  expect_stays_on_derp(NatKind::kEasy, NatKind::kHard);
  expect_stays_on_derp(NatKind::kHard, NatKind::kEasy);
}

TEST_CASE("path sim: UDP blocked on one side stays on DERP and data never stops", "[path]") {
  expect_stays_on_derp(NatKind::kBlocked, NatKind::kEasy);
  expect_stays_on_derp(NatKind::kNone, NatKind::kBlocked);
}

TEST_CASE("path sim: direct path cut falls back to DERP within the trust window, and comes back", "[path]") {
  PathSim sim(NatKind::kEasy, NatKind::kEasy);
  sim.discover_endpoints();
  const Nanos until = 60 * kSecond;
  sim.schedule_traffic(sim.a(), sim.b(), 0, kInterval, until);
  sim.schedule_traffic(sim.b(), sim.a(), 0, kInterval, until);
  sim.run_until(10 * kSecond);
  REQUIRE(sim.a().core->peer_status(sim.b().node_key, sim.now()).path == Via::kDirect);
  REQUIRE(sim.a().changes.size() == 1);

  const Nanos cut_at = sim.now();
  sim.direct_cut = true;
  sim.run_until(30 * kSecond);
  // Back on DERP: the last Pong was at most one heartbeat (3 s) before the cut, and trust lasts 6.5 s after it.
  REQUIRE(sim.a().changes.size() == 2);
  CHECK(sim.a().changes[1].via == Via::kDerp);
  const Nanos fallback_at = std::max(sim.a().changes[1].at, sim.b().changes.at(1).at);
  CHECK(sim.a().changes[1].at <= cut_at + 6'500 * kMillisecond);
  CHECK(sim.b().changes.at(1).via == Via::kDerp);
  CHECK(sim.b().changes.at(1).at <= cut_at + 6'500 * kMillisecond);
  CHECK(sim.a().core->peer_status(sim.b().node_key, sim.now()).path == Via::kDerp);

  sim.direct_cut = false;
  const Nanos restored_at = sim.now();
  sim.run_until(until + kSecond);
  REQUIRE(sim.a().changes.size() == 3);
  CHECK(sim.a().changes[2].via == Via::kDirect);
  CHECK(sim.a().changes[2].at < restored_at + 6 * kSecond);  // the next round (every heartbeat while untrusted)
  CHECK(sim.a().received.back().via == Via::kDirect);

  // What was lost is exactly what was sent on the trusted direct path after the cut (as with magicsock: the
  // trust window bounds it); everything sent before the cut, after the fallback and after the restore arrived.
  for (const PathSim::Node* n : {&sim.a(), &sim.b()}) {
    const std::string from = n == &sim.a() ? "bob" : "alice";
    std::vector<bool> got(600, false);
    for (const auto& r : n->received) {
      const auto hash = r.text.find('#');
      REQUIRE(r.text.substr(0, hash - 1) == from + "->" + n->name);
      const int i = std::stoi(r.text.substr(hash + 1));
      REQUIRE_FALSE(got[static_cast<std::size_t>(i)]);  // never twice
      got[static_cast<std::size_t>(i)] = true;
    }
    for (int i = 0; i < 600; ++i) {
      const Nanos sent = static_cast<Nanos>(i) * kInterval;
      if (sent >= cut_at && sent <= fallback_at) continue;  // sent into the cut while the path was still trusted
      INFO(n->name << " packet " << i);
      CHECK(got[static_cast<std::size_t>(i)]);
    }
  }
  CHECK(sim.udp_dropped_by_cut > 0);
}

TEST_CASE("path sim: new local endpoints clear the trust and the peers re-discover", "[path]") {
  PathSim sim(NatKind::kNone, NatKind::kEasy);
  sim.discover_endpoints();
  sim.schedule_traffic(sim.a(), sim.b(), 0, kInterval, 20 * kSecond);
  sim.schedule_traffic(sim.b(), sim.a(), 0, kInterval, 20 * kSecond);
  sim.run_until(8 * kSecond);
  REQUIRE(sim.a().core->peer_status(sim.b().node_key, sim.now()).path == Via::kDirect);
  // A new address appears on alice's interface (a Wi-Fi join, say): her core is told.
  std::vector<derp_addr> endpoints = {sim.a().local};
  derp_addr extra{};
  REQUIRE(derp::parse_addr("192.0.2.99:41641", &extra) == DERP_OK);
  endpoints.push_back(extra);
  const auto call_me_maybe_before = sim.a().core->counters().call_me_maybe_sent;
  sim.a().core->set_local_endpoints(endpoints, sim.now());
  // The trust is gone at once (path derp), and a fresh CallMeMaybe with the new list went out.
  sim.run_until(sim.now() + kMillisecond);
  REQUIRE(sim.a().changes.size() == 2);
  CHECK(sim.a().changes[1].via == Via::kDerp);
  CHECK(sim.a().core->counters().call_me_maybe_sent == call_me_maybe_before + 1);
  sim.run_until(21 * kSecond);
  REQUIRE(sim.a().changes.size() == 3);
  CHECK(sim.a().changes[2].via == Via::kDirect);
  check_all_arrived(sim.b(), "alice", 200);
  check_all_arrived(sim.a(), "bob", 200);
}

TEST_CASE("path sim: without sealing the bytes go on the wire unchanged, and the path still upgrades", "[path]") {
  derp::path::Options options;
  options.seal_data = false;
  PathSim sim(NatKind::kEasy, NatKind::kNone, options);
  const Outcome o = run_both_ways(sim);
  CHECK(o.direct_a);
  CHECK(o.direct_b);
  CHECK(count_via(sim.b(), Via::kDirect) > 150);
}
