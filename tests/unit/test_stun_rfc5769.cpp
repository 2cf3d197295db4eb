// RFC 5769 sample messages (../shared/testdata/rfc5769): decode, integrity, fingerprint, and byte-exact rebuild.
#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "derp/common.h"
#include "stun/builder.hpp"
#include "stun/header.hpp"
#include "stun/integrity.hpp"
#include "stun/message.hpp"
#include "support/testdata.hpp"

using namespace derp::stun;
using derp::Bytes;
using derp::test::from_hex;
using derp::test::read_hex_file;
using derp::test::to_hex;

namespace {

const std::string kShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";
// RFC 5769 §2.4: username "マトリックス" (UTF-8), realm "example.org", password "TheMatrIX" after SASLprep.
const std::string kLongTermUser = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
const std::string kLongTermRealm = "example.org";
const std::string kLongTermPassword = "TheMatrIX";
const std::string kLongTermNonce = "f//499k954d6OL34oL9FSTvy64sA";

Bytes bytes_of(const std::string& s) { return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }
Bytes bytes_of(const std::vector<std::uint8_t>& v) { return Bytes(v.data(), v.size()); }
std::string text_of(Bytes b) { return std::string(b.begin(), b.end()); }

TransactionId txid_of(const std::string& hex) {
  const auto bytes = from_hex(hex);
  TransactionId id{};
  std::copy(bytes.begin(), bytes.end(), id.begin());
  return id;
}

LongTermKey rfc_long_term_key() {
  LongTermKey key{};
  REQUIRE(long_term_key(bytes_of(kLongTermUser), bytes_of(kLongTermRealm), bytes_of(kLongTermPassword), &key) ==
          DERP_OK);
  return key;
}

// Integrity and fingerprint both stop matching when any byte they cover changes.
void check_flipped_byte_fails(std::vector<std::uint8_t> bytes, std::size_t at, Bytes key, bool has_fingerprint) {
  bytes[at] ^= 0x01;
  Message m;
  REQUIRE(parse(bytes_of(bytes), &m) == DERP_OK);
  CHECK(verify_integrity(bytes_of(bytes), m, key) == DERP_ERR_STUN_INTEGRITY);
  if (has_fingerprint) {
    CHECK(m.has_fingerprint);
    CHECK_FALSE(m.fingerprint_valid);
  }
}

}  // namespace

TEST_CASE("stun RFC 5769 §2.1 request: decode, integrity, fingerprint, rebuild", "[stun][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto bytes = read_hex_file("rfc5769/req.hex");
  REQUIRE(bytes.size() == 108);
  Message m;
  REQUIRE(parse(bytes_of(bytes), &m) == DERP_OK);
  CHECK(m.type == kBindingRequest);
  CHECK(m.transaction_id == txid_of("b7e7a701bc34d686fa87dfae"));
  CHECK(text_of(*m.software) == "STUN test client");
  CHECK(m.priority == 0x6e0001ffu);
  CHECK(m.ice_controlled == 0x932ff9b151263b36ull);
  CHECK(text_of(*m.username) == "evtj:h6vY");
  CHECK(m.unknown_required.count == 0);
  CHECK(m.has_message_integrity);
  CHECK(m.has_fingerprint);
  CHECK(m.fingerprint == 0xe57a3bcfu);
  CHECK(m.fingerprint_valid);
  CHECK(verify_integrity(bytes_of(bytes), m, bytes_of(kShortTermPassword)) == DERP_OK);
  CHECK(verify_integrity(bytes_of(bytes), m, bytes_of(std::string("wrong"))) == DERP_ERR_STUN_INTEGRITY);
  check_flipped_byte_fails(bytes, 30, bytes_of(kShortTermPassword), true);  // inside SOFTWARE

  // The sample pads USERNAME with 0x20.
  std::array<std::uint8_t, 128> buf{};
  Builder b(buf, 0x20);
  b.begin(kBindingRequest, m.transaction_id);
  b.add_software("STUN test client");
  b.add_attribute(kAttrPriority, bytes_of(from_hex("6e0001ff")));
  b.add_attribute(kAttrIceControlled, bytes_of(from_hex("932ff9b151263b36")));
  b.add_username("evtj:h6vY");
  b.add_message_integrity(bytes_of(kShortTermPassword));
  b.add_fingerprint();
  std::size_t len = 0;
  REQUIRE(b.finish(&len) == DERP_OK);
  CHECK(to_hex(buf.data(), len) == to_hex(bytes));
}

