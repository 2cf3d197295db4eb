// Taking the record keys out of mbedTLS 2.28 at the end of a TLS 1.2 handshake, so our record layer
// (record_layer.hpp) can carry the application data instead of mbedTLS.
//
// mbedTLS hands the key block to the config's export-keys callback (mbedtls_ssl_conf_export_keys_ext_cb) while it
// derives the keys, inside mbedtls_ssl_handshake. 2.28's callback gets no session pointer, only the config's, and
// one config serves many sessions (on several threads); so the session that is handshaking names itself in a
// thread-local slot for the length of its mbedtls_ssl_handshake call (KeyExportScope), and the callback writes
// there. The key block is already the PRF output of RFC 5246 §6.3:
//   client_write_MAC_key | server_write_MAC_key | client_write_key | server_write_key | client_write_IV |
//   server_write_IV
// with no MAC keys for AEAD suites and 4-byte (AES-GCM salt) or 12-byte (ChaCha20-Poly1305) IVs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include <mbedtls/ssl.h>

#include "tls/record_layer.hpp"

namespace derp::tls {

struct KeyBlock {
  bool valid = false;
  std::size_t mac_len = 0;
  std::size_t key_len = 0;
  std::size_t iv_len = 0;
  std::uint8_t bytes[2 * (48 + 32 + 16)] = {};  // room for the largest block mbedTLS exports for our suites
  ~KeyBlock();
};

// Registers the callback on a config (both roles). Safe for configs whose sessions never switch.
void install_key_export(mbedtls_ssl_config* conf);

// While alive, key blocks exported on this thread go to *sink.
class KeyExportScope {
 public:
  explicit KeyExportScope(KeyBlock* sink);
  ~KeyExportScope();
  KeyExportScope(const KeyExportScope&) = delete;
  KeyExportScope& operator=(const KeyExportScope&) = delete;

 private:
  KeyBlock* previous_;
};

// The AEAD our record layer runs for an mbedTLS ciphersuite id: ECDHE-ECDSA/ECDHE-RSA with AES-256-GCM-SHA384
// (when libsodium offers AES-256-GCM on this CPU) or CHACHA20-POLY1305-SHA256; nullopt for any other suite,
// which stays on mbedTLS' record path.
std::optional<Aead> record_layer_aead(int ciphersuite);

// Splits a key block into our write/read keys for `is_server`, with the sequence numbers of the next record each
// way. False when the block does not have the layout `aead` needs.
bool traffic_keys_from(const KeyBlock& block, Aead aead, bool is_server, std::uint64_t write_seq,
                       std::uint64_t read_seq, TrafficKeys* out);

}  // namespace derp::tls
