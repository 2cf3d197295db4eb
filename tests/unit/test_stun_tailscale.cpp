// Tailscale's STUN (../shared/testdata/tailscale/stun.json, recorded from tailscale.com/net/stun v1.36.2) and the
// worked examples of the wire reference §10.
#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "derp/common.h"
#include "stun/header.hpp"
#include "stun/message.hpp"
#include "stun/responder.hpp"
#include "stun/tailscale.hpp"
#include "support/testdata.hpp"

using namespace derp::stun;
using derp::Bytes;
using derp::test::from_hex;
using derp::test::read_hex_file;
using derp::test::read_json_file;
using derp::test::to_hex;
using nlohmann::json;

namespace {

Bytes bytes_of(const std::vector<std::uint8_t>& v) { return Bytes(v.data(), v.size()); }

TransactionId txid_of(const std::string& hex) {
  const auto bytes = from_hex(hex);
  REQUIRE(bytes.size() == kTransactionIdSize);
  TransactionId id{};
  std::copy(bytes.begin(), bytes.end(), id.begin());
  return id;
}

derp_addr addr(const std::string& text) {
  derp_addr a{};
  REQUIRE(derp::parse_addr(text.c_str(), &a) == DERP_OK);
  return a;
}

// Tailscale's error sentences, as our codes. ErrMalformedAttrs covers our MALFORMED and, for a well-formed
// response without an address, STUN_NO_ADDRESS.
std::vector<int> codes_for_go_error(const std::string& error) {
  if (error == "response is not a STUN packet") return {DERP_ERR_NOT_STUN};
  if (error == "STUN packet is not a response") return {DERP_ERR_STUN_NOT_SUCCESS_RESPONSE};
  if (error == "STUN response has malformed attributes") return {DERP_ERR_MALFORMED, DERP_ERR_STUN_NO_ADDRESS};
  if (error == "STUN request not a binding request") return {DERP_ERR_STUN_NOT_BINDING_REQUEST};
  if (error == "STUN request came from non-Tailscale software") return {DERP_ERR_STUN_WRONG_SOFTWARE};
  if (error == "STUN request didn't end in fingerprint") return {DERP_ERR_STUN_NO_FINGERPRINT};
  if (error == "STUN request had bogus fingerprint") return {DERP_ERR_STUN_FINGERPRINT};
  FAIL("unmapped Go error: " << error);
  return {};
}

bool contains(const std::vector<int>& codes, int code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// Our parse_binding_response against one recorded ParseResponse result.
void check_parse_response(const std::vector<std::uint8_t>& bytes, const json& recorded) {
  BindingResult result;
  const int rc = parse_binding_response(bytes_of(bytes), &result);
  if (recorded.contains("error")) {
    INFO("Go: " << recorded["error"].get<std::string>() << ", ours: " << derp_err_name(rc));
    CHECK(contains(codes_for_go_error(recorded["error"].get<std::string>()), rc));
    CHECK(result.address.family == DERP_AF_NONE);
  } else {
    REQUIRE(rc == DERP_OK);
    CHECK(derp::format_addr(result.address) == recorded["addrport"].get<std::string>());
    CHECK(result.address.port == recorded["port"].get<int>());
    CHECK(to_hex(result.transaction_id.data(), kTransactionIdSize) == recorded["txid_hex"].get<std::string>());
  }
}

// Our parse_tailscale_binding_request against one recorded ParseBindingRequest result.
void check_parse_binding_request(const std::vector<std::uint8_t>& bytes, const json& recorded) {
  TransactionId txid{};
  const int rc = parse_tailscale_binding_request(bytes_of(bytes), &txid);
  if (recorded.contains("error")) {
    INFO("Go: " << recorded["error"].get<std::string>() << ", ours: " << derp_err_name(rc));
    CHECK(contains(codes_for_go_error(recorded["error"].get<std::string>()), rc));
  } else {
    REQUIRE(rc == DERP_OK);
    CHECK(to_hex(txid.data(), txid.size()) == recorded["txid_hex"].get<std::string>());
  }
}

}  // namespace

TEST_CASE("stun.json requests: built byte for byte, and both Tailscale parsers agree", "[stun][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json data = read_json_file("tailscale/stun.json");
  REQUIRE(data["requests"].size() == 3);
  for (const auto& entry : data["requests"]) {
    INFO(entry["name"].get<std::string>());
    const auto expected = from_hex(entry["hex"].get<std::string>());
    std::array<std::uint8_t, kTailscaleRequestSize> buf{};
    std::size_t len = 0;
    REQUIRE(build_tailscale_request(txid_of(entry["txid_hex"].get<std::string>()), buf, &len) == DERP_OK);
    REQUIRE(len == kTailscaleRequestSize);
    CHECK(to_hex(buf.data(), len) == to_hex(expected));
    CHECK(has_stun_header(bytes_of(expected)) == entry["is_stun"].get<bool>());
    CHECK(is_stun(bytes_of(expected)));
    check_parse_binding_request(expected, entry["ParseBindingRequest"]);
    check_parse_response(expected, entry["ParseResponse"]);

    // Our own parser sees a binding request with SOFTWARE and a valid FINGERPRINT.
    Message m;
    REQUIRE(parse(bytes_of(expected), &m) == DERP_OK);
    CHECK(m.type == kBindingRequest);
    CHECK(m.fingerprint_valid);
    REQUIRE(m.software);
    CHECK(std::string(m.software->begin(), m.software->end()) == "tailnode");
  }
}

TEST_CASE("stun.json responses: built byte for byte, and parsed as Tailscale parses them", "[stun][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json data = read_json_file("tailscale/stun.json");
  REQUIRE(data["responses"].size() == 18);
  for (const auto& entry : data["responses"]) {
    INFO(entry["txid_name"].get<std::string>() << " " << entry["input_addrport"].get<std::string>());
    const auto expected = from_hex(entry["hex"].get<std::string>());
    CHECK(expected.size() == entry["len"].get<std::size_t>());
    std::array<std::uint8_t, 64> buf{};
    std::size_t len = 0;
    REQUIRE(build_binding_response(txid_of(entry["txid_hex"].get<std::string>()),
                                   addr(entry["input_addrport"].get<std::string>()), false, buf, &len) == DERP_OK);
    CHECK(to_hex(buf.data(), len) == to_hex(expected));
    CHECK(has_stun_header(bytes_of(expected)) == entry["is_stun"].get<bool>());
    check_parse_response(expected, entry["ParseResponse"]);
    check_parse_binding_request(expected, entry["ParseBindingRequest"]);

    // With a FINGERPRINT appended, Tailscale's parser must still read the same address.
    REQUIRE(build_binding_response(txid_of(entry["txid_hex"].get<std::string>()),
                                   addr(entry["input_addrport"].get<std::string>()), true, buf, &len) == DERP_OK);
    CHECK(len == expected.size() + 8);
    check_parse_response(std::vector<std::uint8_t>(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len)),
                         entry["ParseResponse"]);
  }
  // Go's Response returns nil for a zero AddrPort; we refuse family NONE.
  REQUIRE(data["response_invalid_addr"]["result_is_nil"].get<bool>());
  std::array<std::uint8_t, 64> buf{};
  std::size_t len = 0;
  CHECK(build_binding_response(TransactionId{}, derp_addr{}, false, buf, &len) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("stun.json crafted inputs, captured server responses and RFC 5769 files", "[stun][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json data = read_json_file("tailscale/stun.json");
  REQUIRE(data["crafted_inputs"].size() == 12);
  for (const auto& entry : data["crafted_inputs"]) {
    INFO(entry["name"].get<std::string>() << ": " << entry["description"].get<std::string>());
    const auto bytes = from_hex(entry["hex"].get<std::string>());
    CHECK(has_stun_header(bytes_of(bytes)) == entry["is_stun"].get<bool>());
    check_parse_response(bytes, entry["ParseResponse"]);
    check_parse_binding_request(bytes, entry["ParseBindingRequest"]);
  }
  REQUIRE(data["tailscale_testdata"].size() == 9);
  for (const auto& entry : data["tailscale_testdata"]) {
    INFO(entry["name"].get<std::string>());
    CHECK(entry["matches_test_expectation"].get<bool>());
    const auto bytes = from_hex(entry["hex"].get<std::string>());
    CHECK(has_stun_header(bytes_of(bytes)) == entry["is_stun"].get<bool>());
    check_parse_response(bytes, entry["ParseResponse"]);
    // Our full parser must accept every real server's response too (unknown old attributes merely listed).
    Message m;
    CHECK(parse(bytes_of(bytes), &m) == DERP_OK);
  }
  REQUIRE(data["rfc5769"].size() == 4);
  for (const auto& entry : data["rfc5769"]) {
    const std::string file = entry["file"].get<std::string>();
    INFO(file);
    REQUIRE(file.rfind("../", 0) == 0);
    const auto bytes = read_hex_file(file.substr(3));
    CHECK(has_stun_header(bytes_of(bytes)) == entry["is_stun"].get<bool>());
    check_parse_response(bytes, entry["ParseResponse"]);
    check_parse_binding_request(bytes, entry["ParseBindingRequest"]);
  }
}

TEST_CASE("stun.json crafted inputs: the specific error for each case", "[stun][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json data = read_json_file("tailscale/stun.json");
  auto find = [&](const std::string& name) {
    for (const auto& entry : data["crafted_inputs"]) {
      if (entry["name"] == name) return from_hex(entry["hex"].get<std::string>());
    }
    FAIL("no crafted input " << name);
    return std::vector<std::uint8_t>{};
  };
  BindingResult result;
  TransactionId txid{};
  CHECK(parse_binding_response(bytes_of(find("attr_len_overflow")), &result) == DERP_ERR_MALFORMED);
  CHECK(parse_binding_response(bytes_of(find("no_address_attr")), &result) == DERP_ERR_STUN_NO_ADDRESS);
  CHECK(parse_binding_response(bytes_of(find("short_19_bytes")), &result) == DERP_ERR_NOT_STUN);
  CHECK(parse_tailscale_binding_request(bytes_of(find("request_wrong_software")), &txid) == DERP_ERR_STUN_WRONG_SOFTWARE);
  CHECK(parse_tailscale_binding_request(bytes_of(find("request_bad_fingerprint")), &txid) ==
        DERP_ERR_STUN_FINGERPRINT);
  CHECK(parse_tailscale_binding_request(bytes_of(find("request_no_fingerprint")), &txid) ==
        DERP_ERR_STUN_NO_FINGERPRINT);
}

TEST_CASE("stun.json derper_live: what derper answered, and what it ignored", "[stun][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const json live = read_json_file("tailscale/stun.json")["derper_live"];
  const derp_addr client = addr("127.0.0.1:" + std::to_string(live["client_port"].get<int>()));
  for (const auto& exchange : live["exchanges"]) {
    INFO(exchange["name"].get<std::string>());
    const auto request = from_hex(exchange["request_hex"].get<std::string>());
    TransactionId txid{};
    const int strict = parse_tailscale_binding_request(bytes_of(request), &txid);
    std::array<std::uint8_t, kMaxResponseSize> out{};
    std::size_t len = 0;
    const int mirrored = BindingResponder().respond(bytes_of(request), client, out, &len);
    if (exchange.contains("response_hex")) {
      // derper's rule: ParseBindingRequest, then stun.Response(txid, source).
      REQUIRE(strict == DERP_OK);
      REQUIRE(build_binding_response(txid, client, false, out, &len) == DERP_OK);
      CHECK(to_hex(out.data(), len) == exchange["response_hex"].get<std::string>());
      CHECK(exchange["response_hex"] == exchange["expected_stun_Response_hex"]);
      // Our responder with FINGERPRINT off says the same bytes; by default it mirrors the request's FINGERPRINT.
      ResponderOptions bare;
      bare.fingerprint = FingerprintPolicy::kNever;
      REQUIRE(BindingResponder(bare).respond(bytes_of(request), client, out, &len) == DERP_OK);
      CHECK(to_hex(out.data(), len) == exchange["response_hex"].get<std::string>());
      REQUIRE(mirrored == DERP_OK);
      REQUIRE(BindingResponder().respond(bytes_of(request), client, out, &len) == DERP_OK);
      const std::vector<std::uint8_t> reply(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(len));
      check_parse_response(reply, exchange["ParseResponse"]);
    } else {
      // No reply from derper; none from us either.
      CHECK(strict == DERP_ERR_STUN_FINGERPRINT);
      CHECK(mirrored == DERP_ERR_STUN_FINGERPRINT);
    }
  }
}

TEST_CASE("stun reference §10 worked examples", "[stun]") {
  const TransactionId txid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  std::array<std::uint8_t, 64> buf{};
  std::size_t len = 0;
  REQUIRE(build_tailscale_request(txid, buf, &len) == DERP_OK);
  CHECK(to_hex(buf.data(), len) ==
        "000100142112a4420102030405060708090a0b0c"
        "802200087461696c6e6f6465"
        "80280004b32c370f");
  Message m;
  REQUIRE(parse(Bytes(buf.data(), len), &m) == DERP_OK);
  CHECK(m.fingerprint == 0xb32c370fu);
  CHECK(m.fingerprint_valid);

  REQUIRE(build_binding_response(txid, addr("192.0.2.1:41641"), false, buf, &len) == DERP_OK);
  CHECK(to_hex(buf.data(), len) == "0101000c2112a4420102030405060708090a0b0c002000080001" "83bbe112a643");
  REQUIRE(build_binding_response(txid, addr("[2001:db8::1]:41641"), false, buf, &len) == DERP_OK);
  CHECK(to_hex(buf.data(), len) ==
        "010100182112a4420102030405060708090a0b0c002000140002" "83bb0113a9fa0102030405060708090a0b0d");

  // The dual-stack quirk: a v4-mapped address is sent as family 2 and read back as IPv4.
  REQUIRE(build_binding_response(txid, addr("[::ffff:192.0.2.1]:41641"), false, buf, &len) == DERP_OK);
  CHECK(len == 44);
  CHECK(buf[25] == kFamilyIPv6);
  BindingResult result;
  REQUIRE(parse_binding_response(Bytes(buf.data(), len), &result) == DERP_OK);
  CHECK(derp::format_addr(result.address) == "192.0.2.1:41641");
  CHECK(result.transaction_id == txid);
}

TEST_CASE("stun parse_binding_response follows ParseResponse's finer rules", "[stun]") {
  const TransactionId txid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  BindingResult result;
  std::vector<std::uint8_t> m(kHeaderSize);
  SECTION("the last XOR-MAPPED-ADDRESS wins, whichever of the two numbers it uses") {
    write_header(m.data(), kBindingSuccessResponse, 24, txid);
    // 0x0020 for 192.0.2.1:32853, then 0x8020 for 198.51.100.7:4242 (both XORed with this txid's cookie part).
    for (auto b : from_hex("002000080001a147e112a643" "8020000800013180e721c045")) m.push_back(b);
    REQUIRE(parse_binding_response(bytes_of(m), &result) == DERP_OK);
    CHECK(derp::format_addr(result.address) == "198.51.100.7:4242");
  }
  SECTION("a header length past the data is malformed, though the header check passes") {
    write_header(m.data(), kBindingSuccessResponse, 12, txid);
    REQUIRE(parse_binding_response(bytes_of(m), &result) == DERP_ERR_MALFORMED);
    CHECK(result.transaction_id == txid);  // filled for logs even on failure
  }
  SECTION("an unknown family in MAPPED-ADDRESS is malformed even when XOR-MAPPED-ADDRESS is fine") {
    write_header(m.data(), kBindingSuccessResponse, 24, txid);
    for (auto b : from_hex("002000080001a147e112a643" "000100080009000000000000")) m.push_back(b);
    CHECK(parse_binding_response(bytes_of(m), &result) == DERP_ERR_MALFORMED);
  }
  SECTION("a binding request is not a success response") {
    std::array<std::uint8_t, 64> buf{};
    std::size_t len = 0;
    REQUIRE(build_tailscale_request(txid, buf, &len) == DERP_OK);
    CHECK(parse_binding_response(Bytes(buf.data(), len), &result) == DERP_ERR_STUN_NOT_SUCCESS_RESPONSE);
  }
}