TEST_CASE("stun RFC 5769 §2.2 IPv4 response: decode, integrity, fingerprint, rebuild", "[stun][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto bytes = read_hex_file("rfc5769/resp4.hex");
  REQUIRE(bytes.size() == 80);
  Message m;
  REQUIRE(parse(bytes_of(bytes), &m) == DERP_OK);
  CHECK(m.type == kBindingSuccessResponse);
  CHECK(m.transaction_id == txid_of("b7e7a701bc34d686fa87dfae"));
  CHECK(text_of(*m.software) == "test vector");
  REQUIRE(m.xor_mapped_address);
  CHECK(derp::format_addr(*m.xor_mapped_address) == "192.0.2.1:32853");
  CHECK(m.fingerprint == 0xc07d4c96u);
  CHECK(m.fingerprint_valid);
  CHECK(verify_integrity(bytes_of(bytes), m, bytes_of(kShortTermPassword)) == DERP_OK);
  check_flipped_byte_fails(bytes, 45, bytes_of(kShortTermPassword), true);  // inside the address

  std::array<std::uint8_t, 128> buf{};
  Builder b(buf, 0x20);
  b.begin(kBindingSuccessResponse, m.transaction_id);
  b.add_software("test vector");
  b.add_xor_mapped_address(*m.xor_mapped_address);
  b.add_message_integrity(bytes_of(kShortTermPassword));
  b.add_fingerprint();
  std::size_t len = 0;
  REQUIRE(b.finish(&len) == DERP_OK);
  CHECK(to_hex(buf.data(), len) == to_hex(bytes));
}

TEST_CASE("stun RFC 5769 §2.3 IPv6 response: decode, integrity, fingerprint, rebuild", "[stun][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto bytes = read_hex_file("rfc5769/resp6.hex");
  REQUIRE(bytes.size() == 92);
  Message m;
  REQUIRE(parse(bytes_of(bytes), &m) == DERP_OK);
  CHECK(m.type == kBindingSuccessResponse);
  CHECK(text_of(*m.software) == "test vector");
  REQUIRE(m.xor_mapped_address);
  CHECK(derp::format_addr(*m.xor_mapped_address) == "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  CHECK(m.fingerprint == 0xc8fb0b4cu);
  CHECK(m.fingerprint_valid);
  CHECK(verify_integrity(bytes_of(bytes), m, bytes_of(kShortTermPassword)) == DERP_OK);
  check_flipped_byte_fails(bytes, 50, bytes_of(kShortTermPassword), true);

  std::array<std::uint8_t, 128> buf{};
  Builder b(buf, 0x20);
  b.begin(kBindingSuccessResponse, m.transaction_id);
  b.add_software("test vector");
  b.add_xor_mapped_address(*m.xor_mapped_address);
  b.add_message_integrity(bytes_of(kShortTermPassword));
  b.add_fingerprint();
  std::size_t len = 0;
  REQUIRE(b.finish(&len) == DERP_OK);
  CHECK(to_hex(buf.data(), len) == to_hex(bytes));
}

TEST_CASE("stun RFC 5769 §2.4 long-term credentials request: decode, integrity, rebuild", "[stun][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const auto bytes = read_hex_file("rfc5769/req_lt.hex");
  REQUIRE(bytes.size() == 116);
  Message m;
  REQUIRE(parse(bytes_of(bytes), &m) == DERP_OK);
  CHECK(m.type == kBindingRequest);
  CHECK(m.transaction_id == txid_of("78ad3433c6ad72c029da412e"));
  CHECK(text_of(*m.username) == kLongTermUser);
  CHECK(m.username->size() == 18);
  CHECK(text_of(*m.nonce) == kLongTermNonce);
  CHECK(text_of(*m.realm) == kLongTermRealm);
  CHECK(m.has_message_integrity);
  CHECK_FALSE(m.has_fingerprint);

  const LongTermKey key = rfc_long_term_key();
  CHECK(to_hex(key.data(), key.size()) == "e8ca7ad59d5eb0518e312911d2dab2a9");  // MD5 computed independently
  CHECK(verify_integrity(bytes_of(bytes), m, Bytes(key.data(), key.size())) == DERP_OK);
  // The password alone (a short-term key) is not the right key here.
  CHECK(verify_integrity(bytes_of(bytes), m, bytes_of(kLongTermPassword)) == DERP_ERR_STUN_INTEGRITY);
  check_flipped_byte_fails(bytes, 60, Bytes(key.data(), key.size()), false);

  // This sample pads with zeros.
  std::array<std::uint8_t, 128> buf{};
  Builder b(buf);
  b.begin(kBindingRequest, m.transaction_id);
  b.add_username(kLongTermUser);
  b.add_nonce(kLongTermNonce);
  b.add_realm(kLongTermRealm);
  b.add_message_integrity(Bytes(key.data(), key.size()));
  std::size_t len = 0;
  REQUIRE(b.finish(&len) == DERP_OK);
  CHECK(to_hex(buf.data(), len) == to_hex(bytes));
}
