// The netcheck planner without I/O (lib/netcheck): Tailscale's first-report schedule, request bytes, matching by
// transaction id, latency, hard vs easy NAT, IPv6, DNS, timeouts and the home region (net/netcheck/netcheck.go,
// reference §5 and §6).
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "derpmap/derpmap.hpp"
#include "common/address.hpp"
#include "netcheck/home_region.hpp"
#include "netcheck/planner.hpp"
#include "support/seeded_random.hpp"
#include "stun/tailscale.hpp"

using namespace derp;
using namespace derp::netcheck;
using derpmap::DerpMap;
using derpmap::DerpNode;
using derpmap::DerpRegion;

namespace {

constexpr Nanos kT0 = 1'000 * kSecond;  // any start: the planner only works with differences
constexpr Nanos kMs = kMillisecond;

DerpNode node(const std::string& name, int region, const std::string& v4, const std::string& v6 = "none",
              int stun_port = 0) {
  DerpNode n;
  n.name = name;
  n.region_id = region;
  n.host_name = name + ".example";
  n.ipv4 = v4;
  n.ipv6 = v6;
  n.stun_port = stun_port;
  return n;
}

DerpRegion region(int id, std::vector<DerpNode> nodes, const std::string& code = "") {
  DerpRegion r;
  r.region_id = id;
  r.region_code = code.empty() ? "r" + std::to_string(id) : code;
  r.nodes = std::move(nodes);
  return r;
}

// Deterministic transaction ids: a counter in the first bytes (one counter for the test process).
void counter_random(std::uint8_t* out, std::size_t size, void* user_data) {
  auto* counter = static_cast<std::uint32_t*>(user_data);
  std::memset(out, 0x5a, size);
  ++*counter;
  std::memcpy(out, counter, sizeof *counter);
}

Options test_options() {
  static std::uint32_t counter = 0;
  Options o;
  o.random = crypto::RandomSource{&counter_random, &counter};
  return o;
}

derp_addr addr(const char* text) {
  derp_addr a{};
  REQUIRE(parse_addr(text, &a) == DERP_OK);
  return a;
}

std::vector<Transmit> drain(Planner& p, Nanos now) {
  std::vector<Transmit> out;
  Transmit t;
  while (p.poll_transmit(now, &t)) out.push_back(t);
  return out;
}

std::vector<std::uint8_t> response_for(const Transmit& t, const derp_addr& mapped) {
  stun::TransactionId id{};
  REQUIRE(stun::parse_tailscale_binding_request(t.datagram(), &id) == DERP_OK);
  std::vector<std::uint8_t> buf(64);
  std::size_t len = 0;
  REQUIRE(stun::build_binding_response(id, mapped, false, MutableBytes(buf.data(), buf.size()), &len) == DERP_OK);
  buf.resize(len);
  return buf;
}

bool answer(Planner& p, const Transmit& t, const derp_addr& mapped, Nanos now) {
  const auto bytes = response_for(t, mapped);
  return p.receive(Bytes(bytes.data(), bytes.size()), t.to, now);
}

const RegionLatency* latency_of(const Report& r, int id) {
  for (const auto& l : r.regions) {
    if (l.region_id == id) return &l;
  }
  return nullptr;
}

// Region 1: one node; region 2: two nodes; both with IPv4 and IPv6 literals.
DerpMap dual_stack_map() {
  DerpMap m;
  m.regions[1] = region(1, {node("1a", 1, "192.0.2.1", "2001:db8::1")});
  m.regions[2] = region(2, {node("2a", 2, "198.51.100.1", "2001:db8::2"), node("2b", 2, "198.51.100.2", "2001:db8::3")});
  return m;
}

}  // namespace

