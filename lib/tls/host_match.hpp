// Does a certificate cover a host name? Our own check, because mbedTLS 2.28's verifier matches only dNSName
// subjectAltNames (never iPAddress), and DERP nodes are often dialled by IP (reference §1.5, §7).
#pragma once

#include <string_view>

#include <mbedtls/x509_crt.h>

namespace derp::tls {

// An IP literal matches an iPAddress SAN with the same address (IPv4-mapped IPv6 equals its IPv4 form). A DNS
// name matches a dNSName SAN case-insensitively, where "*.example.com" covers exactly one leftmost label
// (RFC 6125 §6.4.3). The subject CN is not consulted, as Go (and so Tailscale's clients) no longer does.
// A trailing dot on `host` is ignored.
bool certificate_matches_host(const mbedtls_x509_crt& crt, std::string_view host);

// ASCII case-insensitive equality, the comparison DNS names get (RFC 4343).
bool equal_ignoring_case(std::string_view a, std::string_view b);

}  // namespace derp::tls
