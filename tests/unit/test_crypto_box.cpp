// NaCl box seal/open and the precomputed shared key (reference §3) against Go's x/crypto/nacl/box
// (testdata info_boxes.json fixed_nonce[] and shared_keys[]).
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "crypto/box.hpp"
#include "crypto/node_key.hpp"
#include "derp/common.h"
#include "support/testdata.hpp"

using derp::Bytes;
using derp::MutableBytes;
using derp::crypto::KeyBytes;
using derp::crypto::Nonce;
using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;
using derp::crypto::SharedKey;
using derp::test::from_hex;
using derp::test::to_hex;

namespace {

KeyBytes sequence_key(std::uint8_t first) {
  KeyBytes k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(first + i);
  return k;
}

NodePublic public_of(const NodePrivate& priv) {
  NodePublic pub;
  REQUIRE(derp::crypto::public_of(priv, &pub) == DERP_OK);
  return pub;
}

Nonce counting_nonce() {
  Nonce n;
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::uint8_t>(i);
  return n;
}

Bytes bytes_of(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
std::string text_of(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }

// name → private key, from keys.json.
std::map<std::string, NodePrivate> named_keys() {
  std::map<std::string, NodePrivate> keys;
  const auto doc = derp::test::read_json_file("tailscale/keys.json");  // kept alive for the loop
  for (const auto& k : doc.at("keys")) {
    const auto raw = from_hex(k.at("private_raw_hex").get<std::string>());
    keys.emplace(k.at("name").get<std::string>(), NodePrivate::from_raw(raw.data()));
  }
  return keys;
}

}  // namespace

TEST_CASE("crypto: fixed_nonce vectors: seal reproduces Go's boxes byte for byte and opens them", "[crypto][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto keys = named_keys();
  const auto doc = derp::test::read_json_file("tailscale/info_boxes.json");
  REQUIRE(doc.at("fixed_nonce").size() >= 5);
  for (const auto& v : doc.at("fixed_nonce")) {
    INFO(v.at("name").get<std::string>());
    const NodePrivate& sender = keys.at(v.at("sender"));
    const NodePrivate& recipient = keys.at(v.at("recipient"));
    const std::string plaintext = v.at("plaintext");
    const auto nonce_bytes = from_hex(v.at("nonce_hex").get<std::string>());
    REQUIRE(nonce_bytes.size() == 24);
    Nonce nonce;
    std::copy(nonce_bytes.begin(), nonce_bytes.end(), nonce.begin());

    std::vector<std::uint8_t> sealed;
    REQUIRE(derp::crypto::seal(sender, public_of(recipient), bytes_of(plaintext), &sealed, &nonce) == DERP_OK);
    CHECK(to_hex(sealed) == v.at("sealed_hex").get<std::string>());

    std::vector<std::uint8_t> opened;
    REQUIRE(derp::crypto::open(recipient, public_of(sender), from_hex(v.at("sealed_hex").get<std::string>()),
                               &opened) == DERP_OK);
    CHECK(text_of(opened) == plaintext);
  }
}

TEST_CASE("crypto: shared_keys vectors: crypto_box_beforenm equals Go's box.Precompute", "[crypto][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto keys = named_keys();
  const auto doc = derp::test::read_json_file("tailscale/info_boxes.json");
  REQUIRE(doc.at("shared_keys").size() == 2);
  for (const auto& v : doc.at("shared_keys")) {
    const std::string pair = v.at("pair");  // "server<->A"
    INFO(pair);
    const std::string a = pair.substr(0, pair.find("<->"));
    const std::string b = pair.substr(pair.find("<->") + 3);
    SharedKey ab;
    SharedKey ba;
    REQUIRE(SharedKey::derive(keys.at(a), public_of(keys.at(b)), &ab) == DERP_OK);
    REQUIRE(SharedKey::derive(keys.at(b), public_of(keys.at(a)), &ba) == DERP_OK);
    CHECK(to_hex(ab.bytes().data(), 32) == v.at("box_precompute_hex").get<std::string>());
    CHECK(ab.bytes() == ba.bytes());
  }
}

TEST_CASE("crypto: shared key seals and opens exactly like seal/open", "[crypto]") {
  const NodePrivate server(sequence_key(1));
  const NodePrivate client(sequence_key(0x41));
  SharedKey server_side;
  SharedKey client_side;
  REQUIRE(SharedKey::derive(server, public_of(client), &server_side) == DERP_OK);
  REQUIRE(SharedKey::derive(client, public_of(server), &client_side) == DERP_OK);

  const std::string message = "{\"version\":2}";
  const Nonce nonce = counting_nonce();
  std::vector<std::uint8_t> by_box;
  REQUIRE(derp::crypto::seal(server, public_of(client), bytes_of(message), &by_box, &nonce) == DERP_OK);
  std::vector<std::uint8_t> by_shared(derp::crypto::sealed_size(message.size()));
  REQUIRE(server_side.seal(bytes_of(message), MutableBytes(by_shared), &nonce) == DERP_OK);
  CHECK(by_shared == by_box);

  std::vector<std::uint8_t> opened(message.size());
  REQUIRE(client_side.open(by_box, MutableBytes(opened)) == DERP_OK);
  CHECK(text_of(opened) == message);

  // Random nonces, tampering and the unset key.
  std::vector<std::uint8_t> fresh(derp::crypto::sealed_size(message.size()));
  REQUIRE(client_side.seal(bytes_of(message), MutableBytes(fresh)) == DERP_OK);
  REQUIRE(server_side.open(fresh, MutableBytes(opened)) == DERP_OK);
  fresh.back() ^= 1;
  CHECK(server_side.open(fresh, MutableBytes(opened)) == DERP_ERR_BOX_OPEN);
  CHECK(SharedKey().seal(bytes_of(message), MutableBytes(fresh)) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(SharedKey::derive(server, NodePublic(), &server_side) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("crypto: box: tampering, wrong keys and short input fail to open", "[crypto]") {
  const NodePrivate alice(sequence_key(0x21));
  const NodePrivate bob(sequence_key(0x41));
  const NodePrivate carol(sequence_key(0x61));
  const std::string message = "{\"version\":2,\"CanAckPings\":true}";
  std::vector<std::uint8_t> sealed;
  REQUIRE(derp::crypto::seal(alice, public_of(bob), bytes_of(message), &sealed) == DERP_OK);
  REQUIRE(sealed.size() == message.size() + 40);

  std::vector<std::uint8_t> out;
  REQUIRE(derp::crypto::open(bob, public_of(alice), sealed, &out) == DERP_OK);
  CHECK(text_of(out) == message);

  // One flipped bit anywhere: in the nonce, the MAC, or the ciphertext.
  for (std::size_t at : {std::size_t{0}, std::size_t{23}, std::size_t{24}, std::size_t{39}, std::size_t{40},
                         sealed.size() - 1}) {
    INFO("flipped byte " << at);
    auto tampered = sealed;
    tampered[at] ^= 0x01;
    CHECK(derp::crypto::open(bob, public_of(alice), tampered, &out) == DERP_ERR_BOX_OPEN);
    CHECK(out.empty());
  }
  CHECK(derp::crypto::open(carol, public_of(alice), sealed, &out) == DERP_ERR_BOX_OPEN);  // wrong recipient
  CHECK(derp::crypto::open(bob, public_of(carol), sealed, &out) == DERP_ERR_BOX_OPEN);    // wrong sender
  CHECK(derp::crypto::open(bob, NodePublic(), sealed, &out) == DERP_ERR_BOX_OPEN);        // zero sender key
  for (std::size_t len : {0, 1, 24, 39}) {
    CHECK(derp::crypto::open(bob, public_of(alice), Bytes(sealed.data(), len), &out) == DERP_ERR_BOX_OPEN);
  }
  auto longer = sealed;
  longer.push_back(0);
  CHECK(derp::crypto::open(bob, public_of(alice), longer, &out) == DERP_ERR_BOX_OPEN);
}

TEST_CASE("crypto: box: empty plaintext, random nonces, buffers and bad keys", "[crypto]") {
  const NodePrivate alice(sequence_key(0x21));
  const NodePrivate bob(sequence_key(0x41));

  std::vector<std::uint8_t> empty_box;
  REQUIRE(derp::crypto::seal(alice, public_of(bob), Bytes(), &empty_box) == DERP_OK);
  CHECK(empty_box.size() == 40);
  std::vector<std::uint8_t> out;
  CHECK(derp::crypto::open(bob, public_of(alice), empty_box, &out) == DERP_OK);
  CHECK(out.empty());

  const std::string message = "same text";
  std::vector<std::uint8_t> first;
  std::vector<std::uint8_t> second;
  REQUIRE(derp::crypto::seal(alice, public_of(bob), bytes_of(message), &first) == DERP_OK);
  REQUIRE(derp::crypto::seal(alice, public_of(bob), bytes_of(message), &second) == DERP_OK);
  CHECK(first != second);  // fresh random nonce each time
  CHECK_FALSE(std::equal(first.begin(), first.begin() + 24, second.begin()));

  std::vector<std::uint8_t> small(message.size() + 39);
  CHECK(derp::crypto::seal(alice, public_of(bob), bytes_of(message), MutableBytes(small)) ==
        DERP_ERR_BUFFER_TOO_SMALL);
  std::vector<std::uint8_t> plain(message.size() - 1);
  CHECK(derp::crypto::open(bob, public_of(alice), first, MutableBytes(plain)) == DERP_ERR_BUFFER_TOO_SMALL);

  std::vector<std::uint8_t> sealed;
  CHECK(derp::crypto::seal(NodePrivate(), public_of(bob), bytes_of(message), &sealed) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp::crypto::seal(alice, NodePublic(), bytes_of(message), &sealed) == DERP_ERR_INVALID_ARGUMENT);
  KeyBytes low_order{};
  low_order[0] = 1;  // u = 1: a point of small order; the shared secret would be zero
  CHECK(derp::crypto::seal(alice, NodePublic(low_order), bytes_of(message), &sealed) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp::crypto::open(bob, NodePublic(low_order), first, &out) == DERP_ERR_BOX_OPEN);
  CHECK(derp::crypto::open(NodePrivate(), public_of(alice), first, &out) == DERP_ERR_INVALID_ARGUMENT);
}
