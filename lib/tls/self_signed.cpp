#include "tls/self_signed.hpp"

#include "derp/common.h"
#include "common/ip_literal.hpp"

namespace derp::tls {

int generate_self_signed_ip_cert(std::string_view ip, std::int64_t now_unix, Drbg& drbg, CertificateAndKey* out,
                                 std::string* detail) {
  const std::optional<IpLiteral> address = parse_ip_literal(ip);
  if (!address) {
    if (detail) *detail = "\"" + std::string(ip) + "\" is not an IP address; self-signed certificates are for IPs";
    return DERP_ERR_TLS_CONFIG;
  }
  CertificateSpec spec;
  spec.common_name = std::string(ip);
  spec.ip_addresses.push_back(*address);
  spec.not_before_unix = now_unix - kSelfSignedBackdateSeconds;
  spec.not_after_unix = now_unix + kSelfSignedLifetimeSeconds;
  return write_certificate(spec, /*issuer=*/nullptr, drbg, out, detail);
}

}  // namespace derp::tls
