#include "path_sim.hpp"

#include <cstring>

#include <catch2/catch.hpp>

namespace derp::test {

namespace {

constexpr std::uint8_t kStunIp[4] = {198, 51, 100, 1};
constexpr std::uint16_t kStunPort = 3478;
constexpr std::uint16_t kSocketPort = 41641;

std::string key_of(const derp_addr& a) { return format_addr(a); }

std::uint64_t next_random(std::uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

crypto::NodePrivate key_from(std::uint8_t fill) {
  crypto::KeyBytes raw;
  raw.fill(fill);
  crypto::clamp(raw);
  return crypto::NodePrivate(raw);
}

}  // namespace

PathSim::PathSim(NatKind ka, NatKind kb, path::Options options) {
  const NatKind kinds[2] = {ka, kb};
  for (int i = 0; i < 2; ++i) {
    auto n = std::make_unique<Node>();
    n->name = i == 0 ? "alice" : "bob";
    n->nat = kinds[i];
    n->rng = 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(i + 1);
    if (n->nat == NatKind::kNone) {
      const std::uint8_t ip[4] = {192, 0, 2, static_cast<std::uint8_t>(10 + i)};
      std::memcpy(n->public_ip, ip, 4);
      n->local = make_addr_v4(ip, kSocketPort);
    } else {
      const std::uint8_t outside[4] = {203, 0, 113, static_cast<std::uint8_t>(1 + i)};
      const std::uint8_t inside[4] = {192, 168, static_cast<std::uint8_t>(1 + i), 2};
      std::memcpy(n->public_ip, outside, 4);
      n->local = make_addr_v4(inside, kSocketPort);
    }
    Node* raw = n.get();
    const crypto::NodePrivate node_private = key_from(static_cast<std::uint8_t>(0x10 + i));
    const crypto::NodePrivate disco_private = key_from(static_cast<std::uint8_t>(0x20 + i));
    n->core = std::make_unique<path::PathCore>(node_private, disco_private, options, [raw](MutableBytes out) {
      for (auto& byte : out) byte = static_cast<std::uint8_t>(next_random(raw->rng));
    });
    n->node_key = n->core->node_public();
    nodes_.push_back(std::move(n));
  }
  // The peers know each other's node keys (the host's address book); disco keys come from announcements.
  REQUIRE(a().core->add_peer(b().node_key) == DERP_OK);
  REQUIRE(b().core->add_peer(a().node_key) == DERP_OK);
}

void PathSim::at(Nanos t, std::function<void()> fn) { queue_.push(Item{t, seq_++, std::move(fn)}); }

bool PathSim::translate_out(Node& n, const derp_addr& to, derp_addr* src) {
  switch (n.nat) {
    case NatKind::kBlocked: return false;
    case NatKind::kNone: *src = n.local; return true;
    case NatKind::kEasy: {
      auto it = n.mappings.find(n.local.port);  // port preserving, one mapping for every destination
      if (it == n.mappings.end()) it = n.mappings.emplace(n.local.port, Node::Mapping{n.local.port, {}, {}}).first;
      it->second.allowed.insert(key_of(to));
      *src = make_addr_v4(n.public_ip, it->second.public_port);
      return true;
    }
    case NatKind::kHard: {
      auto found = n.hard_by_destination.find(key_of(to));
      std::uint16_t port;
      if (found == n.hard_by_destination.end()) {
        port = n.next_port++;
        n.hard_by_destination[key_of(to)] = port;
        n.mappings.emplace(port, Node::Mapping{port, to, {}});
      } else {
        port = found->second;
      }
      *src = make_addr_v4(n.public_ip, port);
      return true;
    }
  }
  return false;
}

PathSim::Node* PathSim::node_for_public_ip(const std::uint8_t ip[4]) {
  for (auto& n : nodes_) {
    if (std::memcmp(n->public_ip, ip, 4) == 0) return n.get();
  }
  return nullptr;
}

void PathSim::discover_endpoints() {
  for (auto& n : nodes_) {
    std::vector<derp_addr> endpoints;
    derp_addr mapped{};
    if (translate_out(*n, make_addr_v4(kStunIp, kStunPort), &mapped)) endpoints.push_back(mapped);
    endpoints.push_back(n->local);
    n->core->set_local_endpoints(endpoints, now_);
    drain(*n);
  }
}

void PathSim::send_udp(Node& from, const derp_addr& to, std::vector<std::uint8_t> bytes) {
  derp_addr src{};
  if (to.family != DERP_AF_INET || !translate_out(from, to, &src)) {
    ++udp_dropped_by_nat;
    return;
  }
  at(now_ + udp_latency, [this, src, to, b = std::move(bytes)]() mutable { arrive_udp(src, to, std::move(b)); });
}

void PathSim::arrive_udp(const derp_addr& src, const derp_addr& dst, std::vector<std::uint8_t> bytes) {
  if (direct_cut) {
    ++udp_dropped_by_cut;
    return;
  }
  Node* n = node_for_public_ip(dst.ip);
  if (!n) {
    ++udp_unroutable;  // a LAN address of the other site, or nobody
    return;
  }
  switch (n->nat) {
    case NatKind::kBlocked: ++udp_dropped_by_nat; return;
    case NatKind::kNone:
      if (dst.port != n->local.port) return;
      break;
    case NatKind::kEasy:
    case NatKind::kHard: {
      auto it = n->mappings.find(dst.port);
      if (it == n->mappings.end()) {
        ++udp_dropped_by_nat;
        return;
      }
      const bool allowed = n->nat == NatKind::kEasy ? it->second.allowed.count(key_of(src)) > 0
                                                     : derp::operator==(it->second.remote_only, src);
      if (!allowed) {
        ++udp_dropped_by_nat;
        return;
      }
      break;
    }
  }
  n->core->receive_udp(src, bytes, now_);
  drain(*n);
}

void PathSim::drain(Node& n) {
  path::UdpOut u;
  while (n.core->take_udp(&u)) send_udp(n, u.to, std::move(u.bytes));
  path::DerpOut d;
  while (n.core->take_derp(&d)) {
    Node* to = other(n);
    if (!(d.to == to->node_key)) continue;
    const crypto::NodePublic src = n.node_key;
    at(now_ + derp_latency, [this, to, src, b = std::move(d.bytes)]() {
      to->core->receive_derp(src, b, now_);
      drain(*to);
    });
  }
  path::Event e;
  while (n.core->take_event(&e)) {
    if (e.kind == path::Event::Kind::kData) {
      n.received.push_back({std::string(e.data.begin(), e.data.end()), e.via, now_});
    } else {
      n.changes.push_back({e.via, e.addr, e.rtt, now_});
    }
  }
}

void PathSim::schedule_traffic(Node& from, Node& to, Nanos start, Nanos interval, Nanos until) {
  int i = 0;
  for (Nanos t = start; t < until; t += interval, ++i) {
    at(t, [this, &from, &to, i] {
      const std::string text = from.name + "->" + to.name + " #" + std::to_string(i);
      REQUIRE(from.core->send(to.node_key, Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                              now_) == DERP_OK);
      drain(from);
    });
  }
}

void PathSim::run_until(Nanos t) {
  // Bounded: every step either pops an item or fires a deadline strictly in the future of the last one.
  for (int steps = 0; steps < 2'000'000; ++steps) {
    Nanos next = t;
    if (!queue_.empty()) next = std::min(next, queue_.top().at);
    for (auto& n : nodes_) next = std::min(next, std::max(n->core->next_deadline(), now_));
    if (next >= t) {
      now_ = t;
      return;
    }
    now_ = next;
    if (!queue_.empty() && queue_.top().at == now_) {
      Item item = queue_.top();
      queue_.pop();
      item.fn();
      continue;
    }
    for (auto& n : nodes_) {
      if (n->core->next_deadline() <= now_) {
        n->core->tick(now_);
        drain(*n);
      }
    }
  }
  FAIL("simulation did not settle");
}

}  // namespace derp::test