TEST_CASE("netcheck planner: first report schedule is 3 tries per region and family at 0/100/200 ms",
          "[netcheck]") {
  Planner p(dual_stack_map(), test_options(), kT0);
  const auto first = drain(p, kT0);
  REQUIRE(first.size() == 4);  // regions 1, 2 × v4, v6
  CHECK(p.deadline() == kT0 + 100 * kMs);
  CHECK(drain(p, kT0 + 99 * kMs).empty());
  const auto second = drain(p, kT0 + 100 * kMs);
  REQUIRE(second.size() == 4);
  const auto third = drain(p, kT0 + 200 * kMs);
  REQUIRE(third.size() == 4);
  CHECK(p.deadline() == kT0 + 3 * kSecond);  // only the timeout is left

  // Region 2 alternates its nodes a → b → a (try k goes to node k % 2), port 3478 by default.
  std::vector<std::string> region2_v4;
  for (const auto* batch : {&first, &second, &third}) {
    for (const Transmit& t : *batch) {
      const ProbeRecord& r = p.probes()[t.probe];
      CHECK(t.to.port == 3478);
      CHECK(r.state == ProbeState::kSent);
      if (r.plan.region_id == 2 && r.plan.family == Family::kIPv4) region2_v4.push_back(format_addr(t.to));
    }
  }
  CHECK(region2_v4 == std::vector<std::string>{"198.51.100.1:3478", "198.51.100.2:3478", "198.51.100.1:3478"});
}

TEST_CASE("netcheck planner: requests are Tailscale's 40 bytes with distinct transaction ids", "[netcheck]") {
  Planner p(dual_stack_map(), test_options(), kT0);
  auto all = drain(p, kT0);
  const auto later = drain(p, kT0 + 200 * kMs);
  all.insert(all.end(), later.begin(), later.end());
  std::vector<stun::TransactionId> ids;
  for (const Transmit& t : all) {
    CHECK(t.datagram().size() == 40);
    stun::TransactionId id{};
    REQUIRE(stun::parse_tailscale_binding_request(t.datagram(), &id) == DERP_OK);
    CHECK(id == p.probes()[t.probe].transaction_id);
    for (const auto& other : ids) CHECK(other != id);
    ids.push_back(id);
  }
  CHECK(ids.size() >= 8);
}

TEST_CASE("netcheck planner: a repeating random source still gives unique transaction ids", "[netcheck]") {
  Options o;
  o.random.fill = [](std::uint8_t* out, std::size_t size, void*) { std::memset(out, 7, size); };
  Planner p(dual_stack_map(), o, kT0);
  const auto sent = drain(p, kT0);
  REQUIRE(sent.size() == 4);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    for (std::size_t j = i + 1; j < sent.size(); ++j) {
      CHECK(p.probes()[sent[i].probe].transaction_id != p.probes()[sent[j].probe].transaction_id);
    }
  }
}

TEST_CASE("netcheck planner: NoMeasureNoHome, empty regions, STUN off and 'none' are not probed", "[netcheck]") {
  DerpMap m;
  m.regions[1] = region(1, {node("1a", 1, "192.0.2.1")});
  m.regions[2] = region(2, {node("2a", 2, "192.0.2.2")});
  m.regions[2].no_measure_no_home = true;
  m.regions[3] = region(3, {});
  m.regions[4] = region(4, {node("4a", 4, "none", "none")});
  m.regions[5] = region(5, {node("5a", 5, "192.0.2.5", "none", -1)});  // STUNPort -1: planned, never sent
  Options o = test_options();
  o.tries = 1;
  Planner p(m, o, kT0);
  CHECK(p.plan().regions == std::vector<int>{1, 5});
  const auto sent = drain(p, kT0);
  REQUIRE(sent.size() == 1);
  CHECK(format_addr(sent[0].to) == "192.0.2.1:3478");
  CHECK(p.lookups().empty());
}

TEST_CASE("netcheck planner: STUNTestIP and STUNPort decide the address", "[netcheck]") {
  DerpMap m;
  m.regions[1] = region(1, {node("1a", 1, "192.0.2.1", "none", 3479)});
  m.regions[1].nodes[0].stun_test_ip = "127.0.0.9";
  Options o = test_options();
  o.tries = 1;
  Planner p(m, o, kT0);
  const auto sent = drain(p, kT0);
  REQUIRE(sent.size() == 1);
  CHECK(format_addr(sent[0].to) == "127.0.0.9:3479");
}

