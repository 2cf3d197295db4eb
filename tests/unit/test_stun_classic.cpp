// RFC 3489 ("classic") binding requests, as libnice's stun_usage_bind_run and Vovida's stun client send them:
// no magic cookie, a 16-byte transaction id, optionally a CHANGE-REQUEST. The codec reads them, the responder
// answers them with MAPPED-ADDRESS as RFC 5389 §12.2 asks, and requests with the cookie are read as before.
#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "derp/common.h"
#include "derp/stun.h"
#include "stun/builder.hpp"
#include "stun/header.hpp"
#include "stun/message.hpp"
#include "stun/responder.hpp"
#include "stun/tailscale.hpp"
#include "support/testdata.hpp"

using namespace derp::stun;
using derp::Bytes;
using derp::test::from_hex;
using derp::test::to_hex;

namespace {

// A 128-bit transaction id as a classic client draws it: the first 4 bytes are anything but the cookie.
constexpr const char* kClassicIdHex = "4d219a3cb7e7a701bc34d686fa87dfae";

// libnice, stun_usage_bind_run(): an agent in STUN_COMPATIBILITY_RFC3489 with no usage flags, so no FINGERPRINT
// and no attribute at all (stun/usages/bind.c, stun/stunagent.c).
std::vector<std::uint8_t> libnice_request() { return from_hex(std::string("00010000") + kClassicIdHex); }

// Vovida's stun client, stunBuildReqSimple(): CHANGE-REQUEST always, its flags 0 in test I; the change-IP and
// change-port flags (0x04, 0x02) in tests II and III.
std::vector<std::uint8_t> vovida_request(const char* flags_hex) {
  return from_hex(std::string("00010008") + kClassicIdHex + "00030004" + flags_hex);
}

derp_addr addr(const char* text) {
  derp_addr a{};
  REQUIRE(derp::parse_addr(text, &a) == DERP_OK);
  return a;
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

Message parsed_classic(const std::vector<std::uint8_t>& bytes) {
  Message m;
  REQUIRE(parse_classic(Bytes(bytes.data(), bytes.size()), &m) == DERP_OK);
  return m;
}

}  // namespace

TEST_CASE("stun classic: the header is told by the missing cookie, and its length must match exactly", "[stun]") {
  const auto nice = libnice_request();
  CHECK(has_classic_header(Bytes(nice)));
  CHECK_FALSE(is_stun(Bytes(nice)));  // the RFC 8489 check still wants the cookie

  Message m;
  CHECK(parse(Bytes(nice), &m) == DERP_ERR_NOT_STUN);
  REQUIRE(parse_classic(Bytes(nice), &m) == DERP_OK);
  CHECK(m.classic);
  CHECK(m.type == kBindingRequest);
  CHECK(to_hex(m.classic_transaction_id.data(), m.classic_transaction_id.size()) == kClassicIdHex);
  CHECK(to_hex(m.transaction_id.data(), m.transaction_id.size()) == std::string(kClassicIdHex).substr(8));
  CHECK_FALSE(m.change_request.has_value());

  // A message with the cookie is never classic, however it looks otherwise.
  std::array<std::uint8_t, kTailscaleRequestSize> tailscale{};
  std::size_t len = 0;
  REQUIRE(build_tailscale_request(TransactionId{}, tailscale, &len) == DERP_OK);
  CHECK_FALSE(has_classic_header(Bytes(tailscale)));
  CHECK(parse_classic(Bytes(tailscale), &m) == DERP_ERR_NOT_STUN);

  // Without a cookie only the length separates STUN from noise: trailing bytes, a short datagram, a length that
  // is not a multiple of 4, or the top bits of byte 0 set, and it is not a classic message.
  auto longer = nice;
  longer.push_back(0);
  CHECK(parse_classic(Bytes(longer), &m) == DERP_ERR_NOT_STUN);
  auto claims_more = nice;
  claims_more[3] = 4;
  CHECK(parse_classic(Bytes(claims_more), &m) == DERP_ERR_NOT_STUN);
  auto odd = from_hex(std::string("00010002") + kClassicIdHex + "0000");
  CHECK(parse_classic(Bytes(odd), &m) == DERP_ERR_NOT_STUN);
  auto rtp = nice;
  rtp[0] = 0x80;
  CHECK_FALSE(has_classic_header(Bytes(rtp)));
  CHECK(parse_classic(Bytes(nice.data(), 19), &m) == DERP_ERR_NOT_STUN);
}

TEST_CASE("stun classic: Vovida's CHANGE-REQUEST is understood", "[stun]") {
  const Message zero = parsed_classic(vovida_request("00000000"));
  REQUIRE(zero.change_request.has_value());
  CHECK(*zero.change_request == 0);
  CHECK(zero.unknown_required.count == 0);
  const Message both = parsed_classic(vovida_request("00000006"));
  CHECK(*both.change_request == (kChangeRequestIp | kChangeRequestPort));
}

TEST_CASE("stun classic: libnice's request is answered with MAPPED-ADDRESS and its whole id, v4 and v6", "[stun]") {
  // Exact bytes: type 0x0101, length, the 16-byte id echoed, MAPPED-ADDRESS (family, port, address), nothing else.
  struct Case {
    const char* source;
    const char* expected_tail;
  };
  const Case cases[] = {
      {"192.0.2.1:32853", "0001000800018055c0000201"},
      {"[2001:db8::1]:3478", "0001001400020d9620010db8000000000000000000000001"},
      // A dual-stack socket's view of an IPv4 client: answered in IPv4.
      {"[::ffff:198.51.100.7]:65535", "000100080001ffffc6336407"},
  };
  for (const Case& c : cases) {
    INFO(c.source);
    const std::string tail = c.expected_tail;
    const Reply reply = respond(libnice_request(), addr(c.source));
    REQUIRE(reply.rc == DERP_OK);
    const std::string length = tail.size() / 2 == 12 ? "000c" : "0018";
    CHECK(to_hex(reply.bytes) == "0101" + length + kClassicIdHex + tail);

    const Message m = parsed_classic(reply.bytes);
    CHECK(m.type == kBindingSuccessResponse);
    CHECK_FALSE(m.xor_mapped_address.has_value());
    CHECK_FALSE(m.has_fingerprint);  // the request had none
    REQUIRE(m.mapped_address);
  }
}

TEST_CASE("stun classic: Vovida's test I is answered, tests II and III get a 420 naming CHANGE-REQUEST", "[stun]") {
  const Reply one = respond(vovida_request("00000000"), addr("203.0.113.5:3478"));
  REQUIRE(one.rc == DERP_OK);
  CHECK(to_hex(one.bytes) == std::string("0101000c") + kClassicIdHex + "0001000800010d96cb007105");

  // We have one address and one port: asking for the answer from another is refused, as coturn does without
  // RFC 5780, rather than answered from the same address (which would read as "full cone" to the client).
  for (const char* flags : {"00000004", "00000002", "00000006"}) {
    INFO(flags);
    const Reply r = respond(vovida_request(flags), addr("203.0.113.5:3478"));
    REQUIRE(r.rc == DERP_OK);
    const Message m = parsed_classic(r.bytes);
    CHECK(m.type == kBindingErrorResponse);
    CHECK(m.classic_transaction_id == parsed_classic(vovida_request(flags)).classic_transaction_id);
    REQUIRE(m.error_code);
    CHECK(m.error_code->code == 420);
    REQUIRE(m.unknown_attributes);
    REQUIRE(m.unknown_attributes->count == 1);
    CHECK(m.unknown_attributes->types[0] == kAttrChangeRequest);
  }
  // Unused bits besides the two flags ask for nothing.
  CHECK(respond(vovida_request("00000001"), addr("203.0.113.5:3478")).rc == DERP_OK);
  CHECK(parsed_classic(respond(vovida_request("00000001"), addr("203.0.113.5:3478")).bytes).type ==
        kBindingSuccessResponse);
}

TEST_CASE("stun classic: RESPONSE-ADDRESS is never followed: a 420 names it", "[stun]") {
  // RFC 3489 §11.2.2 would have us send the answer to 192.0.2.99:9; RFC 5389 §12.2 says refuse it.
  const auto request = from_hex(std::string("0001000c") + kClassicIdHex + "00020008" "00010009c0000263");
  const Reply r = respond(request, addr("203.0.113.5:3478"));
  REQUIRE(r.rc == DERP_OK);
  const Message m = parsed_classic(r.bytes);
  REQUIRE(m.error_code);
  CHECK(m.error_code->code == 420);
  REQUIRE(m.unknown_attributes);
  CHECK(m.unknown_attributes->types[0] == kAttrResponseAddress);
  CHECK_FALSE(m.mapped_address.has_value());
}

TEST_CASE("stun classic: FINGERPRINT and SOFTWARE follow the same policy as for RFC 8489 requests", "[stun]") {
  ClassicTransactionId id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(0x10 + i);
  std::array<std::uint8_t, 64> buf{};
  Builder b(buf);
  b.begin_classic(kBindingRequest, id);
  b.add_fingerprint();
  std::size_t len = 0;
  REQUIRE(b.finish(&len) == DERP_OK);
  std::vector<std::uint8_t> request(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));

