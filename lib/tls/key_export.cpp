#include "tls/key_export.hpp"

#include <cstring>

#include <mbedtls/platform_util.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <sodium.h>

#include "crypto/sodium_init.hpp"
#include "derp/common.h"

namespace derp::tls {

namespace {

thread_local KeyBlock* t_sink = nullptr;

int on_export_keys(void* /*config*/, const unsigned char* /*master*/, const unsigned char* key_block,
                   std::size_t mac_len, std::size_t key_len, std::size_t iv_len,
                   const unsigned char /*client_random*/[32], const unsigned char /*server_random*/[32],
                   mbedtls_tls_prf_types /*prf*/) {
  KeyBlock* sink = t_sink;
  if (sink == nullptr) return 0;  // a handshake outside a scope (none in libderp): it keeps mbedTLS' records
  const std::size_t total = 2 * (mac_len + key_len + iv_len);
  if (total > sizeof sink->bytes) return 0;  // not one of our suites; nothing to take
  std::memcpy(sink->bytes, key_block, total);
  sink->mac_len = mac_len;
  sink->key_len = key_len;
  sink->iv_len = iv_len;
  sink->valid = true;
  return 0;
}

}  // namespace

KeyBlock::~KeyBlock() { mbedtls_platform_zeroize(bytes, sizeof bytes); }

void install_key_export(mbedtls_ssl_config* conf) { mbedtls_ssl_conf_export_keys_ext_cb(conf, &on_export_keys, conf); }

KeyExportScope::KeyExportScope(KeyBlock* sink) : previous_(t_sink) { t_sink = sink; }
KeyExportScope::~KeyExportScope() { t_sink = previous_; }

std::optional<Aead> record_layer_aead(int ciphersuite) {
  switch (ciphersuite) {
    case MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
    case MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
      if (crypto::ensure_sodium() != DERP_OK || crypto_aead_aes256gcm_is_available() == 0) return std::nullopt;
      return Aead::kAes256Gcm;
    case MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:
    case MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
      return Aead::kChaCha20Poly1305;
    default:
      return std::nullopt;
  }
}

bool traffic_keys_from(const KeyBlock& block, Aead aead, bool is_server, std::uint64_t write_seq,
                       std::uint64_t read_seq, TrafficKeys* out) {
  const std::size_t want_iv = aead == Aead::kAes256Gcm ? 4 : 12;
  if (!block.valid || block.mac_len != 0 || block.key_len != 32 || block.iv_len != want_iv) return false;
  const std::uint8_t* client_key = block.bytes;
  const std::uint8_t* server_key = client_key + 32;
  const std::uint8_t* client_iv = server_key + 32;
  const std::uint8_t* server_iv = client_iv + want_iv;
  *out = TrafficKeys{};
  out->aead = aead;
  std::memcpy(out->write.key, is_server ? server_key : client_key, 32);
  std::memcpy(out->read.key, is_server ? client_key : server_key, 32);
  std::memcpy(out->write.iv, is_server ? server_iv : client_iv, want_iv);
  std::memcpy(out->read.iv, is_server ? client_iv : server_iv, want_iv);
  out->write.seq = write_seq;
  out->read.seq = read_seq;
  return true;
}

}  // namespace derp::tls
