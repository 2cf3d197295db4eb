// Fuzz target: the path core as the network meets it. The input is a script of records
//   kind (1) | length (1) | bytes (length)
// kind & 3: 0 = UDP datagram from the peer's address, 1 = UDP from another address, 2 = DERP packet from the peer,
// 3 = DERP packet from another node key; kind bit 2 sends data first, bit 3 advances time by a second. The peer's
// disco key is known, so well-formed records can reach every handler. Invariants: outputs stay bounded and every
// path event names the one peer.
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "crypto/node_key.hpp"
#include "derp/common.h"
#include "path/path_core.hpp"

namespace {

using derp::Bytes;
namespace path = derp::path;

void require(bool c) {
  if (!c) std::abort();
}

derp::crypto::NodePrivate key_from(std::uint8_t fill) {
  derp::crypto::KeyBytes raw;
  raw.fill(fill);
  derp::crypto::clamp(raw);
  return derp::crypto::NodePrivate(raw);
}

derp::crypto::NodePublic public_of(const derp::crypto::NodePrivate& k) {
  derp::crypto::NodePublic p;
  derp::crypto::public_of(k, &p);
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  path::Options o;
  o.max_queued = 64;
  o.max_candidates = 8;
  std::uint8_t counter = 0;
  path::PathCore core(key_from(1), key_from(2), o, [&counter](derp::MutableBytes out) {
    for (auto& b : out) b = ++counter;
  });
  // The peer: node key 3, disco key 4 (the seeds are sealed with disco 4 → disco 2).
  const derp::crypto::NodePublic peer = public_of(key_from(3));
  require(core.set_peer_disco(peer, public_of(key_from(4))) == DERP_OK);
  derp_addr local{DERP_AF_INET, 0, 1000, {192, 0, 2, 1}};
  core.set_local_endpoints({local}, 0);
  const derp_addr peer_addr{DERP_AF_INET, 0, 2000, {192, 0, 2, 2}};
  const derp_addr other_addr{DERP_AF_INET, 0, 3000, {198, 51, 100, 3}};
  const derp::crypto::NodePublic other = public_of(key_from(5));

  derp::Nanos now = 0;
  std::size_t at = 0;
  while (at + 2 <= size) {
    const std::uint8_t kind = data[at];
    const std::size_t len = std::min<std::size_t>(data[at + 1], size - at - 2);
    const Bytes record(data + at + 2, len);
    at += 2 + len;
    if (kind & 8) now += derp::kSecond;
    if (kind & 4) core.send(peer, Bytes(reinterpret_cast<const std::uint8_t*>("data"), 4), now);
    switch (kind & 3) {
      case 0: core.receive_udp(peer_addr, record, now); break;
      case 1: core.receive_udp(other_addr, record, now); break;
      case 2: core.receive_derp(peer, record, now); break;
      default: core.receive_derp(other, record, now); break;
    }
    if (core.next_deadline() <= now) core.tick(now);
  }
  core.tick(now + 10 * derp::kSecond);
  std::size_t n = 0;
  path::UdpOut u;
  while (core.take_udp(&u)) ++n;
  require(n <= 64);
  n = 0;
  path::DerpOut d;
  while (core.take_derp(&d)) ++n;
  require(n <= 64);
  path::Event e;
  n = 0;
  while (core.take_event(&e)) {
    ++n;
    if (e.kind == path::Event::Kind::kPathChanged) require(e.peer == peer);
  }
  require(n <= 64);
  require(core.peer_status(peer, now).candidates <= 8);
  return 0;
}
