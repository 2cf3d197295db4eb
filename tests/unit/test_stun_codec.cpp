// lib/stun codec: header, message types, CRC, attribute walk, parse rules, builder and integrity.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "derp/common.h"
#include "stun/builder.hpp"
#include "stun/crc32.hpp"
#include "stun/error_response.hpp"
#include "stun/header.hpp"
#include "stun/integrity.hpp"
#include "stun/message.hpp"
#include "stun/request.hpp"
#include "support/testdata.hpp"

using namespace derp::stun;
using derp::Bytes;
using derp::MutableBytes;
using derp::test::from_hex;
using derp::test::to_hex;

namespace {

const TransactionId kTxid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

Bytes bytes_of(const std::string& s) { return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }
Bytes bytes_of(const std::vector<std::uint8_t>& v) { return Bytes(v.data(), v.size()); }
std::string text_of(Bytes b) { return std::string(b.begin(), b.end()); }

derp_addr addr(const char* text) {
  derp_addr a{};
  REQUIRE(derp::parse_addr(text, &a) == DERP_OK);
  return a;
}

// A header with the given type and declared length, followed by `attributes` verbatim.
std::vector<std::uint8_t> message_with(std::uint16_t type, const std::string& attributes_hex,
                                       std::size_t declared_length) {
  std::vector<std::uint8_t> m(kHeaderSize);
  write_header(m.data(), type, static_cast<std::uint16_t>(declared_length), kTxid);
  const auto attributes = from_hex(attributes_hex);
  m.insert(m.end(), attributes.begin(), attributes.end());
  return m;
}

std::vector<std::uint8_t> message_with(std::uint16_t type, const std::string& attributes_hex) {
  return message_with(type, attributes_hex, attributes_hex.size() / 2);
}

}  // namespace

TEST_CASE("stun message type interleaves method and class bits (RFC 8489 §5)", "[stun]") {
  CHECK(message_type(kMethodBinding, MessageClass::kRequest) == 0x0001);
  CHECK(message_type(kMethodBinding, MessageClass::kIndication) == 0x0011);
  CHECK(message_type(kMethodBinding, MessageClass::kSuccessResponse) == 0x0101);
  CHECK(message_type(kMethodBinding, MessageClass::kErrorResponse) == 0x0111);
  CHECK(message_type(0x003, MessageClass::kErrorResponse) == 0x0113);  // TURN Allocate error
  CHECK(message_type(0xFFF, MessageClass::kRequest) == 0x3EEF);
  for (std::uint16_t method = 0; method <= 0xFFF; ++method) {
    for (int c = 0; c < 4; ++c) {
      const auto cls = static_cast<MessageClass>(c);
      const std::uint16_t type = message_type(method, cls);
      REQUIRE((type & 0xC000) == 0);
      REQUIRE(method_of(type) == method);
      REQUIRE(class_of(type) == cls);
    }
  }
}

TEST_CASE("stun CRC-32 is the IEEE one (check value of 123456789)", "[stun]") {
  CHECK(crc32_ieee(bytes_of(std::string("123456789"))) == 0xCBF43926u);
  CHECK(crc32_ieee(Bytes()) == 0u);
}

TEST_CASE("stun is_stun: demultiplexing check", "[stun]") {
  auto m = message_with(kBindingRequest, "");
  CHECK(is_stun(bytes_of(m)));
  CHECK(has_stun_header(bytes_of(m)));
  CHECK_FALSE(is_stun(Bytes(m.data(), 19)));
  m.push_back(0xAB);  // bytes after the declared length are allowed
  CHECK(is_stun(bytes_of(m)));

  auto top_bits = message_with(0x4001, "");
  CHECK_FALSE(is_stun(bytes_of(top_bits)));
  auto cookie = message_with(kBindingRequest, "");
  cookie[7] ^= 1;
  CHECK_FALSE(is_stun(bytes_of(cookie)));
  CHECK_FALSE(has_stun_header(bytes_of(cookie)));
  // Declared length not a multiple of 4, or past the data: Tailscale's loose check still passes, ours does not.
  auto odd = message_with(kBindingRequest, "00000000", 2);
  CHECK_FALSE(is_stun(bytes_of(odd)));
  CHECK(has_stun_header(bytes_of(odd)));
  auto long_declared = message_with(kBindingRequest, "", 8);
  CHECK_FALSE(is_stun(bytes_of(long_declared)));
  CHECK(has_stun_header(bytes_of(long_declared)));
}

