#include "tls/tls_policy.hpp"

#include <mbedtls/ecp.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <sodium.h>

#include "crypto/sodium_init.hpp"
#include "derp/common.h"
#include "tls/key_export.hpp"

namespace derp::tls {

namespace {

// Forward-secret key exchange with AEAD record protection only, as Go's crypto/tls (derper, tailscaled) offers
// for TLS 1.2. ECDSA suites serve P-256 certificates (ours); RSA suites serve RSA ones (many CAs).
// The order is a preference (an mbedTLS server picks by its own list, not the client's): first the two suites
// whose records our own record layer carries after the handshake (key_export.hpp, libsodium's AEAD, several
// times mbedTLS' speed) — AES-256-GCM first where libsodium has it on this CPU (AES-NI), ChaCha20-Poly1305 first
// where it has not — and AES-128-GCM last, kept for peers that offer nothing else; it stays on mbedTLS' records.
const int kCipherSuitesAesFirst[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    0,
};
const int kCipherSuitesChaChaFirst[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    0,
};

// A server (ours: mbedTLS picks by its own list) takes AES-256-GCM where libsodium has it. A client always offers
// ChaCha20-Poly1305 first, for Go's server: Go ignores the client's order except for one question, whether the
// client's first AEAD suite is AES-GCM (crypto/tls aesgcmPreferred); if it is, Go picks AES-128-GCM first, which
// our record layer cannot carry (libsodium has no AES-128-GCM), and if it is not, Go picks ChaCha20-Poly1305
// first. So against Tailscale's derper our client lands on ChaCha20-Poly1305 on our record layer instead of
// AES-128-GCM on mbedTLS' (libsodium's ChaCha20-Poly1305 seals and opens 1280-byte records at ~700 MB/s here,
// mbedTLS' AES-GCM at ~200 MB/s: docs/benchmarks.md). AES-128-GCM stays offered, last, for servers that have
// nothing else.
const int* cipher_suites(int endpoint) {
  if (endpoint == MBEDTLS_SSL_IS_CLIENT) return kCipherSuitesChaChaFirst;
  const bool aes = crypto::ensure_sodium() == DERP_OK && crypto_aead_aes256gcm_is_available() != 0;
  return aes ? kCipherSuitesAesFirst : kCipherSuitesChaChaFirst;
}

// Key exchange groups, the ones Go offers. mbedTLS also checks an ECDSA certificate's curve against this list,
// so P-521 stays to accept such certificates.
const mbedtls_ecp_group_id kCurves[] = {
    MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_SECP521R1,
    MBEDTLS_ECP_DP_NONE,
};

// mbedtls_ssl_conf_alpn_protocols keeps the pointer, so the list lives for the program.
const char* kAlpnList[] = {kAlpnHttp11, nullptr};

}  // namespace

int apply_tls_policy(mbedtls_ssl_config* conf, int endpoint, Drbg* drbg) {
  const int rc = mbedtls_ssl_config_defaults(conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (rc != 0) return rc;
  mbedtls_ssl_conf_rng(conf, &Drbg::generate, drbg);
  // derper requires TLS >= 1.2, and 1.2 is the newest mbedTLS 2.28 offers (its 1.3 is an experimental
  // prototype), so both ends are pinned to 1.2. Without 1.3 there is no DERP fast start (reference §1.3).
  mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(conf, cipher_suites(endpoint));
  install_key_export(conf);
  mbedtls_ssl_conf_curves(conf, kCurves);
  // A DERP connection is one long-lived TLS session: no renegotiation (a DoS lever), no resumption.
  mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
  mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
  return 0;
}

int enable_alpn_http11(mbedtls_ssl_config* conf) { return mbedtls_ssl_conf_alpn_protocols(conf, kAlpnList); }

}  // namespace derp::tls