TEST_CASE("netcheck planner: an answer is matched by transaction id, garbage and strangers are ignored",
          "[netcheck]") {
  Options o = test_options();
  o.ipv6 = false;
  Planner p(dual_stack_map(), o, kT0);
  const auto sent = drain(p, kT0);
  REQUIRE(sent.size() == 2);
  const derp_addr me = addr("203.0.113.7:41641");

  // Not STUN, a request, a response to a transaction we never started, a truncated response.
  const std::uint8_t garbage[] = "hello, this is not STUN";
  CHECK_FALSE(p.receive(Bytes(garbage, sizeof garbage), sent[0].to, kT0 + kMs));
  CHECK_FALSE(p.receive(sent[0].datagram(), sent[0].to, kT0 + kMs));
  stun::TransactionId stranger{};
  stranger.fill(0xee);
  std::uint8_t buf[64];
  std::size_t len = 0;
  REQUIRE(stun::build_binding_response(stranger, me, false, MutableBytes(buf, sizeof buf), &len) == DERP_OK);
  CHECK_FALSE(p.receive(Bytes(buf, len), sent[0].to, kT0 + kMs));
  auto good = response_for(sent[0], me);
  CHECK_FALSE(p.receive(Bytes(good.data(), good.size() - 1), sent[0].to, kT0 + kMs));
  CHECK_FALSE(p.report().udp);

  CHECK(p.receive(Bytes(good.data(), good.size()), sent[0].to, kT0 + 20 * kMs));
  CHECK_FALSE(p.receive(Bytes(good.data(), good.size()), sent[0].to, kT0 + 21 * kMs));  // a duplicate counts once
  const Report r = p.report();
  CHECK(r.udp);
  CHECK(r.ipv4);
  CHECK_FALSE(r.ipv6);
  CHECK(format_addr(r.global_v4) == "203.0.113.7:41641");
  const RegionLatency* l = latency_of(r, p.probes()[sent[0].probe].plan.region_id);
  REQUIRE(l != nullptr);
  CHECK(l->v4 == 20 * kMs);
  CHECK_FALSE(l->v6);
}

TEST_CASE("netcheck planner: an answered region sends no more tries, late answers to earlier tries count",
          "[netcheck]") {
  DerpMap m;
  m.regions[1] = region(1, {node("1a", 1, "192.0.2.1")});
  m.regions[2] = region(2, {node("2a", 2, "192.0.2.2")});
  Planner p(m, test_options(), kT0);
  const auto t0 = drain(p, kT0);
  REQUIRE(t0.size() == 2);
  const auto t1 = drain(p, kT0 + 100 * kMs);
  REQUIRE(t1.size() == 2);
  const derp_addr me = addr("203.0.113.7:1000");
  // Region 1's second try is answered first (80 ms after it went), then its first try (190 ms after it went).
  REQUIRE(answer(p, t1[0], me, kT0 + 180 * kMs));
  REQUIRE(answer(p, t0[0], me, kT0 + 190 * kMs));
  const auto t2 = drain(p, kT0 + 200 * kMs);
  REQUIRE(t2.size() == 1);  // only region 2's third try
  CHECK(p.probes()[t2[0].probe].plan.region_id == 2);
  const Report r = p.report();
  const RegionLatency* l = latency_of(r, 1);
  REQUIRE(l != nullptr);
  CHECK(l->v4 == 80 * kMs);  // the best of the tries
}

TEST_CASE("netcheck planner: easy NAT, same mapping from two server IPs", "[netcheck]") {
  Options o = test_options();
  o.ipv6 = false;
  Planner p(dual_stack_map(), o, kT0);
  const auto sent = drain(p, kT0);
  REQUIRE(sent.size() == 2);
  REQUIRE(answer(p, sent[0], addr("203.0.113.7:1000"), kT0 + 10 * kMs));
  CHECK_FALSE(p.report().mapping_varies_by_dest_ip.has_value());  // one server so far: unknown
  REQUIRE(answer(p, sent[1], addr("203.0.113.7:1000"), kT0 + 12 * kMs));
  const Report r = p.report();
  REQUIRE(r.mapping_varies_by_dest_ip.has_value());
  CHECK_FALSE(*r.mapping_varies_by_dest_ip);
  CHECK(p.done());  // every set answered
  CHECK_FALSE(r.timed_out);
  CHECK(r.preferred_region == p.probes()[sent[0].probe].plan.region_id);
}

