// BindingResponder: who gets an answer, in which family, with which attributes; and who gets none.
#include <catch2/catch.hpp>

#include <array>
#include <random>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "derp/common.h"
#include "stun/builder.hpp"
#include "stun/header.hpp"
#include "stun/message.hpp"
#include "stun/request.hpp"
#include "stun/responder.hpp"
#include "stun/tailscale.hpp"
#include "support/testdata.hpp"

using namespace derp::stun;
using derp::Bytes;
using derp::MutableBytes;
using derp::test::from_hex;
using derp::test::to_hex;

namespace {

const TransactionId kTxid = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};

derp_addr addr(const char* text) {
  derp_addr a{};
  REQUIRE(derp::parse_addr(text, &a) == DERP_OK);
  return a;
}

std::vector<std::uint8_t> tailscale_request() {
  std::vector<std::uint8_t> out(kTailscaleRequestSize);
  std::size_t len = 0;
  REQUIRE(build_tailscale_request(kTxid, out, &len) == DERP_OK);
  return out;
}

struct Reply {
  int rc = 0;
  std::vector<std::uint8_t> bytes;
};

Reply respond(const std::vector<std::uint8_t>& request, const derp_addr& source,
              const ResponderOptions& options = ResponderOptions{}) {
  std::array<std::uint8_t, kMaxResponseSize> out{};
  std::size_t len = 0;
  Reply reply;
  reply.rc = BindingResponder(options).respond(Bytes(request.data(), request.size()), source, out, &len);
  if (reply.rc == DERP_OK) reply.bytes.assign(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(len));
  return reply;
}

Message parsed(const std::vector<std::uint8_t>& bytes) {
  Message m;
  REQUIRE(parse(Bytes(bytes.data(), bytes.size()), &m) == DERP_OK);
  return m;
}

}  // namespace

TEST_CASE("stun responder: Tailscale's request gets an answer Tailscale's client parses", "[stun]") {
  for (const char* source : {"192.0.2.1:41641", "[2001:db8::1]:3478", "10.1.2.3:65535"}) {
    INFO(source);
    const Reply reply = respond(tailscale_request(), addr(source));
    REQUIRE(reply.rc == DERP_OK);
    const Message m = parsed(reply.bytes);
    CHECK(m.type == kBindingSuccessResponse);
    CHECK(m.transaction_id == kTxid);
    CHECK(m.has_fingerprint);  // mirrored: the request carried one
    CHECK(m.fingerprint_valid);
    CHECK_FALSE(m.software.has_value());
    REQUIRE(m.xor_mapped_address);
    CHECK(derp::format_addr(*m.xor_mapped_address) == derp::format_addr(addr(source)));  // the client's own family

    BindingResult result;
    REQUIRE(parse_binding_response(Bytes(reply.bytes.data(), reply.bytes.size()), &result) == DERP_OK);
    CHECK(result.transaction_id == kTxid);
    CHECK(derp::format_addr(result.address) == derp::format_addr(addr(source)));
  }
}

TEST_CASE("stun responder: a v4-mapped IPv6 source is answered with IPv4", "[stun]") {
  const Reply reply = respond(tailscale_request(), addr("[::ffff:192.0.2.1]:32853"));
  REQUIRE(reply.rc == DERP_OK);
  CHECK(reply.bytes.size() == 20 + 12 + 8);
  const Message m = parsed(reply.bytes);
  REQUIRE(m.xor_mapped_address);
  CHECK(m.xor_mapped_address->family == DERP_AF_INET);
  CHECK(derp::format_addr(*m.xor_mapped_address) == "192.0.2.1:32853");
}

