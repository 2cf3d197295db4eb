#include "tls/cert_pin.hpp"

#include <mbedtls/sha256.h>

#include "derp/common.h"

namespace derp::tls {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool is_cert_pin(std::string_view cert_name) { return cert_name.starts_with(kCertPinPrefix); }

int parse_cert_pin(std::string_view text, Sha256Digest* out) {
  if (!is_cert_pin(text)) return DERP_ERR_TLS_CONFIG;
  const std::string_view hex = text.substr(kCertPinPrefix.size());
  if (hex.size() != 2 * out->size()) return DERP_ERR_TLS_CONFIG;
  Sha256Digest digest{};
  for (std::size_t i = 0; i < digest.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return DERP_ERR_TLS_CONFIG;
    digest[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  *out = digest;
  return DERP_OK;
}

std::string format_cert_pin(const Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(kCertPinPrefix);
  for (const std::uint8_t b : digest) {
    text += kHex[b >> 4];
    text += kHex[b & 0x0f];
  }
  return text;
}

Sha256Digest sha256_of(Bytes data) {
  Sha256Digest digest{};
  // mbedtls_sha256_ret only fails for hardware back-ends; the software one Debian ships cannot.
  mbedtls_sha256_ret(data.data(), data.size(), digest.data(), /*is224=*/0);
  return digest;
}

}  // namespace derp::tls