TEST_CASE("netcheck planner: hard NAT, a different mapping per server IP", "[netcheck]") {
  Options o = test_options();
  o.ipv6 = false;
  Planner p(dual_stack_map(), o, kT0);
  const auto sent = drain(p, kT0);
  REQUIRE(sent.size() == 2);
  REQUIRE(answer(p, sent[0], addr("203.0.113.7:1000"), kT0 + 10 * kMs));
  REQUIRE(answer(p, sent[1], addr("203.0.113.7:1001"), kT0 + 12 * kMs));
  const Report r = p.report();
  REQUIRE(r.mapping_varies_by_dest_ip.has_value());
  CHECK(*r.mapping_varies_by_dest_ip);
  CHECK(format_addr(r.global_v4) == "203.0.113.7:1000");  // the first answer, as Go keeps it
}

TEST_CASE("netcheck planner: answers from one server IP leave hard vs easy unknown", "[netcheck]") {
  DerpMap m;
  m.regions[1] = region(1, {node("1a", 1, "192.0.2.1", "none", 3478)});
  m.regions[2] = region(2, {node("2a", 2, "192.0.2.1", "none", 3479)});  // same IP, another port
  Options o = test_options();
  o.tries = 1;
  Planner p(m, o, kT0);
  const auto sent = drain(p, kT0);
  REQUIRE(sent.size() == 2);
  REQUIRE(answer(p, sent[0], addr("203.0.113.7:1000"), kT0 + 10 * kMs));
  REQUIRE(answer(p, sent[1], addr("203.0.113.7:2000"), kT0 + 10 * kMs));
  CHECK_FALSE(p.report().mapping_varies_by_dest_ip.has_value());
}

TEST_CASE("netcheck planner: IPv6 answers fill the IPv6 side", "[netcheck]") {
  Options o = test_options();
  o.ipv4 = false;
  Planner p(dual_stack_map(), o, kT0);
  const auto sent = drain(p, kT0);
  REQUIRE(sent.size() == 2);
  for (const Transmit& t : sent) CHECK(t.to.family == DERP_AF_INET6);
  REQUIRE(answer(p, sent[0], addr("[2001:db8:aa::1]:5000"), kT0 + 7 * kMs));
  const Report r = p.report();
  CHECK(r.udp);
  CHECK(r.ipv6);
  CHECK_FALSE(r.ipv4);
  CHECK(format_addr(r.global_v6) == "[2001:db8:aa::1]:5000");
  CHECK_FALSE(r.mapping_varies_by_dest_ip.has_value());
  const RegionLatency* l = latency_of(r, p.probes()[sent[0].probe].plan.region_id);
  REQUIRE(l != nullptr);
  CHECK(l->v6 == 7 * kMs);
  CHECK(l->best() == 7 * kMs);
}

TEST_CASE("netcheck planner: nothing answers, the run ends at its timeout with UDP false", "[netcheck]") {
  Options o = test_options();
  o.timeout = 500 * kMs;
  Planner p(dual_stack_map(), o, kT0);
  drain(p, kT0);
  drain(p, kT0 + 200 * kMs);
  CHECK_FALSE(p.done());
  CHECK(p.deadline() == kT0 + 500 * kMs);
  p.tick(kT0 + 499 * kMs);
  CHECK_FALSE(p.done());
  p.tick(kT0 + 500 * kMs);
  REQUIRE(p.done());
  CHECK(p.deadline() == kNever);
  const Report r = p.report();
  CHECK_FALSE(r.udp);
  CHECK(r.timed_out);
  CHECK(r.preferred_region == 0);
  CHECK(r.regions.size() == 2);
  for (const auto& l : r.regions) CHECK_FALSE(l.best());
  // Answers after the end are ignored.
  Transmit t;
  CHECK_FALSE(p.poll_transmit(kT0 + 600 * kMs, &t));
}

