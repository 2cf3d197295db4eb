// The path core's gates, one at a time: what it drops and counts (unknown disco keys, spoofed datagrams, forged
// announcements, CallMeMaybe over UDP, unmatched Pongs), what it keeps bounded, and betterAddr.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "crypto/box.hpp"
#include "disco/message.hpp"
#include "disco/packet.hpp"
#include "path/announce.hpp"
#include "path/better_addr.hpp"
#include "path/path_core.hpp"
#include "path/sealed_data.hpp"
#include "path_sim.hpp"

using derp::Bytes;
using derp::kMillisecond;
using derp::kSecond;
using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;
using derp::path::PathCore;
using derp::path::Via;
namespace path = derp::path;
namespace disco = derp::disco;

namespace {

NodePrivate key_from(std::uint8_t fill) {
  derp::crypto::KeyBytes raw;
  raw.fill(fill);
  derp::crypto::clamp(raw);
  return NodePrivate(raw);
}

NodePublic public_of(const NodePrivate& k) {
  NodePublic p;
  REQUIRE(derp::crypto::public_of(k, &p) == DERP_OK);
  return p;
}

path::Random counter_random() {
  auto state = std::make_shared<std::uint8_t>(0);
  return [state](derp::MutableBytes out) {
    for (auto& b : out) b = ++*state;
  };
}

derp_addr addr(const char* text) {
  derp_addr a{};
  REQUIRE(derp::parse_addr(text, &a) == DERP_OK);
  return a;
}

Bytes bytes_of(const std::string& s) { return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

// Two cores that know each other's disco keys from the host (no announcements), wired by hand.
struct Pair {
  NodePrivate a_node = key_from(1), a_disco = key_from(2), b_node = key_from(3), b_disco = key_from(4);
  path::Options options;
  std::unique_ptr<PathCore> a, b;
  derp_addr a_addr = addr("192.0.2.1:1000"), b_addr = addr("192.0.2.2:2000");

  explicit Pair(path::Options o = {}) : options(o) {
    a = std::make_unique<PathCore>(a_node, a_disco, options, counter_random());
    b = std::make_unique<PathCore>(b_node, b_disco, options, counter_random());
    REQUIRE(a->set_peer_disco(b->node_public(), b->disco_public()) == DERP_OK);
    REQUIRE(b->set_peer_disco(a->node_public(), a->disco_public()) == DERP_OK);
    a->set_local_endpoints({a_addr}, 0);
    b->set_local_endpoints({b_addr}, 0);
  }

  // Delivers everything queued, both ways, until quiet (bounded).
  void pump(derp::Nanos now) {
    for (int round = 0; round < 50; ++round) {
      bool moved = false;
      path::UdpOut u;
      while (a->take_udp(&u)) {
        moved = true;
        if (derp::operator==(u.to, b_addr)) b->receive_udp(a_addr, u.bytes, now);
      }
      while (b->take_udp(&u)) {
        moved = true;
        if (derp::operator==(u.to, a_addr)) a->receive_udp(b_addr, u.bytes, now);
      }
      path::DerpOut d;
      while (a->take_derp(&d)) {
        moved = true;
        b->receive_derp(a->node_public(), d.bytes, now);
      }
      while (b->take_derp(&d)) {
        moved = true;
        a->receive_derp(b->node_public(), d.bytes, now);
      }
      if (!moved) return;
    }
    FAIL("pump did not settle");
  }

  std::vector<path::Event> events(PathCore& c) {
    std::vector<path::Event> out;
    path::Event e;
    while (c.take_event(&e)) out.push_back(e);
    return out;
  }
};

}  // namespace

TEST_CASE("path core: host-provided disco keys upgrade without any announcement", "[path]") {
  path::Options o;
  o.accept_announcements = false;
  Pair p(o);
  REQUIRE(p.a->send(p.b->node_public(), bytes_of("hello"), 0) == DERP_OK);
  p.pump(0);
  CHECK(p.a->peer_status(p.b->node_public(), 0).path == Via::kDirect);
  CHECK(p.a->counters().announcements_sent == 0);
  auto ev = p.events(*p.b);
  REQUIRE_FALSE(ev.empty());
  CHECK(ev.front().kind == path::Event::Kind::kData);
  CHECK(ev.front().via == Via::kDerp);
  REQUIRE(p.a->send(p.b->node_public(), bytes_of("direct now"), kMillisecond) == DERP_OK);
  p.pump(kMillisecond);
  ev = p.events(*p.b);
  REQUIRE_FALSE(ev.empty());
  CHECK(ev.back().kind == path::Event::Kind::kData);
  CHECK(ev.back().via == Via::kDirect);
  CHECK(std::string(ev.back().data.begin(), ev.back().data.end()) == "direct now");
  CHECK(derp::operator==(ev.back().addr, p.a_addr));
}

TEST_CASE("path core: a spoofed datagram from the peer's address is dropped when sealed, delivered when not", "[path]") {
  for (const bool sealed : {true, false}) {
    path::Options o;
    o.seal_data = sealed;
    Pair p(o);
    REQUIRE(p.a->send(p.b->node_public(), bytes_of("x"), 0) == DERP_OK);
    p.pump(0);
    REQUIRE(p.b->peer_status(p.a->node_public(), 0).path == Via::kDirect);
    p.events(*p.b);
    // An attacker who knows alice's ip:port sends bob a datagram "from" it.
    const std::string forged = std::string(1, static_cast<char>(path::kSealedDataMarker)) + std::string(60, 'A');
    p.b->receive_udp(p.a_addr, bytes_of(forged), kMillisecond);
    const auto ev = p.events(*p.b);
    if (sealed) {
      CHECK(ev.empty());
      CHECK(p.b->counters().data_open_failed == 1);
    } else {
      REQUIRE(ev.size() == 1);  // unsealed: the host's own authentication must reject it (as WireGuard would)
      CHECK(p.b->counters().data_open_failed == 0);
    }
    // From an address no peer is at: dropped either way.
    p.b->receive_udp(addr("198.51.100.66:9"), bytes_of(forged), kMillisecond);
    CHECK(p.b->counters().data_unknown_source == 1);
  }
}

TEST_CASE("path core: disco from an unknown disco key is dropped and counted, over UDP and DERP", "[path]") {
  Pair p;
  const NodePrivate stranger = key_from(9);
  derp::crypto::SharedKey k;
  REQUIRE(derp::crypto::SharedKey::derive(stranger, p.b->disco_public(), &k) == DERP_OK);
  disco::Ping ping;
  ping.txid.fill(1);
  std::vector<std::uint8_t> payload, packet;
  disco::append(ping, &payload);
  REQUIRE(disco::seal(public_of(stranger), k, payload, derp::crypto::Nonce{}, &packet) == DERP_OK);
  p.b->receive_udp(addr("198.51.100.7:7"), packet, 0);
  p.b->receive_derp(public_of(key_from(10)), packet, 0);
  CHECK(p.b->counters().disco_unknown_sender == 2);
  CHECK(p.b->counters().pongs_sent == 0);
  path::UdpOut u;
  CHECK_FALSE(p.b->take_udp(&u));
  // A disco packet in alice's name but altered does not open: counted too, nothing answered.
  REQUIRE(derp::crypto::SharedKey::derive(p.a_disco, p.b->disco_public(), &k) == DERP_OK);
  REQUIRE(disco::seal(p.a->disco_public(), k, payload, derp::crypto::Nonce{}, &packet) == DERP_OK);
  packet.back() ^= 0x80;
  p.b->receive_udp(p.a_addr, packet, 0);
  CHECK(p.b->counters().disco_open_failed == 1);
  // Alice's disco key over DERP from another node key: refused.
  packet.back() ^= 0x80;
  p.b->receive_derp(public_of(key_from(11)), packet, 0);
  CHECK(p.b->counters().disco_wrong_transport == 1);
  CHECK(p.b->counters().pongs_sent == 0);
}

TEST_CASE("path core: a CallMeMaybe over UDP is ignored, an unmatched Pong changes nothing", "[path]") {
  Pair p;
  derp::crypto::SharedKey k;
  REQUIRE(derp::crypto::SharedKey::derive(p.a_disco, p.b->disco_public(), &k) == DERP_OK);
  disco::CallMeMaybe cmm;
  cmm.endpoints = {addr("203.0.113.5:5")};
  std::vector<std::uint8_t> payload, packet;
  disco::append(cmm, &payload);
  REQUIRE(disco::seal(p.a->disco_public(), k, payload, derp::crypto::Nonce{}, &packet) == DERP_OK);
  p.b->receive_udp(p.a_addr, packet, 0);
  CHECK(p.b->counters().disco_wrong_transport == 1);
  CHECK(p.b->peer_status(p.a->node_public(), 0).candidates == 0);

  disco::Pong pong;
  pong.txid.fill(0xee);
  pong.src = p.b_addr;
  payload.clear();
  disco::append(pong, &payload);
  REQUIRE(disco::seal(p.a->disco_public(), k, payload, derp::crypto::Nonce{}, &packet) == DERP_OK);
  p.b->receive_udp(p.a_addr, packet, 0);
  CHECK(p.b->counters().pong_unmatched == 1);
  CHECK(p.b->peer_status(p.a->node_public(), 0).path == Via::kDerp);
}

TEST_CASE("path core: announcements teach disco keys, forged ones are rejected, the host's key wins", "[path]") {
  path::Options o;
  const NodePrivate a_node = key_from(1), a_disco = key_from(2), b_node = key_from(3), b_disco = key_from(4);
  PathCore a(a_node, a_disco, o, counter_random());
  PathCore b(b_node, b_disco, o, counter_random());
  REQUIRE(a.add_peer(b.node_public()) == DERP_OK);
  REQUIRE(a.send(b.node_public(), bytes_of("hi"), 0) == DERP_OK);
  path::DerpOut d;
  std::vector<path::DerpOut> out;
  while (a.take_derp(&d)) out.push_back(d);
  REQUIRE(out.size() == 2);  // the data, and an announcement asking for one back
  CHECK(path::is_announcement(out[1].bytes));
  CHECK(out[1].bytes.size() == path::kAnnounceLen);
  // A relay (or anyone) replaying it under another source node key: it does not open.
  b.receive_derp(public_of(key_from(12)), out[1].bytes, 0);
  CHECK(b.counters().announcements_rejected == 1);
  CHECK_FALSE(b.peer_status(public_of(key_from(12)), 0).known);
  // From the real source: bob learns alice (learn_peers) and her disco key, and answers with his.
  b.receive_derp(a.node_public(), out[1].bytes, 0);
  CHECK(b.counters().announcements_received == 1);
  CHECK(b.peer_status(a.node_public(), 0).has_disco);
  REQUIRE(b.take_derp(&d));
  CHECK(path::is_announcement(d.bytes));
  a.receive_derp(b.node_public(), d.bytes, 0);
  CHECK(a.peer_status(b.node_public(), 0).has_disco);
  // One flipped bit anywhere: rejected.
  auto tampered = out[1].bytes;
  tampered[40] ^= 1;
  b.receive_derp(a.node_public(), tampered, 0);
  CHECK(b.counters().announcements_rejected == 2);

  // A host that set alice's disco key itself keeps it against an announcement of another one.
  PathCore c(key_from(5), key_from(6), o, counter_random());
  REQUIRE(c.set_peer_disco(a.node_public(), public_of(key_from(7))) == DERP_OK);
  c.receive_derp(a.node_public(), out[1].bytes, 0);
  CHECK(c.counters().announcements_rejected == 1);

  // learn_peers off: an announcement from a node the host never added is refused.
  path::Options strict;
  strict.learn_peers = false;
  PathCore s(key_from(5), key_from(6), strict, counter_random());
  s.receive_derp(a.node_public(), out[1].bytes, 0);
  CHECK(s.counters().announcements_rejected == 1);
  CHECK_FALSE(s.peer_status(a.node_public(), 0).known);
}

TEST_CASE("path core: a flood of pings from new sources keeps candidates and queues bounded", "[path]") {
  path::Options o;
  o.max_candidates = 8;
  o.max_queued = 16;
  Pair p(o);
  derp::crypto::SharedKey k;
  REQUIRE(derp::crypto::SharedKey::derive(p.a_disco, p.b->disco_public(), &k) == DERP_OK);
  for (int i = 0; i < 200; ++i) {
    disco::Ping ping;
    ping.txid.fill(static_cast<std::uint8_t>(i));
    std::vector<std::uint8_t> payload, packet;
    disco::append(ping, &payload);
    derp::crypto::Nonce n{};
    n[0] = static_cast<std::uint8_t>(i);
    REQUIRE(disco::seal(p.a->disco_public(), k, payload, n, &packet) == DERP_OK);
    const std::string from = "198.51.100.1:" + std::to_string(1000 + i);
    p.b->receive_udp(addr(from.c_str()), packet, static_cast<derp::Nanos>(i) * kMillisecond);
  }
  CHECK(p.b->peer_status(p.a->node_public(), kSecond).candidates <= 8);
  CHECK(p.b->counters().candidates_evicted > 0);
  CHECK(p.b->counters().queue_full_drops > 0);
  path::UdpOut u;
  int queued = 0;
  while (p.b->take_udp(&u)) ++queued;
  CHECK(queued <= 16);
}

TEST_CASE("path core: betterAddr scores latency, address kind and IPv6, and sticks within 1 percent", "[path]") {
  const path::AddrLatency v4{addr("192.0.2.1:1"), 10 * kMillisecond};
  const path::AddrLatency v4_slower{addr("192.0.2.2:1"), 11 * kMillisecond};
  const path::AddrLatency v4_same{addr("192.0.2.1:1"), 1 * kMillisecond};
  const path::AddrLatency none{};
  CHECK(path::better_addr(v4, none));
  CHECK_FALSE(path::better_addr(none, v4));
  CHECK_FALSE(path::better_addr(v4_same, v4));  // the same address is never better than itself
  CHECK(path::better_addr(v4, v4_slower));       // 10 points
  CHECK_FALSE(path::better_addr(v4_slower, v4));
  // Hysteresis: 10.05 ms against 10.10 ms is 1 point, not enough against a zero-point incumbent (v1.36.2's
  // strict comparison switched here, and back on the next Pong the other way).
  const path::AddrLatency a{addr("192.0.2.3:1"), 10'050'000};
  const path::AddrLatency b{addr("192.0.2.4:1"), 10'100'000};
  CHECK_FALSE(path::better_addr(a, b));
  CHECK_FALSE(path::better_addr(b, a));
  CHECK(path::better_addr(path::AddrLatency{addr("192.0.2.3:1"), 9'900'000}, b));  // 2 points
  // IPv6 gets 10 points: it wins while the IPv4 path is less than 10 % faster, ties (and loses) at 10 %.
  CHECK(path::better_addr(path::AddrLatency{addr("[2001:db8::1]:1"), 10'500'000}, v4));  // 10 > 5
  CHECK_FALSE(path::better_addr(path::AddrLatency{addr("[2001:db8::1]:1"), 11 * kMillisecond}, v4));  // 10 = 10
  CHECK(path::better_addr(v4, path::AddrLatency{addr("[2001:db8::1]:1"), 12 * kMillisecond}));  // 17 > 10
  // A private address gets 20, loopback 50, link-local 30: a LAN path beats a public one up to ~17 % slower.
  CHECK(path::better_addr(path::AddrLatency{addr("192.168.1.2:1"), 12 * kMillisecond}, v4));  // 20 > 17
  CHECK_FALSE(path::better_addr(path::AddrLatency{addr("192.168.1.2:1"), 13 * kMillisecond}, v4));  // 20 < 24
  CHECK(path::better_addr(path::AddrLatency{addr("10.1.2.3:1"), 11 * kMillisecond}, v4));
  CHECK(path::better_addr(path::AddrLatency{addr("172.16.0.1:1"), 11 * kMillisecond}, v4));
  CHECK_FALSE(path::better_addr(path::AddrLatency{addr("172.32.0.1:1"), 11 * kMillisecond}, v4));  // not private
  CHECK(path::better_addr(path::AddrLatency{addr("[fd00::1]:1"), 12 * kMillisecond}, v4));  // ULA 20 + 10
  CHECK(path::better_addr(path::AddrLatency{addr("127.0.0.1:1"), 15 * kMillisecond}, v4));  // 50 > 34
  CHECK(path::better_addr(path::AddrLatency{addr("169.254.1.1:1"), 12 * kMillisecond},
                          path::AddrLatency{addr("192.168.1.2:1"), 11 * kMillisecond}));  // 30 > 20 + 9
}

TEST_CASE("path core: the path event carries the peer, the address and the round trip", "[path]") {
  Pair p;
  REQUIRE(p.a->send(p.b->node_public(), bytes_of("x"), 0) == DERP_OK);
  // Deliver with a 7 ms round trip: the Pong comes back 7 ms after alice's Ping left.
  path::DerpOut d;
  while (p.a->take_derp(&d)) p.b->receive_derp(p.a->node_public(), d.bytes, 0);  // data + CallMeMaybe
  path::UdpOut u;
  while (p.b->take_udp(&u)) p.a->receive_udp(p.b_addr, u.bytes, 3 * kMillisecond);  // bob's pings to alice
  while (p.a->take_udp(&u)) p.b->receive_udp(p.a_addr, u.bytes, 4 * kMillisecond);  // alice's pongs (and pings)
  while (p.b->take_udp(&u)) p.a->receive_udp(p.b_addr, u.bytes, 7 * kMillisecond);
  auto ev = p.events(*p.b);
  bool changed = false;
  for (const auto& e : ev) {
    if (e.kind != path::Event::Kind::kPathChanged) continue;
    changed = true;
    CHECK(e.peer == p.a->node_public());
    CHECK(e.via == Via::kDirect);
    CHECK(derp::operator==(e.addr, p.a_addr));
    CHECK(e.rtt == 4 * kMillisecond);  // bob pinged at 0 (on the CallMeMaybe), alice's Pong reached him at 4 ms
  }
  CHECK(changed);
}

TEST_CASE("path core: a CallMeMaybe that leaves out the direct path's address drops it, and its late Pong is ignored",
          "[path]") {
  Pair p;
  const derp_addr b2 = addr("192.0.2.22:2002");
  auto take_udp = [](PathCore& c) {
    std::vector<path::UdpOut> out;
    path::UdpOut u;
    while (c.take_udp(&u)) out.push_back(u);
    return out;
  };
  auto deliver_derp = [](PathCore& from, PathCore& to, derp::Nanos now) {
    path::DerpOut d;
    while (from.take_derp(&d)) to.receive_derp(from.node_public(), d.bytes, now);
  };
  // Bob speaks first: his data and CallMeMaybe{b_addr} over DERP; alice pings b_addr (a CallMeMaybe-only candidate).
  REQUIRE(p.b->send(p.a->node_public(), bytes_of("hi"), 0) == DERP_OK);
  deliver_derp(*p.b, *p.a, 0);
  auto pings = take_udp(*p.a);
  REQUIRE(pings.size() == 1);
  CHECK(derp::operator==(pings[0].to, p.b_addr));
  p.b->receive_udp(p.a_addr, pings[0].bytes, 0);
  // Bob answers with a Pong (first) and pings back; only the Pong reaches alice: b_addr never pinged her.
  auto from_b = take_udp(*p.b);
  REQUIRE(from_b.size() == 2);
  p.a->receive_udp(p.b_addr, from_b[0].bytes, kMillisecond);
  REQUIRE(p.a->peer_status(p.b->node_public(), kMillisecond).path == Via::kDirect);
  (void)p.events(*p.a);

  // Alice sends, so she heartbeats: a second Ping to b_addr, whose Pong we hold back.
  REQUIRE(p.a->send(p.b->node_public(), bytes_of("to b"), kMillisecond) == DERP_OK);
  (void)take_udp(*p.a);
  p.a->tick(3 * kSecond + kMillisecond);
  auto heartbeat = take_udp(*p.a);
  REQUIRE_FALSE(heartbeat.empty());
  CHECK(derp::operator==(heartbeat[0].to, p.b_addr));
  p.b->receive_udp(p.a_addr, heartbeat[0].bytes, 3 * kSecond + kMillisecond);
  auto late_pong = take_udp(*p.b);
  REQUIRE(late_pong.size() == 1);

  // Bob moves: his next CallMeMaybe lists b2 only. Alice drops b_addr, and with it the direct path, at once.
  p.b->set_local_endpoints({b2}, 3 * kSecond + 2 * kMillisecond);
  (void)take_udp(*p.b);
  deliver_derp(*p.b, *p.a, 3 * kSecond + 2 * kMillisecond);
  CHECK(p.a->peer_status(p.b->node_public(), 3 * kSecond + 2 * kMillisecond).path == Via::kDerp);
  auto ev = p.events(*p.a);
  REQUIRE_FALSE(ev.empty());
  CHECK(ev.back().kind == path::Event::Kind::kPathChanged);
  CHECK(ev.back().via == Via::kDerp);
  auto to_b2 = take_udp(*p.a);
  REQUIRE_FALSE(to_b2.empty());
  CHECK(derp::operator==(to_b2[0].to, b2));  // the new round pings the new address

  // The held Pong (a ping alice really sent, within its 5 s) is for an address she no longer has: ignored.
  p.a->receive_udp(p.b_addr, late_pong[0].bytes, 3 * kSecond + 3 * kMillisecond);
  CHECK(p.a->counters().pong_stale == 1);
  CHECK(p.a->peer_status(p.b->node_public(), 3 * kSecond + 3 * kMillisecond).path == Via::kDerp);
}
