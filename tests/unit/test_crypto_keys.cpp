// Node keys and their text forms (reference §0) against Tailscale's recorded keys (testdata keys.json).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <string>
#include <thread>
#include <vector>

#include "crypto/key_file.hpp"
#include "crypto/key_text.hpp"
#include "crypto/node_key.hpp"
#include "crypto/sodium_init.hpp"
#include "derp/common.h"
#include "support/testdata.hpp"

using derp::crypto::KeyBytes;
using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;
using derp::test::from_hex;

namespace {

KeyBytes key_bytes(const std::string& hex) {
  const auto v = from_hex(hex);
  REQUIRE(v.size() == 32);
  KeyBytes k;
  std::copy(v.begin(), v.end(), k.begin());
  return k;
}

KeyBytes sequence_key(std::uint8_t first) {
  KeyBytes k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(first + i);
  return k;
}

const std::string kServerPublicHex = "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c";

}  // namespace

TEST_CASE("crypto: keys.json: public keys, text forms and ShortString match Tailscale", "[crypto][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto doc = derp::test::read_json_file("tailscale/keys.json");
  REQUIRE(doc.at("keys").size() >= 6);
  for (const auto& k : doc.at("keys")) {
    const std::string name = k.at("name");
    INFO("key " << name);
    const NodePrivate priv(key_bytes(k.at("private_raw_hex")));
    NodePublic pub;
    REQUIRE(derp::crypto::public_of(priv, &pub) == DERP_OK);
    CHECK(derp::test::to_hex(pub.data(), 32) == k.at("public_raw_hex").get<std::string>());

    // Clamping first gives the same public key: X25519 clamps internally.
    KeyBytes clamped = priv.bytes();
    derp::crypto::clamp(clamped);
    CHECK(derp::test::to_hex(clamped.data(), 32) == k.at("private_clamped_hex").get<std::string>());
    NodePublic pub_from_clamped;
    REQUIRE(derp::crypto::public_of(NodePrivate(clamped), &pub_from_clamped) == DERP_OK);
    CHECK(pub_from_clamped == pub);

    CHECK(derp::crypto::format_public(pub) == k.at("public_text").get<std::string>());
    CHECK(derp::crypto::format_public(pub) == k.at("public_String").get<std::string>());
    CHECK(derp::crypto::format_private(priv) == k.at("private_text").get<std::string>());
    CHECK(derp::crypto::format_untyped_hex(pub) == k.at("public_raw_hex").get<std::string>());
    CHECK(derp::crypto::short_string(pub) == k.at("public_ShortString").get<std::string>());

    NodePublic parsed_pub;
    REQUIRE(derp::crypto::parse_public(k.at("public_text").get<std::string>(), &parsed_pub) == DERP_OK);
    CHECK(parsed_pub == pub);
    NodePrivate parsed_priv;
    REQUIRE(derp::crypto::parse_private(k.at("private_text").get<std::string>(), &parsed_priv) == DERP_OK);
    CHECK(parsed_priv == priv);
    NodePublic parsed_untyped;
    REQUIRE(derp::crypto::parse_public_untyped(k.at("public_raw_hex").get<std::string>(), &parsed_untyped) ==
            DERP_OK);
    CHECK(parsed_untyped == pub);
  }
}

TEST_CASE("crypto: the reference §0/§10 server key without testdata", "[crypto]") {
  // server priv 01..20 (raw) and its clamped form 0002..1f60 (reference §10) share one public key.
  NodePublic from_raw;
  NodePublic from_clamped;
  REQUIRE(derp::crypto::public_of(NodePrivate(sequence_key(1)), &from_raw) == DERP_OK);
  const NodePrivate clamped(key_bytes("0002030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f60"));
  REQUIRE(derp::crypto::public_of(clamped, &from_clamped) == DERP_OK);
  CHECK(derp::crypto::format_untyped_hex(from_raw) == kServerPublicHex);
  CHECK(from_clamped == from_raw);
  CHECK(derp::crypto::short_string(from_raw) == "[B6N8v]");
  CHECK(derp::crypto::short_string(NodePublic()) == "");  // Go's debug32 prints nothing for the zero key
}