TEST_CASE("stun responder: a plain RFC 8489 request without SOFTWARE or FINGERPRINT is answered", "[stun]") {
  std::array<std::uint8_t, 64> buf{};
  std::size_t len = 0;
  RequestOptions options;
  options.fingerprint = false;
  REQUIRE(build_request(kTxid, options, buf, &len) == DERP_OK);
  REQUIRE(len == 20);
  const std::vector<std::uint8_t> request(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
  const Reply reply = respond(request, addr("203.0.113.9:1234"));
  REQUIRE(reply.rc == DERP_OK);
  const Message m = parsed(reply.bytes);
  CHECK_FALSE(m.has_fingerprint);  // mirrored: the request had none
  CHECK(derp::format_addr(*m.xor_mapped_address) == "203.0.113.9:1234");

  SECTION("fingerprint and software options") {
    ResponderOptions always;
    always.fingerprint = FingerprintPolicy::kAlways;
    always.software = "libderp";
    const Reply r = respond(request, addr("203.0.113.9:1234"), always);
    REQUIRE(r.rc == DERP_OK);
    const Message with = parsed(r.bytes);
    CHECK(with.has_fingerprint);
    CHECK(with.fingerprint_valid);
    REQUIRE(with.software);
    CHECK(std::string(with.software->begin(), with.software->end()) == "libderp");

    ResponderOptions never;
    never.fingerprint = FingerprintPolicy::kNever;
    const Reply bare = respond(tailscale_request(), addr("203.0.113.9:1234"), never);
    REQUIRE(bare.rc == DERP_OK);
    CHECK(bare.bytes.size() == 32);  // exactly stun.Response

    ResponderOptions too_long;
    const std::string software(kMaxSoftwareSize + 1, 'x');
    too_long.software = software;
    CHECK(respond(request, addr("203.0.113.9:1234"), too_long).rc == DERP_ERR_INVALID_ARGUMENT);
  }
}

TEST_CASE("stun responder: ICE connectivity checks are answered, not refused as unknown", "[stun][vectors]") {
  DERP_REQUIRE_TESTDATA();
  // RFC 5769 §2.1 carries PRIORITY and ICE-CONTROLLED (comprehension-required and optional) and USERNAME +
  // MESSAGE-INTEGRITY, which a credential-less responder does not check.
  const auto request = derp::test::read_hex_file("rfc5769/req.hex");
  const Reply reply = respond(request, addr("192.0.2.1:32853"));
  REQUIRE(reply.rc == DERP_OK);
  const Message m = parsed(reply.bytes);
  CHECK(m.type == kBindingSuccessResponse);
  CHECK(m.has_fingerprint);
}

TEST_CASE("stun responder: a bad FINGERPRINT gets no reply", "[stun]") {
  auto request = tailscale_request();
  request.back() ^= 0xFF;
  CHECK(respond(request, addr("192.0.2.1:1")).rc == DERP_ERR_STUN_FINGERPRINT);
}

TEST_CASE("stun responder: unknown comprehension-required attributes get a 420 naming them", "[stun]") {
  std::array<std::uint8_t, 128> buf{};
  Builder b(buf);
  b.begin(kBindingRequest, kTxid);
  b.add_attribute(0x0003, from_hex("00000004"));  // CHANGE-REQUEST (RFC 5780) for another IP: we have only one
  b.add_attribute(0x7ff0, Bytes());
  b.add_attribute(0x8777, from_hex("01"));         // optional: not listed
  b.add_fingerprint();
  std::size_t len = 0;
  REQUIRE(b.finish(&len) == DERP_OK);
  const std::vector<std::uint8_t> request(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));

  const Reply reply = respond(request, addr("192.0.2.1:1"));
  REQUIRE(reply.rc == DERP_OK);
  const Message m = parsed(reply.bytes);
  CHECK(m.type == kBindingErrorResponse);
  CHECK(m.transaction_id == kTxid);
  REQUIRE(m.error_code);
  CHECK(m.error_code->code == 420);
  REQUIRE(m.unknown_attributes);
  REQUIRE(m.unknown_attributes->count == 2);
  CHECK(m.unknown_attributes->types[0] == 0x0003);
  CHECK(m.unknown_attributes->types[1] == 0x7ff0);
  CHECK(m.has_fingerprint);
  CHECK(m.fingerprint_valid);
  CHECK_FALSE(m.xor_mapped_address.has_value());
  // Tailscale's client would not take it for an answer.
  BindingResult result;
  CHECK(parse_binding_response(Bytes(reply.bytes.data(), reply.bytes.size()), &result) ==
        DERP_ERR_STUN_NOT_SUCCESS_RESPONSE);
}

