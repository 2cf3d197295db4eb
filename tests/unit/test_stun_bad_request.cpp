// A known attribute with an impossible value (a wrong length, a bad address family) in an otherwise sound binding
// request: RFC 8489 §6.3 wants a 400 Bad Request, which says what was wrong, instead of silence. What is not STUN
// at all (a broken walk, a FINGERPRINT that does not match or cannot be checked) still gets nothing.
#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "derp/common.h"
#include "stun/builder.hpp"
#include "stun/fingerprint.hpp"
#include "stun/header.hpp"
#include "stun/message.hpp"
#include "stun/responder.hpp"
#include "stun/tailscale.hpp"
#include "support/testdata.hpp"

using namespace derp::stun;
using derp::Bytes;
using derp::store_be16;
using derp::store_be32;
using derp::test::from_hex;

namespace {

const TransactionId kTxid = {0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb};

derp_addr addr(const char* text) {
  derp_addr a{};
  REQUIRE(derp::parse_addr(text, &a) == DERP_OK);
  return a;
}

// A binding request with one attribute written verbatim (the Builder pads it), then optionally FINGERPRINT.
std::vector<std::uint8_t> request_with(std::uint16_t type, const std::string& value_hex, bool fingerprint) {
  std::array<std::uint8_t, 128> buf{};
  Builder b(buf);
  b.begin(kBindingRequest, kTxid);
  b.add_software("client");
  b.add_attribute(type, Bytes(from_hex(value_hex)));
  if (fingerprint) b.add_fingerprint();
  std::size_t len = 0;
  REQUIRE(b.finish(&len) == DERP_OK);
  return std::vector<std::uint8_t>(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
}

struct Reply {
  int rc = 0;
  std::vector<std::uint8_t> bytes;
};

Reply respond(const std::vector<std::uint8_t>& request) {
  std::array<std::uint8_t, kMaxResponseSize> out{};
  std::size_t len = 0;
  Reply reply;
  reply.rc = BindingResponder().respond(Bytes(request.data(), request.size()), addr("192.0.2.1:41641"), out, &len);
  if (reply.rc == DERP_OK) reply.bytes.assign(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(len));
  return reply;
}

}  // namespace

TEST_CASE("stun 400: a known attribute of the wrong length gets Bad Request naming it", "[stun]") {
  struct Case {
    std::uint16_t type;
    const char* value;
    const char* reason;
  };
  const Case cases[] = {
      {kAttrPriority, "6e0001", "Bad Request: malformed PRIORITY"},                  // 3 bytes, not 4
      {kAttrUseCandidate, "00000000", "Bad Request: malformed USE-CANDIDATE"},       // must be empty
      {kAttrIceControlling, "0102030405060708ff", "Bad Request: malformed ICE-CONTROLLING"},
      {kAttrIceControlled, "01020304", "Bad Request: malformed ICE-CONTROLLED"},
      {kAttrChangeRequest, "00", "Bad Request: malformed CHANGE-REQUEST"},
      {kAttrMessageIntegrity, "000102030405060708090a0b0c0d0e0f", "Bad Request: malformed MESSAGE-INTEGRITY"},
      {kAttrMappedAddress, "0001", "Bad Request: malformed MAPPED-ADDRESS"},           // too short for IPv4
      {kAttrXorMappedAddress, "00031234c0000201", "Bad Request: malformed XOR-MAPPED-ADDRESS"},  // family 3
      {kAttrErrorCode, "00000763", "Bad Request: malformed ERROR-CODE"},             // class 7
      {kAttrUnknownAttributes, "000102", "Bad Request: malformed UNKNOWN-ATTRIBUTES"},  // odd length
  };
  for (const Case& c : cases) {
    for (const bool fingerprint : {false, true}) {
      INFO(c.reason << (fingerprint ? " with FINGERPRINT" : ""));
      const auto request = request_with(c.type, c.value, fingerprint);
      Message in;
      REQUIRE(parse(Bytes(request), &in) == DERP_ERR_MALFORMED);
      REQUIRE(in.malformed_attribute);
      CHECK(*in.malformed_attribute == c.type);
      CHECK(in.has_fingerprint == fingerprint);
      CHECK(in.fingerprint_valid == fingerprint);  // the walk went on past the bad value to check it

      const Reply reply = respond(request);
      REQUIRE(reply.rc == DERP_OK);
      Message m;
      REQUIRE(parse(Bytes(reply.bytes), &m) == DERP_OK);
      CHECK(m.type == kBindingErrorResponse);
      CHECK(m.transaction_id == kTxid);
      REQUIRE(m.error_code);
      CHECK(m.error_code->code == 400);
      CHECK(std::string(m.error_code->reason.begin(), m.error_code->reason.end()) == c.reason);
      CHECK(m.has_fingerprint == fingerprint);  // mirrored
      CHECK(m.fingerprint_valid == fingerprint);
      CHECK_FALSE(m.xor_mapped_address.has_value());
      // Tailscale's client does not take it for an address.
      BindingResult result;
      CHECK(parse_binding_response(Bytes(reply.bytes), &result) == DERP_ERR_STUN_NOT_SUCCESS_RESPONSE);
    }
  }
}

TEST_CASE("stun 400: 400 comes before 420, and the first bad attribute is named", "[stun]") {
  std::array<std::uint8_t, 128> buf{};
  Builder b(buf);
  b.begin(kBindingRequest, kTxid);
  b.add_attribute(0x7ff0, Bytes());                  // unknown, comprehension-required
  b.add_attribute(kAttrPriority, Bytes(from_hex("01")));
  b.add_attribute(kAttrUseCandidate, Bytes(from_hex("01")));
  std::size_t len = 0;
  REQUIRE(b.finish(&len) == DERP_OK);
  const Reply reply = respond(std::vector<std::uint8_t>(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len)));
  REQUIRE(reply.rc == DERP_OK);
  Message m;
  REQUIRE(parse(Bytes(reply.bytes), &m) == DERP_OK);
  REQUIRE(m.error_code);
  CHECK(m.error_code->code == 400);
  CHECK(std::string(m.error_code->reason.begin(), m.error_code->reason.end()) == "Bad Request: malformed PRIORITY");
  CHECK_FALSE(m.unknown_attributes.has_value());
}

