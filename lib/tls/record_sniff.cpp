#include "tls/record_sniff.hpp"

#include <cstdio>

namespace derp::tls {

namespace {

constexpr std::uint8_t kFirstContentType = 20;  // change_cipher_spec
constexpr std::uint8_t kLastContentType = 24;   // heartbeat (RFC 6520)
constexpr std::uint8_t kVersionMajor = 3;       // SSL 3.0, TLS 1.0 .. 1.3 record versions
constexpr std::size_t kMaxQuoted = 40;

bool printable(std::uint8_t b) { return b >= 0x20 && b <= 0x7e; }

}  // namespace

std::string describe_non_tls(Bytes first) {
  if (first.empty()) return "";
  const bool type_ok = first[0] >= kFirstContentType && first[0] <= kLastContentType;
  if (type_ok && (first.size() < 2 || first[1] == kVersionMajor)) return "";
  char hex[8];
  if (!printable(first[0])) {
    std::snprintf(hex, sizeof hex, "0x%02x", first[0]);
    return std::string("bytes that are not TLS (first byte ") + hex + ")";
  }
  std::string quoted;
  for (std::size_t i = 0; i < first.size() && i < kMaxQuoted; ++i) {
    const std::uint8_t b = first[i];
    if (b == '\r' || b == '\n') break;
    if (printable(b) && b != '"' && b != '\\') {
      quoted += static_cast<char>(b);
    } else {
      std::snprintf(hex, sizeof hex, "\\x%02x", b);
      quoted += hex;
    }
  }
  return "plain text, not TLS: \"" + quoted + "\"";
}

}  // namespace derp::tls
