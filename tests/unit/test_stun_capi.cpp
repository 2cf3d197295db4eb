// include/derp/stun.h through its C entry points only: arguments, struct_size, and the basic exchanges.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "derp/common.h"
#include "derp/stun.h"
#include "support/testdata.hpp"

using derp::test::from_hex;
using derp::test::to_hex;

namespace {

const std::uint8_t kTxid[DERP_STUN_TXID_SIZE] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

derp_addr addr(const char* text) {
  derp_addr a{};
  REQUIRE(derp_addr_parse(text, &a) == DERP_OK);
  return a;
}

std::string text(const std::uint8_t* p, std::size_t n) { return std::string(reinterpret_cast<const char*>(p), n); }

// What a program built against an older, shorter derp_stun_message would have: the fields up to the XOR address.
struct old_stun_message {
  std::size_t struct_size;
  std::uint16_t type;
  std::uint16_t method;
  std::uint8_t message_class;
  std::uint8_t transaction_id[DERP_STUN_TXID_SIZE];
  std::size_t length;
  int has_mapped_address;
  derp_addr mapped_address;
  int has_xor_mapped_address;
  derp_addr xor_mapped_address;
};
static_assert(offsetof(old_stun_message, xor_mapped_address) == offsetof(derp_stun_message, xor_mapped_address));

// The same older program's request options: it knew only software and username.
struct old_request_options {
  std::size_t struct_size;
  const char* software;
  const char* username;
};

}  // namespace

TEST_CASE("stun C API: is_stun, Tailscale request, parse", "[stun]") {
  std::uint8_t buf[64];
  std::size_t len = 0;
  REQUIRE(derp_stun_build_tailscale_request(kTxid, buf, sizeof buf, &len) == DERP_OK);
  REQUIRE(len == DERP_STUN_TAILSCALE_REQUEST_SIZE);
  CHECK(to_hex(buf, len) == "000100142112a4420102030405060708090a0b0c802200087461696c6e6f646580280004b32c370f");
  CHECK(derp_stun_is_stun(buf, len) == 1);
  CHECK(derp_stun_is_stun(buf, 19) == 0);
  CHECK(derp_stun_is_stun(nullptr, 0) == 0);

  derp_stun_message m;
  std::memset(&m, 0xAA, sizeof m);
  m.struct_size = sizeof m;
  REQUIRE(derp_stun_parse(buf, len, &m) == DERP_OK);
  CHECK(m.struct_size == sizeof m);
  CHECK(m.type == DERP_STUN_BINDING_REQUEST);
  CHECK(m.method == DERP_STUN_METHOD_BINDING);
  CHECK(m.message_class == DERP_STUN_CLASS_REQUEST);
  CHECK(std::memcmp(m.transaction_id, kTxid, sizeof kTxid) == 0);
  CHECK(m.length == 40);
  REQUIRE(m.software != nullptr);
  CHECK(m.software == buf + 24);  // a view into our buffer
  CHECK(text(m.software, m.software_len) == "tailnode");
  CHECK(m.username == nullptr);
  CHECK(m.username_len == 0);
  CHECK(m.has_fingerprint == 1);
  CHECK(m.fingerprint_valid == 1);
  CHECK(m.fingerprint == 0xb32c370fu);
  CHECK(m.has_message_integrity == 0);
  CHECK(m.has_xor_mapped_address == 0);
  CHECK(m.unknown_required_count == 0);

  std::uint8_t txid[DERP_STUN_TXID_SIZE] = {0};
  REQUIRE(derp_stun_parse_tailscale_binding_request(buf, len, txid) == DERP_OK);
  CHECK(std::memcmp(txid, kTxid, sizeof kTxid) == 0);
  buf[len - 1] ^= 1;
  CHECK(derp_stun_parse_tailscale_binding_request(buf, len, txid) == DERP_ERR_STUN_FINGERPRINT);
  REQUIRE(derp_stun_parse(buf, len, &m) == DERP_OK);
  CHECK(m.fingerprint_valid == 0);

  CHECK(derp_stun_parse(buf, 10, &m) == DERP_ERR_NOT_STUN);
  CHECK(derp_stun_parse(buf, 30, &m) == DERP_ERR_TRUNCATED);
  CHECK(derp_stun_build_tailscale_request(kTxid, buf, 39, &len) == DERP_ERR_BUFFER_TOO_SMALL);
}