TEST_CASE("stun 400: what is not STUN still gets nothing", "[stun]") {
  SECTION("a bad value and a FINGERPRINT that does not match") {
    auto request = request_with(kAttrPriority, "01", true);
    request.back() ^= 0x55;
    CHECK(respond(request).rc == DERP_ERR_STUN_FINGERPRINT);
  }
  SECTION("a FINGERPRINT that is not 4 bytes cannot be checked") {
    auto request = request_with(kAttrPriority, "01", false);
    std::array<std::uint8_t, 128> buf{};
    std::copy(request.begin(), request.end(), buf.begin());
    const std::size_t at = request.size();
    const auto tail = from_hex("802800080000000000000000");  // FINGERPRINT with 8 bytes
    std::copy(tail.begin(), tail.end(), buf.begin() + static_cast<std::ptrdiff_t>(at));
    std::vector<std::uint8_t> whole(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(at + tail.size()));
    store_be16(whole.data() + 2, static_cast<std::uint16_t>(whole.size() - kHeaderSize));
    Message m;
    CHECK(parse(Bytes(whole), &m) == DERP_ERR_MALFORMED);
    CHECK_FALSE(m.malformed_attribute.has_value());
    CHECK(respond(whole).rc == DERP_ERR_MALFORMED);
  }
  SECTION("a bad value, then an attribute running past the end") {
    auto request = request_with(kAttrPriority, "01", false);
    request.insert(request.end(), {0x80, 0x22, 0x00, 0x40});  // SOFTWARE claiming 64 bytes that are not there
    store_be16(request.data() + 2, static_cast<std::uint16_t>(request.size() - kHeaderSize));
    CHECK(respond(request).rc == DERP_ERR_TRUNCATED);
  }
  SECTION("a bad value in an indication or a response") {
    for (const std::uint16_t type : {kBindingIndication, kBindingSuccessResponse}) {
      auto request = request_with(kAttrPriority, "01", true);
      store_be16(request.data(), type);
      // The type changed, so the FINGERPRINT must be recomputed.
      const std::size_t fp_at = request.size() - 8;
      store_be32(request.data() + fp_at + 4, fingerprint_of(Bytes(request.data(), fp_at)));
      CHECK(respond(request).rc == DERP_ERR_STUN_NOT_BINDING_REQUEST);
    }
  }
  SECTION("a header length that is not a multiple of 4") {
    auto request = request_with(kAttrPriority, "01", false);
    request.push_back(0);
    store_be16(request.data() + 2, static_cast<std::uint16_t>(request.size() - kHeaderSize));
    CHECK(respond(request).rc == DERP_ERR_MALFORMED);
  }
}

TEST_CASE("stun 400: a classic request with a bad CHANGE-REQUEST gets a classic 400", "[stun]") {
  // Vovida's test I, but with a 2-byte CHANGE-REQUEST (padded to 4).
  const Reply reply = respond(from_hex("000100084d219a3cb7e7a701bc34d686fa87dfae" "00030002" "00000000"));
  REQUIRE(reply.rc == DERP_OK);
  Message m;
  REQUIRE(parse_classic(Bytes(reply.bytes), &m) == DERP_OK);
  CHECK(derp::test::to_hex(m.classic_transaction_id.data(), 16) == "4d219a3cb7e7a701bc34d686fa87dfae");
  REQUIRE(m.error_code);
  CHECK(m.error_code->code == 400);
  CHECK(std::string(m.error_code->reason.begin(), m.error_code->reason.end()) ==
        "Bad Request: malformed CHANGE-REQUEST");
}
