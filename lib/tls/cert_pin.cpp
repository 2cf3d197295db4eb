#include "tls/cert_pin.hpp"

#include <mbedtls/sha256.h>

#include "common/hex.hpp"
#include "derp/common.h"

namespace derp::tls {

bool is_cert_pin(std::string_view cert_name) { return cert_name.starts_with(kCertPinPrefix); }

int parse_cert_pin(std::string_view text, Sha256Digest* out) {
  if (!is_cert_pin(text)) return DERP_ERR_TLS_CONFIG;
  const std::string_view hex = text.substr(kCertPinPrefix.size());
  if (hex.size() != 2 * out->size()) return DERP_ERR_TLS_CONFIG;
  Sha256Digest digest{};
  if (!read_hex(hex, digest.data(), digest.size())) return DERP_ERR_TLS_CONFIG;
  *out = digest;
  return DERP_OK;
}

std::string format_cert_pin(const Sha256Digest& digest) {
  std::string text(kCertPinPrefix);
  const std::size_t prefix = text.size();
  text.resize(prefix + 2 * digest.size());
  write_hex(digest.data(), digest.size(), text.data() + prefix);
  return text;
}

Sha256Digest sha256_of(Bytes data) {
  Sha256Digest digest{};
  // mbedtls_sha256_ret only fails for hardware back-ends; the software one Debian ships cannot.
  mbedtls_sha256_ret(data.data(), data.size(), digest.data(), /*is224=*/0);
  return digest;
}

}  // namespace derp::tls
