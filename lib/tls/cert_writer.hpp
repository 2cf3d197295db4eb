// Writes X.509 v3 certificates with fresh ECDSA P-256 keys: derper's self-signed IP certificate, and test CAs
// and leaves. mbedTLS 2.28 has no subjectAltName writer, so the SAN extension is DER-encoded here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tls/drbg.hpp"
#include "common/ip_literal.hpp"

namespace derp::tls {

struct CertificateSpec {
  std::string common_name;              // subject CN
  std::vector<std::string> dns_names;   // dNSName SANs
  std::vector<IpLiteral> ip_addresses;  // iPAddress SANs
  bool is_ca = false;                   // basicConstraints cA, keyCertSign; otherwise a TLS server leaf
  std::int64_t not_before_unix = 0;     // validity, seconds since 1970 (UTC)
  std::int64_t not_after_unix = 0;
};

// A certificate and its private key, in the forms TLS configs load and files store.
struct CertificateAndKey {
  std::vector<std::uint8_t> cert_der;
  std::string cert_pem;  // "-----BEGIN CERTIFICATE-----" ...
  std::string key_pem;   // "-----BEGIN EC PRIVATE KEY-----" (SEC 1), which Go's tls.LoadX509KeyPair reads too
};

// Generates a P-256 key and a certificate for it, signed with ECDSA-SHA256 by `issuer` (its certificate and
// key), or self-signed when issuer is null. DERP_OK, or DERP_ERR_TLS_CONFIG with *detail saying why.
int write_certificate(const CertificateSpec& spec, const CertificateAndKey* issuer, Drbg& drbg,
                      CertificateAndKey* out, std::string* detail);

}  // namespace derp::tls
