// derper's certificate for an IP-address -hostname in manual cert mode (reference §1.5, §7): self-signed, so
// clients trust it through a DERPNode CertName "sha256-raw:<hex>" pin rather than a CA.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tls/cert_writer.hpp"
#include "tls/drbg.hpp"

namespace derp::tls {

// How long a generated certificate is valid: from a day before `now` (tolerates clocks a little behind ours)
// to a year after. A restart that reloads the saved files keeps the same certificate, hence the same pin.
inline constexpr std::int64_t kSelfSignedBackdateSeconds = 24 * 60 * 60;
inline constexpr std::int64_t kSelfSignedLifetimeSeconds = 365 * 24 * 60 * 60;

// ECDSA P-256, CN = the IP text, subjectAltName iPAddress = the IP. DERP_OK, or DERP_ERR_TLS_CONFIG when `ip`
// is not an IP literal or mbedTLS fails (*detail says which).
int generate_self_signed_ip_cert(std::string_view ip, std::int64_t now_unix, Drbg& drbg, CertificateAndKey* out,
                                 std::string* detail);

}  // namespace derp::tls
