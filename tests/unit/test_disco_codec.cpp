// lib/disco beyond the recordings: HEAD's Ping padding, round trips, and the nonce the caller supplies.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "common/address.hpp"
#include "crypto/box.hpp"
#include "crypto/node_key.hpp"
#include "disco/message.hpp"
#include "disco/packet.hpp"

namespace disco = derp::disco;
using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;
using derp::crypto::SharedKey;

namespace {
NodePrivate private_filled(std::uint8_t b) {
  derp::crypto::KeyBytes raw;
  raw.fill(b);
  derp::crypto::clamp(raw);
  return NodePrivate(raw);
}
NodePublic public_of(const NodePrivate& k) {
  NodePublic p;
  REQUIRE(derp::crypto::public_of(k, &p) == DERP_OK);
  return p;
}
}  // namespace

TEST_CASE("disco ping padding: zero bytes after the key, reported back by parse (Tailscale HEAD)", "[disco]") {
  disco::Ping ping;
  ping.txid.fill(0x42);
  derp::crypto::KeyBytes key;
  key.fill(7);
  ping.node_key = NodePublic(key);
  ping.padding = 100;
  std::vector<std::uint8_t> out;
  disco::append(ping, &out);
  REQUIRE(out.size() == 2 + 44 + 100);
  CHECK(disco::ping_size(ping) == out.size());
  for (std::size_t i = 46; i < out.size(); ++i) CHECK(out[i] == 0);
  disco::Message m;
  REQUIRE(disco::parse(out, &m) == DERP_OK);
  CHECK(m.ping.padding == 100);
  CHECK(m.ping.node_key == ping.node_key);
  CHECK(m.ping.txid == ping.txid);
}

TEST_CASE("disco call-me-maybe: v4 and v6 endpoints round trip, a stray byte discards them all", "[disco]") {
  disco::CallMeMaybe cmm;
  derp_addr a{}, b{};
  REQUIRE(derp::parse_addr("192.0.2.1:41641", &a) == DERP_OK);
  REQUIRE(derp::parse_addr("[2001:db8::7]:9", &b) == DERP_OK);
  cmm.endpoints = {a, b};
  std::vector<std::uint8_t> out;
  disco::append(cmm, &out);
  REQUIRE(out.size() == disco::call_me_maybe_size(2));
  disco::Message m;
  REQUIRE(disco::parse(out, &m) == DERP_OK);
  REQUIRE(m.call_me_maybe.endpoints.size() == 2);
  CHECK(derp::operator==(m.call_me_maybe.endpoints[0], a));
  CHECK(derp::operator==(m.call_me_maybe.endpoints[1], b));
  out.push_back(0);
  REQUIRE(disco::parse(out, &m) == DERP_OK);
  CHECK(m.call_me_maybe.endpoints.empty());
}

TEST_CASE("disco packet: the caller's nonce is the one on the wire, a new nonce gives new bytes", "[disco]") {
  const NodePrivate a = private_filled(1), b = private_filled(2);
  SharedKey ab, ba;
  REQUIRE(SharedKey::derive(a, public_of(b), &ab) == DERP_OK);
  REQUIRE(SharedKey::derive(b, public_of(a), &ba) == DERP_OK);
  const std::vector<std::uint8_t> payload = {1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  derp::crypto::Nonce n1{}, n2{};
  n2[0] = 1;
  std::vector<std::uint8_t> p1, p2, opened;
  REQUIRE(disco::seal(public_of(a), ab, payload, n1, &p1) == DERP_OK);
  REQUIRE(disco::seal(public_of(a), ab, payload, n2, &p2) == DERP_OK);
  CHECK(std::memcmp(p1.data() + disco::kClaimLen, n1.data(), n1.size()) == 0);
  CHECK(p1 != p2);
  REQUIRE(disco::open(ba, p2, &opened) == DERP_OK);
  CHECK(opened == payload);
  p2.back() ^= 1;
  CHECK(disco::open(ba, p2, &opened) == DERP_ERR_BOX_OPEN);
  CHECK(disco::open(ba, derp::Bytes(p1.data(), disco::kMinOpenableLen - 1), &opened) == DERP_ERR_BOX_OPEN);
}
