#include "tls/tls_error.hpp"

#include <cstdio>

#include <mbedtls/error.h>
#include <mbedtls/x509_crt.h>

namespace derp::tls {

std::string mbedtls_error_text(int mbedtls_code) {
  char text[256];
  mbedtls_strerror(mbedtls_code, text, sizeof text);
  char code[24];
  std::snprintf(code, sizeof code, " (-0x%04X)", static_cast<unsigned>(-mbedtls_code));
  return std::string(text) + code;
}

std::string verify_flags_text(std::uint32_t flags) {
  char text[1024];
  // One "! reason\n" line per flag; join them with "; " for a one-line log message.
  const int len = mbedtls_x509_crt_verify_info(text, sizeof text, "", flags);
  if (len <= 0) {
    std::snprintf(text, sizeof text, "certificate rejected (verification flags 0x%08X)", static_cast<unsigned>(flags));
    return text;
  }
  std::string joined;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p == '\n') {
      if (p[1] != '\0') joined += "; ";
    } else {
      joined += *p;
    }
  }
  return joined;
}

}  // namespace derp::tls