  ResponderOptions options;
  options.software = "libderp";
  const Reply r = respond(request, addr("192.0.2.1:1"), options);
  REQUIRE(r.rc == DERP_OK);
  const Message m = parsed_classic(r.bytes);
  CHECK(m.classic_transaction_id == id);
  CHECK(m.has_fingerprint);  // mirrored
  CHECK(m.fingerprint_valid);
  REQUIRE(m.software);
  CHECK(std::string(m.software->begin(), m.software->end()) == "libderp");
  REQUIRE(m.mapped_address);
  CHECK(derp::format_addr(*m.mapped_address) == "192.0.2.1:1");

  request.back() ^= 1;  // a FINGERPRINT that does not match: not STUN, no answer
  CHECK(respond(request, addr("192.0.2.1:1")).rc == DERP_ERR_STUN_FINGERPRINT);
}

TEST_CASE("stun classic: only binding requests are answered", "[stun]") {
  for (const char* type : {"0101", "0111", "0002", "0011"}) {  // response, error, Shared Secret request, indication
    INFO(type);
    const auto msg = from_hex(std::string(type) + "0000" + kClassicIdHex);
    CHECK(respond(msg, addr("192.0.2.1:1")).rc == DERP_ERR_STUN_NOT_BINDING_REQUEST);
  }
  // Trailing bytes make it noise (the length is the only check a classic message has).
  auto longer = libnice_request();
  longer.insert(longer.end(), {0, 0, 0, 0});
  CHECK(respond(longer, addr("192.0.2.1:1")).rc == DERP_ERR_NOT_STUN);
}

