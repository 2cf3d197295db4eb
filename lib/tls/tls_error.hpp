// mbedTLS error codes as text for logs. The DERP_ERR_TLS_* code says what kind of failure it was; this says
// exactly what mbedTLS saw.
#pragma once

#include <cstdint>
#include <string>

namespace derp::tls {

// "SSL - The peer notified us that the connection is going to be closed (-0x7880)": mbedtls_strerror plus the
// code in the hex form mbedTLS documents.
std::string mbedtls_error_text(int mbedtls_code);

// The X.509 verification flags (MBEDTLS_X509_BADCERT_*) as one line, e.g. "the certificate is not correctly
// signed by the trusted CA; the certificate validity has expired".
std::string verify_flags_text(std::uint32_t flags);

}  // namespace derp::tls