TEST_CASE("stun parse: header errors", "[stun]") {
  Message m;
  const auto ok = message_with(kBindingRequest, "");
  REQUIRE(parse(bytes_of(ok), &m) == DERP_OK);
  CHECK(m.type == kBindingRequest);
  CHECK(m.method == kMethodBinding);
  CHECK(m.message_class == MessageClass::kRequest);
  CHECK(m.transaction_id == kTxid);
  CHECK(m.length == 20);

  CHECK(parse(Bytes(ok.data(), 19), &m) == DERP_ERR_NOT_STUN);
  CHECK(parse(Bytes(), &m) == DERP_ERR_NOT_STUN);
  CHECK(parse(bytes_of(message_with(0x8001, "")), &m) == DERP_ERR_NOT_STUN);
  CHECK(parse(bytes_of(message_with(kBindingRequest, "00000000", 2)), &m) == DERP_ERR_MALFORMED);
  CHECK(parse(bytes_of(message_with(kBindingRequest, "", 4)), &m) == DERP_ERR_TRUNCATED);
  CHECK(parse(bytes_of(ok), nullptr) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("stun parse: attribute walk errors", "[stun]") {
  Message m;
  // SOFTWARE claiming 8 bytes inside a 8-byte attribute area: value runs past the end.
  CHECK(parse(bytes_of(message_with(kBindingRequest, "8022000874657374")), &m) == DERP_ERR_TRUNCATED);
  // SOFTWARE claiming 5 bytes: needs 8 with padding, only 4 are there.
  CHECK(parse(bytes_of(message_with(kBindingRequest, "8022000561626364")), &m) == DERP_ERR_TRUNCATED);
  // The same bytes with room for the padding parse, and the padding's content does not matter.
  const auto padded = message_with(kBindingRequest, "80220005616263646520ffff");
  REQUIRE(parse(bytes_of(padded), &m) == DERP_OK);
  CHECK(text_of(*m.software) == "abcde");
  // Empty value at the very end.
  REQUIRE(parse(bytes_of(message_with(kBindingRequest, "00060000")), &m) == DERP_OK);
  REQUIRE(m.username.has_value());
  CHECK(m.username->empty());
  // Data past the declared length is not looked at, even when it would be garbage.
  auto trimmed = message_with(kBindingRequest, "00060000ffffffff", 4);
  REQUIRE(parse(bytes_of(trimmed), &m) == DERP_OK);
  CHECK(m.length == 24);
}

TEST_CASE("stun parse: known attributes with impossible values are malformed", "[stun]") {
  Message m;
  // XOR-MAPPED-ADDRESS family 3; too short for IPv4; too short for IPv6.
  CHECK(parse(bytes_of(message_with(kBindingSuccessResponse, "002000080003a147e112a643")), &m) == DERP_ERR_MALFORMED);
  CHECK(parse(bytes_of(message_with(kBindingSuccessResponse, "002000060001a147e1120000")), &m) == DERP_ERR_MALFORMED);
  CHECK(parse(bytes_of(message_with(kBindingSuccessResponse, "000100080002a147e112a643")), &m) == DERP_ERR_MALFORMED);
  // ERROR-CODE class 7; number 100; shorter than 4.
  CHECK(parse(bytes_of(message_with(kBindingErrorResponse, "0009000400000700")), &m) == DERP_ERR_MALFORMED);
  CHECK(parse(bytes_of(message_with(kBindingErrorResponse, "0009000400000464")), &m) == DERP_ERR_MALFORMED);
  CHECK(parse(bytes_of(message_with(kBindingErrorResponse, "0009000300000400")), &m) == DERP_ERR_MALFORMED);
  // UNKNOWN-ATTRIBUTES of odd length; FINGERPRINT and MESSAGE-INTEGRITY of the wrong size; PRIORITY of 2 bytes.
  CHECK(parse(bytes_of(message_with(kBindingErrorResponse, "000a000300010200")), &m) == DERP_ERR_MALFORMED);
  CHECK(parse(bytes_of(message_with(kBindingRequest, "802800080000000000000000")), &m) == DERP_ERR_MALFORMED);
  CHECK(parse(bytes_of(message_with(kBindingRequest, "0008000400000000")), &m) == DERP_ERR_MALFORMED);
  CHECK(parse(bytes_of(message_with(kBindingRequest, "0024000200000000")), &m) == DERP_ERR_MALFORMED);
}

TEST_CASE("stun parse: error response fields", "[stun]") {
  Message m;
  // ERROR-CODE 420 with the RFC's phrase, UNKNOWN-ATTRIBUTES [0x0003, 0x7fff].
  std::array<std::uint8_t, 128> buf{};
  ErrorResponse response;
  response.code = 420;
  const std::uint16_t unknown[] = {0x0003, 0x7fff};
  response.unknown_attributes = unknown;
  std::size_t len = 0;
  REQUIRE(build_error_response(kTxid, response, buf, &len) == DERP_OK);
  REQUIRE(parse(Bytes(buf.data(), len), &m) == DERP_OK);
  CHECK(m.type == kBindingErrorResponse);
  CHECK(m.method == kMethodBinding);
  CHECK(m.message_class == MessageClass::kErrorResponse);
  REQUIRE(m.error_code);
  CHECK(m.error_code->code == 420);
  CHECK(text_of(m.error_code->reason) == "Unknown Attribute");
  REQUIRE(m.unknown_attributes);
  CHECK(m.unknown_attributes->count == 2);
  CHECK(m.unknown_attributes->types[0] == 0x0003);
  CHECK(m.unknown_attributes->types[1] == 0x7fff);
  CHECK(m.unknown_required.count == 0);  // UNKNOWN-ATTRIBUTES itself is understood
}

TEST_CASE("stun parse: unknown attributes, duplicates and ordering rules", "[stun]") {
  Message m;
  SECTION("comprehension-optional are skipped, comprehension-required listed once each") {
    const auto bytes = message_with(kBindingRequest,
                                    "80550004deadbeef"   // optional
                                    "00020004deadbeef"   // RESPONSE-ADDRESS (RFC 3489): required, not understood
                                    "7fff0000"           // required, empty
                                    "00020004deadbeef"); // listed once
    REQUIRE(parse(bytes_of(bytes), &m) == DERP_OK);
    REQUIRE(m.unknown_required.count == 2);
    CHECK(m.unknown_required.types[0] == 0x0002);
    CHECK(m.unknown_required.types[1] == 0x7fff);
    CHECK_FALSE(m.unknown_required.overflow);
  }
  SECTION("more unknown types than the fixed capacity set overflow") {
    std::string hex;
    for (int t = 0x7000; t < 0x7000 + static_cast<int>(kMaxUnknownAttributes) + 3; ++t) {
      char buf[9];
      std::snprintf(buf, sizeof buf, "%04x0000", t);
      hex += buf;
    }
    REQUIRE(parse(bytes_of(message_with(kBindingRequest, hex)), &m) == DERP_OK);
    CHECK(m.unknown_required.count == kMaxUnknownAttributes);
    CHECK(m.unknown_required.overflow);
  }
  SECTION("the first of two XOR-MAPPED-ADDRESS counts; 0x8020 is read as XOR-MAPPED-ADDRESS") {
    std::array<std::uint8_t, 128> buf{};
    Builder b(buf);
    b.begin(kBindingSuccessResponse, kTxid);
    b.add_xor_mapped_address(addr("198.51.100.7:4242"), kAttrXorMappedAddressAlt);
    b.add_xor_mapped_address(addr("192.0.2.1:1"));
    b.add_mapped_address(addr("[2001:db8::1]:3478"));
    std::size_t len = 0;
    REQUIRE(b.finish(&len) == DERP_OK);
    REQUIRE(parse(Bytes(buf.data(), len), &m) == DERP_OK);
    REQUIRE(m.xor_mapped_address);
    CHECK(derp::format_addr(*m.xor_mapped_address) == "198.51.100.7:4242");
    REQUIRE(m.mapped_address);
    CHECK(derp::format_addr(*m.mapped_address) == "[2001:db8::1]:3478");
  }
  SECTION("after MESSAGE-INTEGRITY only FINGERPRINT counts") {
    std::array<std::uint8_t, 256> buf{};
    Builder b(buf);
    b.begin(kBindingRequest, kTxid);
    b.add_username("alice");
    b.add_message_integrity(bytes_of(std::string("secret")));
    std::size_t len = 0;
    REQUIRE(b.finish(&len) == DERP_OK);
    // Append SOFTWARE and an unknown required attribute after MESSAGE-INTEGRITY by hand, then a FINGERPRINT.
    std::vector<std::uint8_t> bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
    for (auto byte : from_hex("80220004746573747ffe0000")) bytes.push_back(byte);
    derp::store_be16(bytes.data() + 2, static_cast<std::uint16_t>(bytes.size() - kHeaderSize + 8));
    const std::uint32_t fp = crc32_ieee(bytes_of(bytes)) ^ kFingerprintXor;
    for (auto byte : from_hex("80280004")) bytes.push_back(byte);
    bytes.resize(bytes.size() + 4);
    derp::store_be32(bytes.data() + bytes.size() - 4, fp);
    REQUIRE(parse(bytes_of(bytes), &m) == DERP_OK);
    CHECK(text_of(*m.username) == "alice");
    CHECK_FALSE(m.software.has_value());
    CHECK(m.unknown_required.count == 0);
    CHECK(m.has_message_integrity);
    CHECK(m.has_fingerprint);
    CHECK(m.fingerprint_valid);
    // The integrity was computed before the extra attributes and still verifies: they are outside its range.
    CHECK(verify_integrity(bytes_of(bytes), m, bytes_of(std::string("secret"))) == DERP_OK);
  }
  SECTION("nothing after FINGERPRINT is read, not even a broken attribute") {
    std::array<std::uint8_t, 128> buf{};
    Builder b(buf);
    b.begin(kBindingRequest, kTxid);
    b.add_fingerprint();
    std::size_t len = 0;
    REQUIRE(b.finish(&len) == DERP_OK);
    std::vector<std::uint8_t> bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
    for (auto byte : from_hex("0006ffff")) bytes.push_back(byte);  // claims 65535 bytes
    derp::store_be16(bytes.data() + 2, static_cast<std::uint16_t>(bytes.size() - kHeaderSize));
    REQUIRE(parse(bytes_of(bytes), &m) == DERP_OK);
    CHECK(m.has_fingerprint);
    CHECK_FALSE(m.username.has_value());
    // The CRC was computed when the header length was 8, and the length now differs: reported, not an error.
    CHECK_FALSE(m.fingerprint_valid);
  }
}

TEST_CASE("stun parse: ICE attributes are understood", "[stun]") {
  Message m;
  const auto bytes = message_with(kBindingRequest,
                                  "002400046e0001ff"
                                  "00250000"
                                  "802a00080102030405060708");
  REQUIRE(parse(bytes_of(bytes), &m) == DERP_OK);
  CHECK(m.priority == 0x6e0001ffu);
  CHECK(m.use_candidate);
  CHECK(m.ice_controlling == 0x0102030405060708ull);
  CHECK_FALSE(m.ice_controlled.has_value());
  CHECK(m.unknown_required.count == 0);
}

TEST_CASE("stun builder: attributes, padding and header length", "[stun]") {
  std::array<std::uint8_t, 128> buf{};
  Builder b(buf, 0x20);
  REQUIRE(b.begin(kBindingRequest, kTxid) == DERP_OK);
  REQUIRE(b.add_software("abc") == DERP_OK);
  std::size_t len = 0;
  REQUIRE(b.finish(&len) == DERP_OK);
  CHECK(to_hex(buf.data(), len) == "000100082112a442" "0102030405060708090a0b0c" "8022000361626320");

  REQUIRE(b.begin(kBindingRequest, kTxid) == DERP_OK);  // begin() starts over
  REQUIRE(b.add_error_code(438) == DERP_OK);
  REQUIRE(b.finish(&len) == DERP_OK);
  Message m;
  REQUIRE(parse(Bytes(buf.data(), len), &m) == DERP_OK);
  CHECK(m.error_code->code == 438);
  CHECK(text_of(m.error_code->reason) == "Stale Nonce");
}

TEST_CASE("stun builder: sticky errors and limits", "[stun]") {
  std::array<std::uint8_t, 64> buf{};
  std::size_t len = 0;
  SECTION("nothing before begin") {
    Builder b(buf);
    CHECK(b.add_fingerprint() == DERP_ERR_INVALID_ARGUMENT);
    CHECK(b.finish(&len) == DERP_ERR_INVALID_ARGUMENT);
  }
  SECTION("an attribute after FINGERPRINT, or other than FINGERPRINT after MESSAGE-INTEGRITY") {
    Builder b(buf);
    b.begin(kBindingRequest, kTxid);
    b.add_fingerprint();
    CHECK(b.add_software("x") == DERP_ERR_INVALID_ARGUMENT);
    CHECK(b.finish(&len) == DERP_ERR_INVALID_ARGUMENT);
    b.begin(kBindingRequest, kTxid);
    b.add_message_integrity(bytes_of(std::string("k")));
    CHECK(b.add_software("x") == DERP_ERR_INVALID_ARGUMENT);
    b.begin(kBindingRequest, kTxid);
    b.add_message_integrity(bytes_of(std::string("k")));
    CHECK(b.add_fingerprint() == DERP_OK);
    CHECK(b.finish(&len) == DERP_OK);
    CHECK(len == 20 + 24 + 8);
  }
  SECTION("bad arguments") {
    Builder b(buf);
    CHECK(b.begin(0x4001, kTxid) == DERP_ERR_INVALID_ARGUMENT);
    b.begin(kBindingRequest, kTxid);
    CHECK(b.add_error_code(299) == DERP_ERR_INVALID_ARGUMENT);
    b.begin(kBindingRequest, kTxid);
    CHECK(b.add_xor_mapped_address(derp_addr{}) == DERP_ERR_INVALID_ARGUMENT);
    CHECK(b.add_software("still failing") == DERP_ERR_INVALID_ARGUMENT);
    std::vector<std::uint8_t> big(70000);
    std::vector<std::uint8_t> huge_value(0x10000);
    Builder large(big);
    large.begin(kBindingRequest, kTxid);
    CHECK(large.add_attribute(0x8055, bytes_of(huge_value)) == DERP_ERR_INVALID_ARGUMENT);
  }
  SECTION("buffer too small: every cut of a full message fails cleanly and writes nothing past the cut") {
    std::array<std::uint8_t, 128> full{};
    Builder b(full);
    b.begin(kBindingSuccessResponse, kTxid);
    b.add_software("test vector");
    b.add_xor_mapped_address(addr("[2001:db8::1]:3478"));
    b.add_message_integrity(bytes_of(std::string("pw")));
    b.add_fingerprint();
    std::size_t full_len = 0;
    REQUIRE(b.finish(&full_len) == DERP_OK);
    for (std::size_t cap = 0; cap < full_len; ++cap) {
      std::vector<std::uint8_t> out(full_len + 8, 0xEE);
      Builder cut(MutableBytes(out.data(), cap));
      cut.begin(kBindingSuccessResponse, kTxid);
      cut.add_software("test vector");
      cut.add_xor_mapped_address(addr("[2001:db8::1]:3478"));
      cut.add_message_integrity(bytes_of(std::string("pw")));
      cut.add_fingerprint();
      REQUIRE(cut.finish(&len) == DERP_ERR_BUFFER_TOO_SMALL);
      for (std::size_t i = cap; i < out.size(); ++i) REQUIRE(out[i] == 0xEE);
      // What was written before the failure is still a valid message.
      if (cut.size() > 0) {
        Message m;
        REQUIRE(parse(cut.message(), &m) == DERP_OK);
      }
    }
  }
}

TEST_CASE("stun request builder and integrity round trip", "[stun]") {
  std::array<std::uint8_t, 256> buf{};
  std::size_t len = 0;
  LongTermKey key{};
  REQUIRE(long_term_key(bytes_of(std::string("user")), bytes_of(std::string("realm")), bytes_of(std::string("pass")),
                        &key) == DERP_OK);
  CHECK(to_hex(key.data(), key.size()) == "8493fbc53ba582fb4c044c456bdc40eb");  // md5("user:realm:pass")

  RequestOptions options;
  options.software = "libderp test";
  options.username = "user";
  options.realm = "realm";
  options.nonce = "n0nce";
  options.integrity_key = Bytes(key.data(), key.size());
  REQUIRE(build_request(kTxid, options, buf, &len) == DERP_OK);
  const Bytes request(buf.data(), len);
  Message m;
  REQUIRE(parse(request, &m) == DERP_OK);
  CHECK(m.type == kBindingRequest);
  CHECK(text_of(*m.software) == "libderp test");
  CHECK(text_of(*m.username) == "user");
  CHECK(text_of(*m.realm) == "realm");
  CHECK(text_of(*m.nonce) == "n0nce");
  CHECK(m.has_fingerprint);
  CHECK(m.fingerprint_valid);
  CHECK(verify_integrity(request, m, Bytes(key.data(), key.size())) == DERP_OK);
  key[0] ^= 1;
  CHECK(verify_integrity(request, m, Bytes(key.data(), key.size())) == DERP_ERR_STUN_INTEGRITY);

  // No MESSAGE-INTEGRITY, and a Message that does not describe the bytes.
  REQUIRE(build_request(kTxid, RequestOptions{}, buf, &len) == DERP_OK);
  CHECK(len == 28);
  REQUIRE(parse(Bytes(buf.data(), len), &m) == DERP_OK);
  CHECK(verify_integrity(Bytes(buf.data(), len), m, Bytes()) == DERP_ERR_STUN_NO_INTEGRITY);
  m.has_message_integrity = true;
  m.message_integrity_offset = 20;
  CHECK(verify_integrity(Bytes(buf.data(), len), m, Bytes()) == DERP_ERR_INVALID_ARGUMENT);
}