TEST_CASE("netcheck planner: host names are resolved by the host before their probes go", "[netcheck]") {
  DerpMap m;
  m.regions[1] = region(1, {node("1a", 1, "", "")});  // empty fields: DNS for both families
  m.regions[2] = region(2, {node("2a", 2, "", "none")});
  Options o = test_options();
  o.tries = 2;
  Planner p(m, o, kT0);
  REQUIRE(p.lookups().size() == 3);
  CHECK(p.lookups()[0] == Lookup{"1a.example", Family::kIPv4});
  CHECK(drain(p, kT0).empty());
  CHECK(p.deadline() == kT0 + 3 * kSecond);  // every probe waits for DNS: only the timeout is a time to wake for
  const derp_addr resolved[] = {addr("[::ffff:192.0.2.77]:0"), addr("[2001:db8::77]:0")};
  p.resolved("1a.example", Family::kIPv4, resolved, kT0 + 30 * kMs);
  auto sent = drain(p, kT0 + 30 * kMs);
  REQUIRE(sent.size() == 1);
  CHECK(format_addr(sent[0].to) == "192.0.2.77:3478");  // v4-mapped counts as IPv4
  p.resolved("1a.example", Family::kIPv6, resolved, kT0 + 40 * kMs);
  sent = drain(p, kT0 + 40 * kMs);
  REQUIRE(sent.size() == 1);
  CHECK(format_addr(sent[0].to) == "[2001:db8::77]:3478");
  // A lookup that fails skips its probes; the run can then settle without them.
  p.resolved("2a.example", Family::kIPv4, {}, kT0 + 50 * kMs);
  CHECK(drain(p, kT0 + 50 * kMs).empty());
  for (const auto& r : p.probes()) {
    if (r.plan.region_id == 2) CHECK(r.state == ProbeState::kSkipped);
  }
  // Unknown and repeated answers change nothing.
  p.resolved("nobody.example", Family::kIPv4, resolved, kT0 + 60 * kMs);
  p.resolved("2a.example", Family::kIPv4, resolved, kT0 + 60 * kMs);
  for (const auto& r : p.probes()) {
    if (r.plan.region_id == 2) CHECK(r.state == ProbeState::kSkipped);
  }
}

TEST_CASE("netcheck planner: a failed send and a missing family let the run settle early", "[netcheck]") {
  Options o = test_options();
  o.tries = 1;
  Planner p(dual_stack_map(), o, kT0);
  p.family_unavailable(Family::kIPv6, kT0);
  const auto sent = drain(p, kT0);
  REQUIRE(sent.size() == 2);
  for (const Transmit& t : sent) p.send_failed(t.probe, kT0);
  CHECK(p.done());
  CHECK_FALSE(p.report().timed_out);
  CHECK_FALSE(p.report().udp);
}

TEST_CASE("netcheck planner: after enough regions, the rest get twice the slowest latency", "[netcheck]") {
  DerpMap m;
  for (int id = 1; id <= 4; ++id) m.regions[id] = region(id, {node("n" + std::to_string(id), id, "192.0.2." + std::to_string(id))});
  Options o = test_options();
  o.enough_regions = 2;
  Planner p(m, o, kT0);
  const auto sent = drain(p, kT0);
  REQUIRE(sent.size() == 4);
  REQUIRE(answer(p, sent[0], addr("203.0.113.7:1000"), kT0 + 10 * kMs));
  CHECK(p.deadline() == kT0 + 100 * kMs);
  REQUIRE(answer(p, sent[1], addr("203.0.113.7:1000"), kT0 + 30 * kMs));
  CHECK(p.deadline() == kT0 + 90 * kMs);  // 30 ms + 2 × 30 ms
  p.tick(kT0 + 90 * kMs);
  CHECK(p.done());
  CHECK_FALSE(p.report().timed_out);
}

