// Fuzz target: the netcheck planner after it has sent its first requests, fed datagrams, time steps and DNS
// answers from the input. Nothing from the wire may crash it or break the report's invariants.
//
// Input: a sequence of records, each [op][len][len bytes]:
//   op % 4 == 0  the bytes as a datagram
//   op % 4 == 1  the bytes as a datagram with bytes 8..19 replaced by the transaction id of probe (op / 4), so
//                the fuzzer reaches the matching path without guessing ids
//   op % 4 == 2  advance the clock by len milliseconds, tick, send what is due
//   op % 4 == 3  answer the DNS lookup (op / 4) with the bytes read as addresses (IPv4 4 bytes, IPv6 16 bytes)
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "derpmap/derpmap.hpp"
#include "common/bytes.hpp"
#include "netcheck/planner.hpp"

namespace {

using namespace derp;
using namespace derp::netcheck;

void require(bool condition) {
  if (!condition) std::abort();
}

derpmap::DerpMap fuzz_map() {
  derpmap::DerpMap m;
  for (int id = 1; id <= 3; ++id) {
    derpmap::DerpRegion r;
    r.region_id = id;
    derpmap::DerpNode n;
    n.name = std::to_string(id) + "a";
    n.region_id = id;
    n.host_name = "node" + std::to_string(id) + ".example";
    n.ipv4 = id == 3 ? "" : "192.0.2." + std::to_string(id);  // region 3 needs DNS
    n.ipv6 = id == 2 ? "2001:db8::2" : "none";
    r.nodes.push_back(n);
    m.regions[id] = r;
  }
  m.home_params.emplace();
  m.home_params->region_score[2] = 0.5;
  return m;
}

void check_report(const Planner& p) {
  const Report r = p.report();
  bool any = false;
  for (const ProbeRecord& probe : p.probes()) any = any || probe.state == ProbeState::kAnswered;
  require(r.udp == any);
  require(r.ipv4 == (r.global_v4.family == DERP_AF_INET));
  require(r.ipv6 == (r.global_v6.family == DERP_AF_INET6));
  require(!r.mapping_varies_by_dest_ip || r.ipv4);
  for (std::size_t i = 1; i < r.regions.size(); ++i) require(r.regions[i - 1].region_id < r.regions[i].region_id);
  if (r.preferred_region != 0) {
    bool measured = false;
    for (const auto& l : r.regions) measured = measured || (l.region_id == r.preferred_region && l.best());
    require(measured);
  }
  if (p.done()) require(p.deadline() == kNever);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const derpmap::DerpMap map = fuzz_map();
  Options options;
  std::uint32_t n = 0;
  options.random.user_data = &n;
  options.random.fill = [](std::uint8_t* out, std::size_t len, void* user_data) {
    auto* counter = static_cast<std::uint32_t*>(user_data);
    std::memset(out, 0x33, len);
    ++*counter;
    std::memcpy(out, counter, sizeof *counter);
  };
  Nanos now = 1'000 * kSecond;
  Planner p(map, options, now);
  Transmit t;
  std::vector<std::size_t> sent;
  while (p.poll_transmit(now, &t)) sent.push_back(t.probe);

  std::size_t i = 0;
  while (i + 2 <= size) {
    const std::uint8_t op = data[i];
    const std::size_t len = data[i + 1];
    i += 2;
    const std::size_t take = len < size - i ? len : size - i;
    std::vector<std::uint8_t> bytes(data + i, data + i + take);
    i += take;
    const derp_addr from = sent.empty() ? derp_addr{} : p.probes()[sent[op % sent.size()]].destination;
    switch (op % 4) {
      case 0: p.receive(Bytes(bytes.data(), bytes.size()), from, now); break;
      case 1: {
        if (!sent.empty() && bytes.size() >= 20) {
          const auto& id = p.probes()[sent[(op / 4) % sent.size()]].transaction_id;
          std::memcpy(bytes.data() + 8, id.data(), id.size());
        }
        p.receive(Bytes(bytes.data(), bytes.size()), from, now);
        break;
      }
      case 2:
        now += static_cast<Nanos>(len) * kMillisecond;
        p.tick(now);
        while (p.poll_transmit(now, &t)) sent.push_back(t.probe);
        break;
      default: {
        if (p.lookups().empty()) break;
        const Lookup& lookup = p.lookups()[(op / 4) % p.lookups().size()];
        std::vector<derp_addr> addrs;
        std::size_t k = 0;
        while (k < bytes.size()) {
          derp_addr a{};
          const bool v6 = (bytes[k] & 1) != 0 && k + 17 <= bytes.size();
          if (!v6 && k + 5 > bytes.size()) break;
          a.family = v6 ? DERP_AF_INET6 : DERP_AF_INET;
          std::memcpy(a.ip, bytes.data() + k + 1, v6 ? 16 : 4);
          addrs.push_back(a);
          k += v6 ? 17 : 5;
        }
        p.resolved(lookup.host, lookup.family, addrs, now);
        while (p.poll_transmit(now, &t)) sent.push_back(t.probe);
        break;
      }
    }
    check_report(p);
  }
  p.tick(now + 10 * kSecond);
  require(p.done());
  check_report(p);
  return 0;
}
