#include "tls/peer_verifier.hpp"

#include <mbedtls/ssl.h>

#include "derp/common.h"
#include "tls/host_match.hpp"
#include "tls/tls_error.hpp"

namespace derp::tls {

namespace {
// Dates are all a pin keeps of mbedTLS' own verdict (reference §1.5: "validity dates checked").
constexpr std::uint32_t kDateFlags = MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE;
}  // namespace

int PeerVerifier::configure(std::string_view host, std::string_view cert_name, std::string* detail) {
  if (host.ends_with('.')) host.remove_suffix(1);
  expected_name_ = std::string(host);
  if (is_cert_pin(cert_name)) {
    Sha256Digest digest{};
    if (parse_cert_pin(cert_name, &digest) != DERP_OK) {
      if (detail) *detail = "CertName \"" + std::string(cert_name) + "\" is not sha256-raw: followed by 64 hex digits";
      return DERP_ERR_TLS_CONFIG;
    }
    pin_ = digest;
  } else if (!cert_name.empty()) {
    expected_name_ = std::string(cert_name);
  }
  return DERP_OK;
}

int PeerVerifier::on_certificate(void* self, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
  auto* verifier = static_cast<PeerVerifier*>(self);
  if (depth > 0) {
    // A pin replaces the chain, so whatever the intermediates and root say no longer matters.
    if (verifier->pinned()) {
      *flags = 0;
    } else {
      verifier->chain_flags_ |= *flags;
    }
    return 0;
  }
  return verifier->decide_leaf(*crt, flags);
}

int PeerVerifier::decide_leaf(const mbedtls_x509_crt& leaf, std::uint32_t* flags) {
  // mbedTLS matched the SNI name against dNSName only; the name check is redone here for every form.
  std::uint32_t leaf_flags = *flags & ~static_cast<std::uint32_t>(MBEDTLS_X509_BADCERT_CN_MISMATCH);
  if (pinned()) {
    const Sha256Digest actual = sha256_of(Bytes(leaf.raw.p, leaf.raw.len));
    if (actual != *pin_) {
      *flags = MBEDTLS_X509_BADCERT_NOT_TRUSTED;
      return reject(DERP_ERR_TLS_PIN_MISMATCH, "server certificate is " + format_cert_pin(actual) +
                                                   ", expected " + format_cert_pin(*pin_));
    }
    leaf_flags &= kDateFlags;
  }
  if (!expected_name_.empty() && !certificate_matches_host(leaf, expected_name_)) {
    leaf_flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  }
  *flags = leaf_flags;
  const std::uint32_t all_flags = leaf_flags | (pinned() ? 0 : chain_flags_);
  if (all_flags != 0) {
    std::string why = verify_flags_text(all_flags);
    if (all_flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) why += " (expected name \"" + expected_name_ + "\")";
    return reject(DERP_ERR_TLS_CERTIFICATE, "server certificate rejected: " + why);
  }
  return 0;
}

int PeerVerifier::check_handshake_result(std::uint32_t verify_result) {
  if (verdict_ == DERP_OK && !pinned() && verify_result != 0) {
    reject(DERP_ERR_TLS_CERTIFICATE, "server certificate rejected: " + verify_flags_text(verify_result));
  }
  return verdict_;
}

int PeerVerifier::reject(int verdict, std::string detail) {
  verdict_ = verdict;
  detail_ = std::move(detail);
  return MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED;
}

}  // namespace derp::tls