TEST_CASE("stun classic: Tailscale-style requests are untouched by the classic path", "[stun]") {
  std::array<std::uint8_t, kTailscaleRequestSize> request{};
  std::size_t len = 0;
  const TransactionId txid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  REQUIRE(build_tailscale_request(txid, request, &len) == DERP_OK);
  std::array<std::uint8_t, kMaxResponseSize> out{};
  std::size_t out_len = 0;
  REQUIRE(BindingResponder().respond(Bytes(request), addr("192.0.2.1:41641"), out, &out_len) == DERP_OK);
  BindingResult result;
  REQUIRE(parse_binding_response(Bytes(out.data(), out_len), &result) == DERP_OK);
  CHECK(result.transaction_id == txid);
  Message m;
  REQUIRE(parse(Bytes(out.data(), out_len), &m) == DERP_OK);
  CHECK_FALSE(m.classic);
  CHECK(m.xor_mapped_address.has_value());
  CHECK_FALSE(m.mapped_address.has_value());
  // Tailscale's strict server check is unchanged and still refuses a classic request.
  TransactionId ignored{};
  const auto nice = libnice_request();
  CHECK(parse_tailscale_binding_request(Bytes(nice), &ignored) == DERP_ERR_NOT_STUN);
  // A broken RFC 8489 request (cookie present) never falls back to the classic path.
  auto broken = std::vector<std::uint8_t>(request.begin(), request.end());
  broken[3] = 0x30;  // declared length past the data
  CHECK(BindingResponder().respond(Bytes(broken), addr("192.0.2.1:1"), out, &out_len) == DERP_ERR_TRUNCATED);
}

TEST_CASE("stun classic: the Builder refuses XOR-MAPPED-ADDRESS without a cookie", "[stun]") {
  std::array<std::uint8_t, 64> buf{};
  Builder b(buf);
  b.begin_classic(kBindingSuccessResponse, ClassicTransactionId{});
  CHECK(b.add_xor_mapped_address(addr("192.0.2.1:1")) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("stun classic: the C responder answers libnice's bytes", "[stun][capi]") {
  const auto request = libnice_request();
  const derp_addr source = addr("192.0.2.1:32853");
  std::uint8_t out[DERP_STUN_MAX_RESPONSE_SIZE];
  std::size_t len = 0;
  REQUIRE(derp_stun_respond(request.data(), request.size(), &source, nullptr, out, sizeof out, &len) == DERP_OK);
  CHECK(to_hex(out, len) == std::string("0101000c") + kClassicIdHex + "0001000800018055c0000201");
}
