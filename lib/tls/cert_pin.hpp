// DERPNode.CertName pins: "sha256-raw:<64 hex>" is the SHA-256 of the server's leaf certificate DER
// (reference §1.5 and §7; derper logs this string for its self-signed IP certificate).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.hpp"

namespace derp::tls {

using Sha256Digest = std::array<std::uint8_t, 32>;

inline constexpr std::string_view kCertPinPrefix = "sha256-raw:";

// CertName values that start with "sha256-raw:" are pins; anything else is a name to verify against.
bool is_cert_pin(std::string_view cert_name);

// "sha256-raw:" followed by exactly 64 hex digits (either case) into *out. DERP_OK or DERP_ERR_TLS_CONFIG.
int parse_cert_pin(std::string_view text, Sha256Digest* out);

// "sha256-raw:" + 64 lowercase hex digits, the form derper prints.
std::string format_cert_pin(const Sha256Digest& digest);

Sha256Digest sha256_of(Bytes data);

// The pin for a certificate: format_cert_pin(sha256_of(der)).
inline std::string cert_pin_of(Bytes certificate_der) { return format_cert_pin(sha256_of(certificate_der)); }

}  // namespace derp::tls
