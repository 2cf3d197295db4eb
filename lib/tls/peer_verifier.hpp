// The client's verdict on the server certificate for one connection (reference §1.5):
//   - chain mode: the chain must lead to a trusted CA, every certificate be within its dates, and the leaf
//     cover the expected name (CertName if set, else the host dialled);
//   - pin mode (CertName "sha256-raw:<hex>"): the leaf DER's SHA-256 must equal the pin, which replaces the CA
//     chain; the leaf's dates are still checked, and its name only when a host was dialled.
// mbedTLS builds the chain and date flags; this class turns them into the decision.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <mbedtls/x509_crt.h>

#include "tls/cert_pin.hpp"

namespace derp::tls {

class PeerVerifier {
 public:
  // host: the DERPNode HostName dialled (DNS name, IP literal, or "" for no name check). cert_name: the
  // DERPNode CertName ("" = verify host, "sha256-raw:<hex>" = pin, anything else = the name to verify instead
  // of host). DERP_OK, or DERP_ERR_TLS_CONFIG for a malformed pin.
  int configure(std::string_view host, std::string_view cert_name, std::string* detail);

  // The mbedtls_ssl_set_verify callback (self = this). mbedTLS calls it once per certificate of the chain it
  // built, the root first and the leaf (depth 0) last; at the leaf it decides. A rejection returns
  // MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED, which aborts the handshake even under VERIFY_OPTIONAL.
  static int on_certificate(void* self, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags);

  // After a completed handshake: mbedTLS adds key-usage and curve checks after the callback; in chain mode those
  // must be clean too. Pass mbedtls_ssl_get_verify_result(). Returns the final verdict.
  int check_handshake_result(std::uint32_t verify_result);

  bool pinned() const { return pin_.has_value(); }
  // Chain mode needs a name to check; without one any certificate a trusted CA ever signed would pass.
  bool has_expected_name() const { return !expected_name_.empty(); }
  // DERP_OK, DERP_ERR_TLS_CERTIFICATE or DERP_ERR_TLS_PIN_MISMATCH; detail_ explains a rejection.
  int verdict() const { return verdict_; }
  const std::string& detail() const { return detail_; }

 private:
  int decide_leaf(const mbedtls_x509_crt& leaf, std::uint32_t* flags);
  int reject(int verdict, std::string detail);

  std::string expected_name_;
  std::optional<Sha256Digest> pin_;
  std::uint32_t chain_flags_ = 0;  // flags of the certificates above the leaf
  int verdict_ = 0;
  std::string detail_;
};

}  // namespace derp::tls