TEST_CASE("netcheck planner: the home region is the lowest latency × RegionScore", "[netcheck]") {
  DerpMap m = dual_stack_map();
  Options o = test_options();
  o.ipv6 = false;
  o.tries = 1;
  auto run = [&](const DerpMap& map) {
    Planner p(map, o, kT0);
    const auto sent = drain(p, kT0);
    REQUIRE(sent.size() == 2);
    for (const Transmit& t : sent) {
      const Nanos rtt = p.probes()[t.probe].plan.region_id == 1 ? 40 * kMs : 30 * kMs;
      REQUIRE(answer(p, t, addr("203.0.113.7:1000"), kT0 + rtt));
    }
    return p.report().preferred_region;
  };
  CHECK(run(m) == 2);
  m.home_params.emplace();
  m.home_params->region_score[1] = 0.5;  // 40 × 0.5 = 20 < 30
  CHECK(run(m) == 1);
  m.home_params->region_score[1] = -1;  // ignored
  m.home_params->region_score[2] = 0;   // ignored
  CHECK(run(m) == 2);
}

TEST_CASE("netcheck home region: Go's hysteresis and NoMeasureNoHome", "[netcheck]") {
  DerpMap m;
  m.regions[1] = region(1, {node("1a", 1, "192.0.2.1")});
  m.regions[2] = region(2, {node("2a", 2, "192.0.2.2")});
  m.regions[3] = region(3, {node("3a", 3, "192.0.2.3")});
  auto lat = [](int id, Nanos d) { return RegionLatency{id, d, std::nullopt}; };
  const Nanos s = kSecond;
  // Cases from Go's TestAddReportHistoryAndSetPreferredDERP, one report each.
  CHECK(choose_home({lat(1, 2 * s), lat(2, 3 * s)}, m, 0, false) == 1);
  CHECK(choose_home({lat(1, 4 * s), lat(2, 3 * s)}, m, 1, false) == 1);   // 3 > 2/3 × 4: keep 1
  CHECK(choose_home({lat(1, 4 * s), lat(2, 1 * s)}, m, 1, false) == 2);   // fast enough to switch
  CHECK(choose_home({lat(1, 4 * kMs), lat(2, 1 * kMs)}, m, 1, false) == 1);  // < 10 ms better: keep
  CHECK(choose_home({lat(2, 3 * s)}, m, 1, false) == 2);                  // old home silent: switch
  CHECK(choose_home({lat(2, 3 * s)}, m, 1, true) == 1);                   // silent but active: keep
  CHECK(choose_home({}, m, 1, true) == 1);
  CHECK(choose_home({}, m, 1, false) == 0);
  CHECK(choose_home({lat(1, 2 * s), lat(2, 2 * s)}, m, 0, false) == 1);   // tie: lower id
  m.regions[1].no_measure_no_home = true;
  CHECK(choose_home({lat(1, 1 * s), lat(2, 3 * s)}, m, 0, false) == 2);
  CHECK(choose_home({lat(2, 3 * s)}, m, 1, true) == 2);  // an old home that may no longer be home is not kept
  CHECK(choose_home({lat(9, 1 * s), lat(2, 3 * s)}, m, 0, false) == 2);  // not in the map
}

TEST_CASE("netcheck planner: the same random source seed gives the same probes, byte for byte", "[netcheck][hooks]") {
  derp::test::SeededRandom ra(99), rb(99);
  Options oa, ob;
  oa.random = ra.source();
  ob.random = rb.source();
  Planner a(dual_stack_map(), oa, kT0);
  Planner b(dual_stack_map(), ob, kT0);
  const auto sent_a = drain(a, kT0);
  const auto sent_b = drain(b, kT0);
  REQUIRE(sent_a.size() == 4);
  REQUIRE(sent_b.size() == sent_a.size());
  for (std::size_t i = 0; i < sent_a.size(); ++i) CHECK(sent_a[i].bytes == sent_b[i].bytes);
  CHECK(ra.bytes_drawn() == rb.bytes_drawn());
  CHECK(ra.bytes_drawn() >= 4 * 12);  // a 12-byte transaction id per probe sent (RFC 8489 §6)
}