TEST_CASE("stun responder: indications, responses and other methods get no reply", "[stun]") {
  std::array<std::uint8_t, 64> buf{};
  for (std::uint16_t type : {kBindingIndication, kBindingSuccessResponse, kBindingErrorResponse,
                             message_type(0x003, MessageClass::kRequest)}) {
    INFO(type);
    Builder b(buf);
    b.begin(type, kTxid);
    b.add_fingerprint();
    std::size_t len = 0;
    REQUIRE(b.finish(&len) == DERP_OK);
    const std::vector<std::uint8_t> msg(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
    CHECK(respond(msg, addr("192.0.2.1:1")).rc == DERP_ERR_STUN_NOT_BINDING_REQUEST);
  }
}

TEST_CASE("stun responder: truncated and garbage input gets no reply and no crash", "[stun]") {
  const auto request = tailscale_request();
  for (std::size_t n = 0; n < request.size(); ++n) {
    const std::vector<std::uint8_t> cut(request.begin(), request.begin() + static_cast<std::ptrdiff_t>(n));
    const int rc = respond(cut, addr("192.0.2.1:1")).rc;
    INFO(n << " bytes: " << derp_err_name(rc));
    CHECK(rc != DERP_OK);
  }
  CHECK(respond(from_hex("deadbeef"), addr("192.0.2.1:1")).rc == DERP_ERR_NOT_STUN);
  // Header length says 20, but the one attribute inside claims 200 bytes.
  auto broken = request;
  broken[22] = 0;
  broken[23] = 200;
  CHECK(respond(broken, addr("192.0.2.1:1")).rc == DERP_ERR_TRUNCATED);

  std::mt19937 rng(5769);
  std::array<std::uint8_t, kMaxResponseSize> out{};
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> noise = request;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) noise[rng() % noise.size()] = static_cast<std::uint8_t>(rng());
    noise.resize(rng() % (noise.size() + 1));
    std::size_t len = 0;
    const int rc = BindingResponder().respond(Bytes(noise.data(), noise.size()), addr("192.0.2.1:1"), out, &len);
    if (rc == DERP_OK) {
      // A flipped cookie makes it a classic (RFC 3489) request, answered in the same form.
      Message m;
      int parsed_rc = parse(Bytes(out.data(), len), &m);
      if (parsed_rc == DERP_ERR_NOT_STUN) parsed_rc = parse_classic(Bytes(out.data(), len), &m);
      REQUIRE(parsed_rc == DERP_OK);
      REQUIRE(m.message_class != MessageClass::kRequest);
    }
  }
}

TEST_CASE("stun responder: output buffer too small and bad arguments", "[stun]") {
  const auto request = tailscale_request();
  std::array<std::uint8_t, 64> out{};
  std::size_t len = 0;
  const BindingResponder responder;
  REQUIRE(responder.respond(Bytes(request.data(), request.size()), addr("[2001:db8::1]:1"), out, &len) == DERP_OK);
  const std::size_t needed = len;
  CHECK(needed == 20 + 24 + 8);
  for (std::size_t cap = 0; cap < needed; ++cap) {
    CHECK(responder.respond(Bytes(request.data(), request.size()), addr("[2001:db8::1]:1"),
                            MutableBytes(out.data(), cap), &len) == DERP_ERR_BUFFER_TOO_SMALL);
  }
  CHECK(responder.respond(Bytes(request.data(), request.size()), derp_addr{}, out, &len) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(responder.respond(Bytes(request.data(), request.size()), addr("192.0.2.1:1"), out, nullptr) ==
        DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("stun responder: the largest reply fits kMaxResponseSize", "[stun]") {
  std::array<std::uint8_t, 256> buf{};
  Builder b(buf);
  b.begin(kBindingRequest, kTxid);
  for (std::uint16_t t = 0x7000; t < 0x7000 + 20; ++t) b.add_attribute(t, Bytes());
  b.add_fingerprint();
  std::size_t len = 0;
  REQUIRE(b.finish(&len) == DERP_OK);
  const std::vector<std::uint8_t> request(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
  ResponderOptions options;
  const std::string software(kMaxSoftwareSize, 's');
  options.software = software;
  const Reply reply = respond(request, addr("[2001:db8::1]:1"), options);
  REQUIRE(reply.rc == DERP_OK);
  CHECK(reply.bytes.size() == kMaxResponseSize);
  const Message m = parsed(reply.bytes);
  CHECK(m.unknown_attributes->count == kMaxUnknownAttributes);
}
