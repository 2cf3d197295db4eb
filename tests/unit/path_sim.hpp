// A simulated internet for the path core: two nodes, each optionally behind a NAT, an in-process DERP relay and a
// STUN server, and simulated time (a discrete-event queue). Nothing here touches a socket or a clock.
//
// NAT kinds, as the kernel lab builds them with nftables:
//   kNone    the node's own address is public;
//   kEasy    endpoint-independent mapping (port preserved, like `masquerade`), address-and-port-dependent
//            filtering (Linux conntrack: only replies from a destination the inside sent to);
//   kHard    a new public port per destination (`masquerade fully-random`), and only that destination may answer;
//   kBlocked every UDP datagram dropped, both ways.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "common/time.hpp"
#include "crypto/node_key.hpp"
#include "path/path_core.hpp"

namespace derp::test {

enum class NatKind { kNone, kEasy, kHard, kBlocked };

struct SimReceived {
  std::string text;
  path::Via via;
  Nanos at;
};

struct SimPathChange {
  path::Via via;
  derp_addr addr;
  Nanos rtt;
  Nanos at;
};

class PathSim {
 public:
  struct Node {
    std::string name;
    NatKind nat = NatKind::kNone;
    derp_addr local{};        // the node's own address (LAN address behind a NAT)
    std::uint8_t public_ip[4] = {};  // the NAT's outside address (kNone: the node's own)
    std::unique_ptr<path::PathCore> core;
    crypto::NodePublic node_key;
    std::uint64_t rng = 0;
    // NAT state: public port → (inside, allowed remote set). kEasy: one mapping; kHard: one per destination.
    struct Mapping {
      std::uint16_t public_port;
      derp_addr remote_only{};  // kHard: the only remote allowed
      std::set<std::string> allowed;  // kEasy: remotes the inside sent to
    };
    std::map<std::uint16_t, Mapping> mappings;
    std::map<std::string, std::uint16_t> hard_by_destination;
    std::uint16_t next_port = 50000;
    std::vector<SimReceived> received;
    std::vector<SimPathChange> changes;
  };

  PathSim(NatKind a, NatKind b, path::Options options = {});

  Node& a() { return *nodes_[0]; }
  Node& b() { return *nodes_[1]; }
  Nanos now() const { return now_; }

  // Both nodes ask the STUN server for their public endpoint from their UDP socket (that creates the NAT mapping,
  // as it would with a real NAT) and hand the core {STUN address, local address}.
  void discover_endpoints();

  // Sends "<from>-><to> #i" every interval from `start` until `until`, from one node to the other.
  void schedule_traffic(Node& from, Node& to, Nanos start, Nanos interval, Nanos until);
  void run_until(Nanos t);

  // Drop every UDP datagram between the two sites (STUN still works): the direct path is cut.
  bool direct_cut = false;
  Nanos udp_latency = 10 * kMillisecond;
  Nanos derp_latency = 40 * kMillisecond;

  std::uint64_t udp_dropped_by_nat = 0;
  std::uint64_t udp_dropped_by_cut = 0;
  std::uint64_t udp_unroutable = 0;

 private:
  struct Item {
    Nanos at;
    std::uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Item& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  void at(Nanos t, std::function<void()> fn);
  void drain(Node& n);
  void send_udp(Node& from, const derp_addr& to, std::vector<std::uint8_t> bytes);
  bool translate_out(Node& n, const derp_addr& to, derp_addr* src);
  void arrive_udp(const derp_addr& src, const derp_addr& dst, std::vector<std::uint8_t> bytes);
  Node* node_for_public_ip(const std::uint8_t ip[4]);
  Node* other(Node& n) { return &n == nodes_[0].get() ? nodes_[1].get() : nodes_[0].get(); }

  std::vector<std::unique_ptr<Node>> nodes_;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> queue_;
  std::uint64_t seq_ = 0;
  Nanos now_ = 0;
};

}  // namespace derp::test
