// The C ABI of include/derp/key.h and include/derp/info.h, called the way a C program calls it: argument checks,
// buffer sizes, the struct_size shim, and agreement with the C++ layer.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/box.hpp"
#include "crypto/sealed_info.hpp"
#include "derp/info.h"
#include "derp/key.h"

namespace {

struct Key {
  uint8_t b[32];
};

Key sequence_key(uint8_t first) {
  Key k;
  for (int i = 0; i < 32; ++i) k.b[i] = static_cast<uint8_t>(first + i);
  return k;
}

Key public_of(const Key& priv) {
  Key pub;
  REQUIRE(derp_key_public_from_private(priv.b, pub.b) == DERP_OK);
  return pub;
}

const char kServerPublicText[] = "nodekey:07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c";

}  // namespace

TEST_CASE("crypto: C API: keys and text forms", "[crypto]") {
  const Key server = sequence_key(1);
  const Key server_pub = public_of(server);

  char text[DERP_KEY_TEXT_LEN];
  REQUIRE(derp_key_format_public(server_pub.b, text, sizeof text) == DERP_OK);
  CHECK(std::string(text) == kServerPublicText);
  REQUIRE(derp_key_format_private(server.b, text, sizeof text) == DERP_OK);
  CHECK(std::string(text) == "privkey:0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
  char hex[DERP_KEY_HEX_LEN];
  REQUIRE(derp_key_format_hex(server_pub.b, hex, sizeof hex) == DERP_OK);
  CHECK(std::string(hex) == std::string(kServerPublicText + 8));
  char short_text[DERP_KEY_SHORT_LEN];
  REQUIRE(derp_key_short(server_pub.b, short_text, sizeof short_text) == DERP_OK);
  CHECK(std::string(short_text) == "[B6N8v]");

  Key parsed{};
  REQUIRE(derp_key_parse_public(kServerPublicText, parsed.b) == DERP_OK);
  CHECK(derp_key_equal(parsed.b, server_pub.b) == 1);
  REQUIRE(derp_key_parse_hex(hex, parsed.b) == DERP_OK);
  CHECK(derp_key_equal(parsed.b, server_pub.b) == 1);
  REQUIRE(derp_key_parse_private(text, parsed.b) == DERP_OK);
  CHECK(derp_key_equal(parsed.b, server.b) == 1);
  CHECK(derp_key_equal(parsed.b, server_pub.b) == 0);

  CHECK(derp_key_parse_public("NODEKEY:07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c", parsed.b) ==
        DERP_ERR_KEY_PREFIX);
  CHECK(derp_key_parse_private(kServerPublicText, parsed.b) == DERP_ERR_KEY_PREFIX);
  CHECK(derp_key_parse_public("nodekey:07a3", parsed.b) == DERP_ERR_KEY_LENGTH);
  CHECK(derp_key_parse_hex("zz", parsed.b) == DERP_ERR_KEY_LENGTH);
  CHECK(derp_key_parse_public("nodekey:07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7x", parsed.b) ==
        DERP_ERR_KEY_HEX);
  CHECK(derp_key_equal(parsed.b, server.b) == 1);  // failed parses wrote nothing

  Key generated{};
  REQUIRE(derp_key_generate(generated.b) == DERP_OK);
  CHECK(derp_key_is_zero(generated.b) == 0);
  CHECK((generated.b[0] & 7) == 0);
  CHECK((generated.b[31] & 0xC0) == 0x40);
  const Key zero{};
  CHECK(derp_key_is_zero(zero.b) == 1);
  Key pub{};
  CHECK(derp_key_public_from_private(zero.b, pub.b) == DERP_ERR_INVALID_ARGUMENT);
  REQUIRE(derp_key_short(zero.b, short_text, sizeof short_text) == DERP_OK);
  CHECK(std::string(short_text).empty());
}

TEST_CASE("crypto: C API: key argument errors", "[crypto]") {
  const Key k = sequence_key(1);
  Key out{};
  char text[DERP_KEY_TEXT_LEN];
  CHECK(derp_key_generate(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_public_from_private(nullptr, out.b) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_public_from_private(k.b, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_equal(nullptr, k.b) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_is_zero(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_format_public(nullptr, text, sizeof text) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_format_public(k.b, nullptr, sizeof text) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_format_public(k.b, text, DERP_KEY_TEXT_LEN - 1) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(derp_key_format_private(k.b, text, DERP_KEY_TEXT_LEN - 1) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(derp_key_format_hex(k.b, text, DERP_KEY_HEX_LEN - 1) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(derp_key_format_hex(k.b, text, DERP_KEY_HEX_LEN) == DERP_OK);
  CHECK(derp_key_short(k.b, text, DERP_KEY_SHORT_LEN - 1) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(derp_key_parse_public(nullptr, out.b) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_parse_public(kServerPublicText, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_parse_private(nullptr, out.b) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_parse_hex(nullptr, out.b) == DERP_ERR_INVALID_ARGUMENT);
  char file[DERP_KEY_FILE_TEXT_LEN];
  CHECK(derp_key_file_encode(nullptr, file, sizeof file) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_file_encode(k.b, file, sizeof file - 1) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(derp_key_file_decode(nullptr, 3, out.b) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_file_decode("{}", 2, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_key_file_decode(nullptr, 0, out.b) == DERP_ERR_BAD_JSON);
}

TEST_CASE("crypto: C API: derper key file", "[crypto]") {
  const Key k = sequence_key(1);
  char file[DERP_KEY_FILE_TEXT_LEN];
  REQUIRE(derp_key_file_encode(k.b, file, sizeof file) == DERP_OK);
  CHECK(std::strlen(file) == DERP_KEY_FILE_TEXT_LEN - 1);
  CHECK(std::string(file).rfind("{\n\t\"PrivateKey\": \"privkey:0102", 0) == 0);
  Key back{};
  REQUIRE(derp_key_file_decode(file, std::strlen(file), back.b) == DERP_OK);
  CHECK(derp_key_equal(back.b, k.b) == 1);
  const char bad[] = "{\"PrivateKey\":\"nodekey:00\"}";
  CHECK(derp_key_file_decode(bad, sizeof bad - 1, back.b) == DERP_ERR_KEY_PREFIX);
}

TEST_CASE("crypto: C API: box seal and open", "[crypto]") {
  const Key alice = sequence_key(0x21);
  const Key bob = sequence_key(0x41);
  const Key alice_pub = public_of(alice);
  const Key bob_pub = public_of(bob);
  const uint8_t message[] = "hello over derp";
  const size_t message_len = sizeof message - 1;

  std::vector<uint8_t> sealed(message_len + DERP_BOX_SEALED_OVERHEAD);
  size_t sealed_len = 0;
  REQUIRE(derp_box_seal(alice.b, bob_pub.b, message, message_len, sealed.data(), sealed.size(), &sealed_len) ==
          DERP_OK);
  CHECK(sealed_len == message_len + 40);

  std::vector<uint8_t> opened(message_len);
  size_t opened_len = 0;
  REQUIRE(derp_box_open(bob.b, alice_pub.b, sealed.data(), sealed_len, opened.data(), opened.size(), &opened_len) ==
          DERP_OK);
  CHECK(opened_len == message_len);
  CHECK(std::memcmp(opened.data(), message, message_len) == 0);

  // A fixed nonce gives exactly the C++ layer's box.
  uint8_t nonce[DERP_NONCE_LEN];
  for (int i = 0; i < DERP_NONCE_LEN; ++i) nonce[i] = static_cast<uint8_t>(i);
  REQUIRE(derp_box_seal_with_nonce(alice.b, bob_pub.b, message, message_len, nonce, sealed.data(), sealed.size(),
                                   &sealed_len) == DERP_OK);
  derp::crypto::Nonce cpp_nonce;
  std::memcpy(cpp_nonce.data(), nonce, sizeof nonce);
  std::vector<uint8_t> cpp_sealed;
  REQUIRE(derp::crypto::seal(derp::crypto::NodePrivate::from_raw(alice.b),
                             derp::crypto::NodePublic::from_raw(bob_pub.b),
                             derp::Bytes(message, message_len), &cpp_sealed, &cpp_nonce) == DERP_OK);
  CHECK(cpp_sealed == sealed);

  // Sizes: a NULL buffer with capacity 0 asks for the size.
  size_t needed = 0;
  CHECK(derp_box_seal(alice.b, bob_pub.b, message, message_len, nullptr, 0, &needed) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(needed == message_len + 40);
  CHECK(derp_box_open(bob.b, alice_pub.b, sealed.data(), sealed_len, opened.data(), message_len - 1, &needed) ==
        DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(needed == message_len);

  // Failures.
  sealed[30] ^= 1;
  CHECK(derp_box_open(bob.b, alice_pub.b, sealed.data(), sealed_len, opened.data(), opened.size(), &opened_len) ==
        DERP_ERR_BOX_OPEN);
  CHECK(derp_box_open(bob.b, alice_pub.b, sealed.data(), 39, opened.data(), opened.size(), &opened_len) ==
        DERP_ERR_BOX_OPEN);
  CHECK(derp_box_seal(nullptr, bob_pub.b, message, message_len, sealed.data(), sealed.size(), &sealed_len) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_box_seal(alice.b, nullptr, message, message_len, sealed.data(), sealed.size(), &sealed_len) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_box_seal(alice.b, bob_pub.b, nullptr, 5, sealed.data(), sealed.size(), &sealed_len) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_box_seal(alice.b, bob_pub.b, message, message_len, sealed.data(), sealed.size(), nullptr) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_box_seal(alice.b, bob_pub.b, message, message_len, nullptr, 100, &sealed_len) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_box_seal_with_nonce(alice.b, bob_pub.b, message, message_len, nullptr, sealed.data(), sealed.size(),
                                 &sealed_len) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_box_open(nullptr, alice_pub.b, sealed.data(), sealed_len, opened.data(), opened.size(), &opened_len) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_box_open(bob.b, alice_pub.b, nullptr, 50, opened.data(), opened.size(), &opened_len) ==
        DERP_ERR_INVALID_ARGUMENT);
  const Key zero{};
  CHECK(derp_box_seal(zero.b, bob_pub.b, message, message_len, sealed.data(), sealed.size(), &sealed_len) ==
        DERP_ERR_INVALID_ARGUMENT);

  // The empty message: no plaintext pointer, no output buffer.
  REQUIRE(derp_box_seal(alice.b, bob_pub.b, nullptr, 0, sealed.data(), sealed.size(), &sealed_len) == DERP_OK);
  CHECK(sealed_len == 40);
  CHECK(derp_box_open(bob.b, alice_pub.b, sealed.data(), sealed_len, nullptr, 0, &opened_len) == DERP_OK);
  CHECK(opened_len == 0);
}

TEST_CASE("crypto: C API: info init fills the defaults", "[crypto]") {
  derp_client_info ci;
  std::memset(&ci, 0xAB, sizeof ci);
  REQUIRE(derp_client_info_init(&ci, sizeof ci) == DERP_OK);
  CHECK(ci.struct_size == sizeof ci);
  CHECK(ci.version == 2);
  CHECK(ci.can_ack_pings == 1);
  CHECK(ci.is_prober == 0);
  CHECK(ci.has_mesh_key == 0);
  CHECK(ci.mesh_key[0] == '\0');
  CHECK(ci.app_name[0] == '\0');
  CHECK(ci.app_name_truncated == 0);

  derp_server_info si;
  std::memset(&si, 0xAB, sizeof si);
  REQUIRE(derp_server_info_init(&si, sizeof si) == DERP_OK);
  CHECK(si.struct_size == sizeof si);
  CHECK(si.version == 2);
  CHECK(si.token_bucket_bytes_per_second == 0);
  CHECK(si.token_bucket_bytes_burst == 0);

  CHECK(derp_client_info_init(nullptr, sizeof ci) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_info_init(&ci, sizeof(size_t) - 1) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_info_init(&si, 0) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("crypto: C API: ClientInfo seal and open, §10 bytes included", "[crypto]") {
  // Reference §10: server priv 0002…60, client priv 4042…60, JSON {"version":2,"CanAckPings":true}, nonce 00..17.
  Key server = sequence_key(1);
  server.b[0] = 0x00;
  server.b[31] = 0x60;
  Key client = sequence_key(0x41);
  client.b[0] = 0x40;
  const Key server_pub = public_of(server);
  const Key client_pub = public_of(client);

  derp_client_info ci;
  REQUIRE(derp_client_info_init(&ci, sizeof ci) == DERP_OK);
  uint8_t nonce[DERP_NONCE_LEN];
  for (int i = 0; i < DERP_NONCE_LEN; ++i) nonce[i] = static_cast<uint8_t>(i);
  uint8_t payload[DERP_CLIENT_INFO_PAYLOAD_MAX];
  size_t payload_len = 0;
  REQUIRE(derp_client_info_seal(client.b, server_pub.b, &ci, nonce, payload, sizeof payload, &payload_len) ==
          DERP_OK);
  REQUIRE(payload_len == 104);
  CHECK(std::memcmp(payload, client_pub.b, 32) == 0);
  CHECK(std::memcmp(payload + 32, nonce, 24) == 0);
  const uint8_t expected_box_tail[] = {0xdd, 0x2e, 0x2a, 0x72, 0xbf};
  CHECK(std::memcmp(payload + payload_len - 5, expected_box_tail, 5) == 0);

  derp_client_info got;
  REQUIRE(derp_client_info_init(&got, sizeof got) == DERP_OK);
  got.version = 77;
  Key who{};
  REQUIRE(derp_client_info_open(server.b, payload, payload_len, who.b, &got) == DERP_OK);
  CHECK(derp_key_equal(who.b, client_pub.b) == 1);
  CHECK(got.version == 2);
  CHECK(got.can_ack_pings == 1);
  CHECK(got.is_prober == 0);
  CHECK(got.has_mesh_key == 0);

  // Every field, random nonce.
  std::strcpy(ci.mesh_key, "6d6573682d6b65792d666f722d746573742d766563746f72732d303132333435");
  std::strcpy(ci.app_name, "demo \xC3\xA9");
  ci.is_prober = 1;
  ci.can_ack_pings = 0;
  REQUIRE(derp_client_info_seal(client.b, server_pub.b, &ci, nullptr, payload, sizeof payload, &payload_len) ==
          DERP_OK);
  REQUIRE(derp_client_info_open(server.b, payload, payload_len, who.b, &got) == DERP_OK);
  CHECK(got.has_mesh_key == 1);
  CHECK(got.mesh_key_truncated == 0);
  CHECK(std::string(got.mesh_key) == ci.mesh_key);
  CHECK(std::string(got.app_name) == ci.app_name);
  CHECK(got.app_name_truncated == 0);
  CHECK(got.is_prober == 1);
  CHECK(got.can_ack_pings == 0);

  // Errors.
  size_t needed = 0;
  CHECK(derp_client_info_seal(client.b, server_pub.b, &ci, nullptr, nullptr, 0, &needed) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(needed == payload_len);
  CHECK(derp_client_info_seal(client.b, server_pub.b, &ci, nullptr, payload, 10, &needed) ==
        DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(derp_client_info_seal(nullptr, server_pub.b, &ci, nullptr, payload, sizeof payload, &needed) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_info_seal(client.b, server_pub.b, nullptr, nullptr, payload, sizeof payload, &needed) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_info_seal(client.b, server_pub.b, &ci, nullptr, payload, sizeof payload, nullptr) ==
        DERP_ERR_INVALID_ARGUMENT);
  derp_client_info unterminated = ci;
  std::memset(unterminated.app_name, 'a', sizeof unterminated.app_name);  // no NUL inside the array
  CHECK(derp_client_info_seal(client.b, server_pub.b, &unterminated, nullptr, payload, sizeof payload, &needed) ==
        DERP_ERR_INVALID_ARGUMENT);
  derp_client_info no_size = ci;
  no_size.struct_size = 0;
  CHECK(derp_client_info_seal(client.b, server_pub.b, &no_size, nullptr, payload, sizeof payload, &needed) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_info_open(server.b, payload, 71, who.b, &got) == DERP_ERR_MALFORMED);
  CHECK(derp_client_info_open(client.b, payload, payload_len, who.b, &got) == DERP_ERR_BOX_OPEN);
  CHECK(derp_client_info_open(server.b, nullptr, 80, who.b, &got) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_info_open(server.b, payload, payload_len, nullptr, &got) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_info_open(server.b, payload, payload_len, who.b, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  got.struct_size = 3;
  CHECK(derp_client_info_open(server.b, payload, payload_len, who.b, &got) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("crypto: C API: decoded strings that do not fit are flagged, never lost silently", "[crypto]") {
  const derp::crypto::NodePrivate server(derp::crypto::KeyBytes{1, 2, 3});
  const derp::crypto::NodePrivate client(derp::crypto::KeyBytes{4, 5, 6});
  derp::crypto::NodePublic server_pub;
  REQUIRE(derp::crypto::public_of(server, &server_pub) == DERP_OK);

  derp::crypto::ClientInfo info;
  info.mesh_key = std::string(70, 'f');
  // 254 ASCII bytes then "é" (2 bytes): 256 bytes do not fit in 255, and the cut must not split the é.
  info.app_name = std::string(254, 'n') + "\xC3\xA9";
  std::vector<uint8_t> payload;
  REQUIRE(derp::crypto::seal_client_info(client, server_pub, info, &payload) == DERP_OK);

  derp_client_info got;
  REQUIRE(derp_client_info_init(&got, sizeof got) == DERP_OK);
  uint8_t who[32];
  REQUIRE(derp_client_info_open(server.data(), payload.data(), payload.size(), who, &got) == DERP_OK);
  CHECK(got.has_mesh_key == 1);
  CHECK(got.mesh_key_truncated == 1);
  CHECK(std::string(got.mesh_key) == std::string(64, 'f'));
  CHECK(got.app_name_truncated == 1);
  CHECK(std::string(got.app_name) == std::string(254, 'n'));

  info.mesh_key = "";  // present but empty: we never send it, so build the JSON box by hand
  const std::string json = R"({"meshKey":"","AppName":"a\u0000b"})";
  std::vector<uint8_t> box;
  REQUIRE(derp::crypto::seal(client, server_pub,
                             derp::Bytes(reinterpret_cast<const uint8_t*>(json.data()), json.size()), &box) == DERP_OK);
  derp::crypto::NodePublic client_pub;
  REQUIRE(derp::crypto::public_of(client, &client_pub) == DERP_OK);
  payload.assign(client_pub.data(), client_pub.data() + 32);
  payload.insert(payload.end(), box.begin(), box.end());
  REQUIRE(derp_client_info_open(server.data(), payload.data(), payload.size(), who, &got) == DERP_OK);
  CHECK(got.has_mesh_key == 1);
  CHECK(got.mesh_key[0] == '\0');
  CHECK(got.mesh_key_truncated == 0);
  CHECK(std::string(got.app_name) == "a");
  CHECK(got.app_name_truncated == 1);  // a NUL inside: a C reader would see only "a"
}

TEST_CASE("crypto: C API: struct_size shim — an older, smaller struct keeps working", "[crypto]") {
  const Key server = sequence_key(1);
  const Key client = sequence_key(0x41);
  const Key server_pub = public_of(server);

  derp_client_info full;
  REQUIRE(derp_client_info_init(&full, sizeof full) == DERP_OK);
  std::strcpy(full.mesh_key, "secret");
  std::strcpy(full.app_name, "app");
  full.is_prober = 1;
  uint8_t payload[DERP_CLIENT_INFO_PAYLOAD_MAX];
  size_t payload_len = 0;
  REQUIRE(derp_client_info_seal(client.b, server_pub.b, &full, nullptr, payload, sizeof payload, &payload_len) ==
          DERP_OK);

  // Open into a caller that only knows the members up to has_mesh_key: nothing past them may be touched.
  const size_t old_size = offsetof(derp_client_info, mesh_key_truncated);
  derp_client_info old;
  std::memset(&old, 0xAB, sizeof old);
  REQUIRE(derp_client_info_init(&old, old_size) == DERP_OK);
  const auto* bytes = reinterpret_cast<const unsigned char*>(&old);
  for (size_t i = old_size; i < sizeof old; ++i) REQUIRE(bytes[i] == 0xAB);  // init wrote only the prefix
  uint8_t who[32];
  REQUIRE(derp_client_info_open(server.b, payload, payload_len, who, &old) == DERP_OK);
  CHECK(old.struct_size == old_size);
  CHECK(old.version == 2);
  CHECK(old.is_prober == 1);
  CHECK(old.has_mesh_key == 1);
  for (size_t i = old_size; i < sizeof old; ++i) {
    INFO("byte " << i);
    REQUIRE(bytes[i] == 0xAB);
  }

  // Seal from a caller that only has struct_size and version: the rest takes the defaults (CanAckPings true).
  derp_client_info tiny;
  std::memset(&tiny, 0xCD, sizeof tiny);  // garbage past the declared size must not be read
  const size_t tiny_size = offsetof(derp_client_info, version) + sizeof(int);
  REQUIRE(derp_client_info_init(&tiny, tiny_size) == DERP_OK);
  tiny.version = 5;
  REQUIRE(derp_client_info_seal(client.b, server_pub.b, &tiny, nullptr, payload, sizeof payload, &payload_len) ==
          DERP_OK);
  derp::crypto::NodePublic client_key;
  derp::crypto::ClientInfo decoded;
  REQUIRE(derp::crypto::open_client_info(derp::crypto::NodePrivate::from_raw(server.b),
                                         derp::Bytes(payload, payload_len), &client_key, &decoded) == DERP_OK);
  CHECK(derp::crypto::encode_client_info(decoded) == R"({"version":5,"CanAckPings":true})");

  // ServerInfo: a caller without the burst member.
  derp_server_info si_full;
  REQUIRE(derp_server_info_init(&si_full, sizeof si_full) == DERP_OK);
  si_full.token_bucket_bytes_per_second = 1000;
  si_full.token_bucket_bytes_burst = 2000;
  uint8_t si_payload[DERP_SERVER_INFO_PAYLOAD_MAX];
  size_t si_len = 0;
  const Key client_pub = public_of(client);
  REQUIRE(derp_server_info_seal(server.b, client_pub.b, &si_full, nullptr, si_payload, sizeof si_payload, &si_len) ==
          DERP_OK);
  derp_server_info si_old;
  std::memset(&si_old, 0xAB, sizeof si_old);
  const size_t si_old_size = offsetof(derp_server_info, token_bucket_bytes_burst);
  REQUIRE(derp_server_info_init(&si_old, si_old_size) == DERP_OK);
  REQUIRE(derp_server_info_open(client.b, server_pub.b, si_payload, si_len, &si_old) == DERP_OK);
  CHECK(si_old.version == 2);
  CHECK(si_old.token_bucket_bytes_per_second == 1000);
  const auto* si_bytes = reinterpret_cast<const unsigned char*>(&si_old);
  for (size_t i = si_old_size; i < sizeof si_old; ++i) REQUIRE(si_bytes[i] == 0xAB);

  derp_server_info si_new;
  REQUIRE(derp_server_info_init(&si_new, sizeof si_new) == DERP_OK);
  REQUIRE(derp_server_info_open(client.b, server_pub.b, si_payload, si_len, &si_new) == DERP_OK);
  CHECK(si_new.token_bucket_bytes_burst == 2000);
}

TEST_CASE("crypto: C API: ServerInfo seal and open, §10 bytes included", "[crypto]") {
  Key server = sequence_key(1);
  server.b[0] = 0x00;
  server.b[31] = 0x60;
  Key client = sequence_key(0x41);
  client.b[0] = 0x40;
  const Key server_pub = public_of(server);
  const Key client_pub = public_of(client);

  derp_server_info si;
  REQUIRE(derp_server_info_init(&si, sizeof si) == DERP_OK);
  uint8_t nonce[DERP_NONCE_LEN];
  for (int i = 0; i < DERP_NONCE_LEN; ++i) nonce[i] = static_cast<uint8_t>(0xff - i);
  uint8_t payload[DERP_SERVER_INFO_PAYLOAD_MAX];
  size_t len = 0;
  REQUIRE(derp_server_info_seal(server.b, client_pub.b, &si, nonce, payload, sizeof payload, &len) == DERP_OK);
  REQUIRE(len == 53);
  const uint8_t expected_tail[] = {0xb5, 0xc1, 0xa3, 0x82, 0xa7, 0xc9};
  CHECK(std::memcmp(payload + len - 6, expected_tail, 6) == 0);

  derp_server_info got;
  REQUIRE(derp_server_info_init(&got, sizeof got) == DERP_OK);
  got.version = 0;
  REQUIRE(derp_server_info_open(client.b, server_pub.b, payload, len, &got) == DERP_OK);
  CHECK(got.version == 2);

  size_t needed = 0;
  CHECK(derp_server_info_seal(server.b, client_pub.b, &si, nullptr, nullptr, 0, &needed) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(needed == 53);
  CHECK(derp_server_info_seal(server.b, nullptr, &si, nullptr, payload, sizeof payload, &needed) ==
        DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_info_open(client.b, server_pub.b, payload, 39, &got) == DERP_ERR_MALFORMED);
  CHECK(derp_server_info_open(client.b, client_pub.b, payload, len, &got) == DERP_ERR_BOX_OPEN);
  CHECK(derp_server_info_open(client.b, server_pub.b, payload, len, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_info_open(nullptr, server_pub.b, payload, len, &got) == DERP_ERR_INVALID_ARGUMENT);
}