TEST_CASE("crypto: key text parse errors name the first thing wrong", "[crypto]") {
  const std::string hex = kServerPublicHex;
  const KeyBytes expected = key_bytes(hex);
  NodePublic pub;
  NodePrivate priv;

  CHECK(derp::crypto::parse_public("nodekey:" + hex, &pub) == DERP_OK);
  CHECK(pub.bytes() == expected);

  const NodePublic before = pub;
  CHECK(derp::crypto::parse_public("NODEKEY:" + hex, &pub) == DERP_ERR_KEY_PREFIX);
  CHECK(derp::crypto::parse_public("nodekey" + hex, &pub) == DERP_ERR_KEY_PREFIX);
  CHECK(derp::crypto::parse_public("privkey:" + hex, &pub) == DERP_ERR_KEY_PREFIX);
  CHECK(derp::crypto::parse_private("nodekey:" + hex, &priv) == DERP_ERR_KEY_PREFIX);
  CHECK(derp::crypto::parse_public(" nodekey:" + hex, &pub) == DERP_ERR_KEY_PREFIX);
  CHECK(derp::crypto::parse_public("", &pub) == DERP_ERR_KEY_PREFIX);
  CHECK(derp::crypto::parse_public("discokey:" + hex, &pub) == DERP_ERR_KEY_PREFIX);

  CHECK(derp::crypto::parse_public("nodekey:", &pub) == DERP_ERR_KEY_LENGTH);
  CHECK(derp::crypto::parse_public("nodekey:" + hex.substr(0, 63), &pub) == DERP_ERR_KEY_LENGTH);
  CHECK(derp::crypto::parse_public("nodekey:" + hex + "0", &pub) == DERP_ERR_KEY_LENGTH);
  CHECK(derp::crypto::parse_public("nodekey:" + hex + "\n", &pub) == DERP_ERR_KEY_LENGTH);
  CHECK(derp::crypto::parse_public_untyped(hex.substr(1), &pub) == DERP_ERR_KEY_LENGTH);

  std::string bad = "nodekey:" + hex;
  bad[8 + 17] = 'g';
  CHECK(derp::crypto::parse_public(bad, &pub) == DERP_ERR_KEY_HEX);
  bad[8 + 17] = ' ';
  CHECK(derp::crypto::parse_public(bad, &pub) == DERP_ERR_KEY_HEX);
  CHECK(derp::crypto::parse_public_untyped("x" + hex.substr(1), &pub) == DERP_ERR_KEY_HEX);
  CHECK(pub == before);  // failures leave the output alone

  // Go's parser accepts upper-case digits; we read them and always write lower case.
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  REQUIRE(derp::crypto::parse_public("nodekey:" + upper, &pub) == DERP_OK);
  CHECK(pub.bytes() == expected);
  CHECK(derp::crypto::format_public(pub) == "nodekey:" + hex);
  REQUIRE(derp::crypto::parse_private("privkey:" + upper, &priv) == DERP_OK);
  CHECK(priv.bytes() == expected);
}

TEST_CASE("crypto: generated keys are clamped, distinct and usable", "[crypto]") {
  REQUIRE(derp::crypto::ensure_sodium() == DERP_OK);
  NodePrivate a;
  NodePrivate b;
  REQUIRE(derp::crypto::generate_private(&a) == DERP_OK);
  REQUIRE(derp::crypto::generate_private(&b) == DERP_OK);
  CHECK_FALSE(a == b);
  for (const NodePrivate* k : {&a, &b}) {
    CHECK((k->bytes()[0] & 7) == 0);
    CHECK((k->bytes()[31] & 0xC0) == 0x40);
    NodePublic pub;
    CHECK(derp::crypto::public_of(*k, &pub) == DERP_OK);
    CHECK_FALSE(pub.is_zero());
  }
  NodePublic pub;
  CHECK(derp::crypto::public_of(NodePrivate(), &pub) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp::crypto::generate_private(nullptr) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("crypto: libsodium initialises once, from many threads at once", "[crypto]") {
  std::vector<std::thread> threads;
  std::vector<int> results(8, -1);
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&results, i] {
      NodePrivate k;
      results[i] = derp::crypto::generate_private(&k);
    });
  }
  for (auto& t : threads) t.join();
  for (int r : results) CHECK(r == DERP_OK);
  CHECK(derp::crypto::ensure_sodium() == DERP_OK);
}

TEST_CASE("crypto: key equality and zero test", "[crypto]") {
  const NodePublic a(sequence_key(1));
  const NodePublic b(sequence_key(1));
  KeyBytes last_differs = sequence_key(1);
  last_differs[31] ^= 1;
  CHECK(a == b);
  CHECK_FALSE(a == NodePublic(last_differs));
  CHECK(NodePublic().is_zero());
  CHECK_FALSE(a.is_zero());
  CHECK(NodePrivate().is_zero());
  CHECK(NodePrivate(sequence_key(1)) == NodePrivate(sequence_key(1)));
}

TEST_CASE("crypto: derper key file: derper's exact bytes, read like Go", "[crypto]") {
  const NodePrivate key(sequence_key(1));
  const std::string text = derp::crypto::encode_key_file(key);
  CHECK(text ==
        "{\n\t\"PrivateKey\": \"privkey:0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\"\n}");
  CHECK(text.size() == 93);

  NodePrivate read;
  REQUIRE(derp::crypto::decode_key_file(text, &read) == DERP_OK);
  CHECK(read == key);

  const std::string body = "privkey:0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
  NodePrivate other;
  CHECK(derp::crypto::decode_key_file(R"({"privatekey":")" + body + R"(","Extra":[1,{"a":null}]})", &other) ==
        DERP_OK);
  CHECK(other == key);
  CHECK(derp::crypto::decode_key_file(R"({"PrivateKey":")" + body + R"(","PrivateKey":null})", &other) == DERP_OK);
  CHECK(other == key);

  const NodePrivate untouched = other;
  CHECK(derp::crypto::decode_key_file("{}", &other) == DERP_ERR_BAD_JSON);
  CHECK(derp::crypto::decode_key_file(R"({"PrivateKey":null})", &other) == DERP_ERR_BAD_JSON);
  CHECK(derp::crypto::decode_key_file(R"({"PrivateKey":5})", &other) == DERP_ERR_BAD_JSON);
  CHECK(derp::crypto::decode_key_file(R"({"PrivateKey":")" + body + "\"", &other) == DERP_ERR_BAD_JSON);
  CHECK(derp::crypto::decode_key_file(R"({"PrivateKey":"nodekey:00"})", &other) == DERP_ERR_KEY_PREFIX);
  CHECK(derp::crypto::decode_key_file(R"({"PrivateKey":"privkey:00"})", &other) == DERP_ERR_KEY_LENGTH);
  // Go checks the syntax of the whole text before it decodes any field.
  CHECK(derp::crypto::decode_key_file(R"({"PrivateKey":"privkey:00",)", &other) == DERP_ERR_BAD_JSON);
  CHECK(other == untouched);
}
