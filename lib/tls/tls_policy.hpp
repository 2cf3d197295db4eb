// The protocol choices every libderp TLS config shares (reference §1.5): TLS 1.2 only, ECDHE with AEAD
// ciphers only, ALPN "http/1.1" and never "h2", no renegotiation, no session tickets.
#pragma once

#include <mbedtls/ssl.h>

#include "tls/drbg.hpp"

namespace derp::tls {

// The one ALPN protocol we ever offer or select. "h2" is never listed: the DERP upgrade cannot happen over
// HTTP/2 (derper answers 500, reference §1.2 and §9 item 12).
inline constexpr const char* kAlpnHttp11 = "http/1.1";

// Loads the defaults for `endpoint` (MBEDTLS_SSL_IS_SERVER or _CLIENT) and applies the shared policy, with the
// config's own DRBG as its randomness. Returns an mbedTLS code (0 on success).
int apply_tls_policy(mbedtls_ssl_config* conf, int endpoint, Drbg* drbg);

// Offer (client) or accept (server) ALPN "http/1.1". Returns an mbedTLS code.
int enable_alpn_http11(mbedtls_ssl_config* conf);

}  // namespace derp::tls
