#include "tls/host_match.hpp"

#include <algorithm>
#include <cstring>

#include <mbedtls/asn1.h>
#include <mbedtls/x509.h>

#include "common/ip_literal.hpp"

namespace derp::tls {

namespace {

// GeneralName tags as they appear in the parsed subject_alt_names list: context-specific, primitive.
constexpr unsigned char kSanDnsTag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME;
constexpr unsigned char kSanIpTag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS;

std::string_view as_text(const mbedtls_x509_buf& buf) {
  return std::string_view(reinterpret_cast<const char*>(buf.p), buf.len);
}

bool dns_name_matches(std::string_view pattern, std::string_view host) {
  if (pattern.empty() || host.empty()) return false;
  if (equal_ignoring_case(pattern, host)) return true;
  // "*.example.com": the wildcard stands for one whole non-empty label, never a partial one.
  if (!pattern.starts_with("*.")) return false;
  const std::size_t dot = host.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  return equal_ignoring_case(pattern.substr(1), host.substr(dot));
}

// The 4-byte form of an IPv4(-mapped) address, else the bytes unchanged.
std::string_view canonical_ip(const unsigned char* p, std::size_t len) {
  static constexpr unsigned char kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (len == 16 && std::memcmp(p, kV4MappedPrefix, sizeof kV4MappedPrefix) == 0) {
    p += sizeof kV4MappedPrefix;
    len = 4;
  }
  return std::string_view(reinterpret_cast<const char*>(p), len);
}

}  // namespace

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

bool certificate_matches_host(const mbedtls_x509_crt& crt, std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);
  const std::optional<IpLiteral> ip = parse_ip_literal(host);
  for (const mbedtls_x509_sequence* san = &crt.subject_alt_names; san != nullptr; san = san->next) {
    if (san->buf.p == nullptr) continue;  // the list head is empty when the certificate has no SAN
    if (ip) {
      const bool same_ip = canonical_ip(san->buf.p, san->buf.len) == canonical_ip(ip->bytes.data(), ip->size);
      if (san->buf.tag == kSanIpTag && same_ip) return true;
    } else if (san->buf.tag == kSanDnsTag && dns_name_matches(as_text(san->buf), host)) {
      return true;
    }
  }
  return false;
}

}  // namespace derp::tls