TEST_CASE("stun C API: struct_size lets an older, shorter struct be filled without overrun", "[stun]") {
  std::uint8_t buf[64];
  std::size_t len = 0;
  const derp_addr client = addr("[2001:db8::7]:4242");
  REQUIRE(derp_stun_build_binding_response(kTxid, &client, 1, buf, sizeof buf, &len) == DERP_OK);

  struct {
    old_stun_message m;
    unsigned char canary[256];
  } old;
  std::memset(&old, 0xC3, sizeof old);
  old.m.struct_size = sizeof old.m;
  REQUIRE(derp_stun_parse(buf, len, reinterpret_cast<derp_stun_message*>(&old.m)) == DERP_OK);
  CHECK(old.m.struct_size == sizeof(old_stun_message));
  CHECK(old.m.type == DERP_STUN_BINDING_SUCCESS_RESPONSE);
  CHECK(old.m.message_class == DERP_STUN_CLASS_SUCCESS_RESPONSE);
  CHECK(old.m.has_xor_mapped_address == 1);
  CHECK(old.m.xor_mapped_address.family == DERP_AF_INET6);
  CHECK(old.m.xor_mapped_address.port == 4242);
  for (unsigned char c : old.canary) REQUIRE(c == 0xC3);  // nothing written past the old struct

  derp_stun_message m{};
  m.struct_size = 0;  // forgot to set it
  CHECK(derp_stun_parse(buf, len, &m) == DERP_ERR_INVALID_ARGUMENT);
  m.struct_size = sizeof(std::size_t) - 1;
  CHECK(derp_stun_parse(buf, len, &m) == DERP_ERR_INVALID_ARGUMENT);

  // An older options struct: fields it does not have (realm, nonce, key, fingerprint) take their defaults, so the
  // request still ends in FINGERPRINT.
  old_request_options old_opts{sizeof(old_request_options), "old-client", "bob"};
  REQUIRE(derp_stun_build_request(kTxid, reinterpret_cast<const derp_stun_request_options*>(&old_opts), buf,
                                  sizeof buf, &len) == DERP_OK);
  m.struct_size = sizeof m;
  REQUIRE(derp_stun_parse(buf, len, &m) == DERP_OK);
  CHECK(text(m.software, m.software_len) == "old-client");
  CHECK(text(m.username, m.username_len) == "bob");
  CHECK(m.realm == nullptr);
  CHECK(m.has_message_integrity == 0);
  CHECK(m.has_fingerprint == 1);
  old_opts.struct_size = 0;
  CHECK(derp_stun_build_request(kTxid, reinterpret_cast<const derp_stun_request_options*>(&old_opts), buf,
                                sizeof buf, &len) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("stun C API: request with integrity, long-term key, check_integrity", "[stun]") {
  std::uint8_t key[DERP_STUN_LONG_TERM_KEY_SIZE];
  REQUIRE(derp_stun_long_term_key("user", "realm", "pass", key) == DERP_OK);
  CHECK(to_hex(key, sizeof key) == "8493fbc53ba582fb4c044c456bdc40eb");
  CHECK(derp_stun_long_term_key(nullptr, "realm", "pass", key) == DERP_ERR_INVALID_ARGUMENT);

  derp_stun_request_options opts;
  REQUIRE(derp_stun_request_options_init(&opts, sizeof opts) == DERP_OK);
  CHECK(opts.struct_size == sizeof opts);
  CHECK(opts.fingerprint == 1);
  opts.username = "user";
  opts.realm = "realm";
  opts.nonce = "abc";
  opts.integrity_key = key;
  opts.integrity_key_len = sizeof key;
  std::uint8_t buf[128];
  std::size_t len = 0;
  REQUIRE(derp_stun_build_request(kTxid, &opts, buf, sizeof buf, &len) == DERP_OK);
  CHECK(derp_stun_check_integrity(buf, len, key, sizeof key) == DERP_OK);
  key[3] ^= 0x40;
  CHECK(derp_stun_check_integrity(buf, len, key, sizeof key) == DERP_ERR_STUN_INTEGRITY);
  CHECK(derp_stun_check_integrity(buf, len, nullptr, 0) == DERP_ERR_STUN_INTEGRITY);
  CHECK(derp_stun_check_integrity(buf, len, nullptr, 5) == DERP_ERR_INVALID_ARGUMENT);

  derp_stun_message m{};
  m.struct_size = sizeof m;
  REQUIRE(derp_stun_parse(buf, len, &m) == DERP_OK);
  CHECK(m.has_message_integrity == 1);
  CHECK(m.message_integrity_offset == len - 24 - 8);
  CHECK(text(m.nonce, m.nonce_len) == "abc");

  // Defaults: only FINGERPRINT.
  REQUIRE(derp_stun_build_request(kTxid, nullptr, buf, sizeof buf, &len) == DERP_OK);
  CHECK(len == 28);
  CHECK(derp_stun_check_integrity(buf, len, key, sizeof key) == DERP_ERR_STUN_NO_INTEGRITY);
  CHECK(derp_stun_build_request(kTxid, nullptr, buf, 27, &len) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(derp_stun_build_request(nullptr, nullptr, buf, sizeof buf, &len) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_stun_build_request(kTxid, nullptr, nullptr, sizeof buf, &len) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("stun C API: binding response both ways, and Tailscale's response parser", "[stun]") {
  std::uint8_t buf[64];
  std::size_t len = 0;
  const derp_addr v4 = addr("192.0.2.1:41641");
  REQUIRE(derp_stun_build_binding_response(kTxid, &v4, 0, buf, sizeof buf, &len) == DERP_OK);
  CHECK(to_hex(buf, len) == "0101000c2112a4420102030405060708090a0b0c00200008000183bbe112a643");
  std::uint8_t txid[DERP_STUN_TXID_SIZE] = {0};
  derp_addr got{};
  REQUIRE(derp_stun_parse_binding_response(buf, len, txid, &got) == DERP_OK);
  CHECK(std::memcmp(txid, kTxid, sizeof kTxid) == 0);
  CHECK(got.family == DERP_AF_INET);
  CHECK(got.port == 41641);
  CHECK(std::memcmp(got.ip, v4.ip, 4) == 0);

  const derp_addr mapped = addr("[::ffff:192.0.2.1]:41641");
  REQUIRE(derp_stun_build_binding_response(kTxid, &mapped, 1, buf, sizeof buf, &len) == DERP_OK);
  CHECK(len == 44 + 8);
  REQUIRE(derp_stun_parse_binding_response(buf, len, txid, &got) == DERP_OK);
  CHECK(got.family == DERP_AF_INET);  // un-mapped

  const derp_addr none{};
  CHECK(derp_stun_build_binding_response(kTxid, &none, 0, buf, sizeof buf, &len) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_stun_build_binding_response(kTxid, &v4, 0, buf, 31, &len) == DERP_ERR_BUFFER_TOO_SMALL);

  std::uint8_t request[64];
  REQUIRE(derp_stun_build_tailscale_request(kTxid, request, sizeof request, &len) == DERP_OK);
  std::memset(txid, 0, sizeof txid);
  CHECK(derp_stun_parse_binding_response(request, len, txid, &got) == DERP_ERR_STUN_NOT_SUCCESS_RESPONSE);
  CHECK(std::memcmp(txid, kTxid, sizeof kTxid) == 0);
  CHECK(got.family == DERP_AF_NONE);
  CHECK(derp_stun_parse_binding_response(request, 19, txid, &got) == DERP_ERR_NOT_STUN);
  CHECK(derp_stun_parse_binding_response(nullptr, 0, txid, &got) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("stun C API: error response", "[stun]") {
  std::uint8_t buf[128];
  std::size_t len = 0;
  const std::uint16_t unknown[] = {0x0003, 0x7abc, 0x0101};
  REQUIRE(derp_stun_build_error_response(kTxid, DERP_STUN_METHOD_BINDING, 420, nullptr, unknown, 3, 1, buf,
                                         sizeof buf, &len) == DERP_OK);
  derp_stun_message m{};
  m.struct_size = sizeof m;
  REQUIRE(derp_stun_parse(buf, len, &m) == DERP_OK);
  CHECK(m.type == DERP_STUN_BINDING_ERROR_RESPONSE);
  CHECK(m.has_error_code == 1);
  CHECK(m.error_code == 420);
  CHECK(text(m.error_reason, m.error_reason_len) == "Unknown Attribute");
  CHECK(m.has_unknown_attributes == 1);
  REQUIRE(m.unknown_attributes_count == 3);
  CHECK(m.unknown_attributes[2] == 0x0101);
  CHECK(m.fingerprint_valid == 1);

  REQUIRE(derp_stun_build_error_response(kTxid, DERP_STUN_METHOD_BINDING, 400, "nope", nullptr, 0, 0, buf,
                                         sizeof buf, &len) == DERP_OK);
  REQUIRE(derp_stun_parse(buf, len, &m) == DERP_OK);
  CHECK(m.error_code == 400);
  CHECK(text(m.error_reason, m.error_reason_len) == "nope");
  CHECK(m.has_unknown_attributes == 0);
  CHECK(m.has_fingerprint == 0);

  CHECK(derp_stun_build_error_response(kTxid, DERP_STUN_METHOD_BINDING, 700, nullptr, nullptr, 0, 0, buf,
                                       sizeof buf, &len) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_stun_build_error_response(kTxid, 0x1000, 400, nullptr, nullptr, 0, 0, buf, sizeof buf, &len) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_stun_build_error_response(kTxid, DERP_STUN_METHOD_BINDING, 400, nullptr, nullptr, 2, 0, buf,
                                       sizeof buf, &len) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_stun_build_error_response(kTxid, DERP_STUN_METHOD_BINDING, 400, nullptr, nullptr, 0, 0, buf, 20,
                                       &len) == DERP_ERR_BUFFER_TOO_SMALL);
}

TEST_CASE("stun C API: responder", "[stun]") {
  std::uint8_t request[64];
  std::size_t request_len = 0;
  REQUIRE(derp_stun_build_tailscale_request(kTxid, request, sizeof request, &request_len) == DERP_OK);
  std::uint8_t out[DERP_STUN_MAX_RESPONSE_SIZE];
  std::size_t len = 0;
  const derp_addr source = addr("[::ffff:198.51.100.7]:4242");

  REQUIRE(derp_stun_respond(request, request_len, &source, nullptr, out, sizeof out, &len) == DERP_OK);
  CHECK(len == 40);  // IPv4 XOR-MAPPED-ADDRESS + mirrored FINGERPRINT
  std::uint8_t txid[DERP_STUN_TXID_SIZE];
  derp_addr got{};
  REQUIRE(derp_stun_parse_binding_response(out, len, txid, &got) == DERP_OK);
  CHECK(got.family == DERP_AF_INET);
  CHECK(got.port == 4242);

  derp_stun_responder_options opts;
  REQUIRE(derp_stun_responder_options_init(&opts, sizeof opts) == DERP_OK);
  CHECK(opts.fingerprint == DERP_STUN_FINGERPRINT_MIRROR);
  opts.fingerprint = DERP_STUN_FINGERPRINT_NEVER;
  opts.software = "libderp";
  REQUIRE(derp_stun_respond(request, request_len, &source, &opts, out, sizeof out, &len) == DERP_OK);
  derp_stun_message m{};
  m.struct_size = sizeof m;
  REQUIRE(derp_stun_parse(out, len, &m) == DERP_OK);
  CHECK(m.has_fingerprint == 0);
  CHECK(text(m.software, m.software_len) == "libderp");

  // An older options struct that knew only struct_size and fingerprint: software keeps its default (none).
  struct {
    std::size_t struct_size;
    int fingerprint;
  } old_opts{sizeof(std::size_t) + sizeof(int), DERP_STUN_FINGERPRINT_ALWAYS};
  REQUIRE(derp_stun_respond(request, request_len, &source,
                            reinterpret_cast<const derp_stun_responder_options*>(&old_opts), out, sizeof out,
                            &len) == DERP_OK);
  REQUIRE(derp_stun_parse(out, len, &m) == DERP_OK);
  CHECK(m.has_fingerprint == 1);
  CHECK(m.software == nullptr);

  opts.fingerprint = 7;
  CHECK(derp_stun_respond(request, request_len, &source, &opts, out, sizeof out, &len) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_stun_respond(request, request_len, nullptr, nullptr, out, sizeof out, &len) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_stun_respond(request, request_len, &source, nullptr, out, 39, &len) == DERP_ERR_BUFFER_TOO_SMALL);

  request[request_len - 1] ^= 1;  // bad FINGERPRINT: no reply
  CHECK(derp_stun_respond(request, request_len, &source, nullptr, out, sizeof out, &len) ==
        DERP_ERR_STUN_FINGERPRINT);
  const auto garbage = from_hex("17030300200000000000000000000000000000000000000000");
  CHECK(derp_stun_respond(garbage.data(), garbage.size(), &source, nullptr, out, sizeof out, &len) ==
        DERP_ERR_NOT_STUN);
}

TEST_CASE("stun C API: option inits write only an older caller's prefix", "[stun]") {
  // An "old" caller whose derp_stun_request_options ended after `realm`: the bytes after it are the caller's own
  // and must come back untouched.
  constexpr std::size_t old_size = offsetof(derp_stun_request_options, realm) + sizeof(const char*);
  unsigned char storage[sizeof(derp_stun_request_options) + 16];
  std::memset(storage, 0xA5, sizeof storage);
  auto* opts = reinterpret_cast<derp_stun_request_options*>(storage);
  REQUIRE(derp_stun_request_options_init(opts, old_size) == DERP_OK);
  CHECK(opts->struct_size == old_size);
  CHECK(opts->software == nullptr);
  for (std::size_t i = old_size; i < sizeof storage; ++i) CHECK(storage[i] == 0xA5);

  // A struct_size that cannot even hold struct_size is refused; so is NULL.
  CHECK(derp_stun_request_options_init(opts, 3) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_stun_responder_options_init(nullptr, sizeof(derp_stun_responder_options)) ==
        DERP_ERR_INVALID_ARGUMENT);
}
