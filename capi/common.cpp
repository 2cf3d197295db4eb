// Version, error strings and addresses: the C entry points every other header relies on.
#include "derp/common.h"

#include <cstring>
#include <string>

#include "capi/guard.hpp"
#include "common/address.hpp"

extern "C" {

unsigned derp_version(void) { return DERP_VERSION_HEX; }

const char* derp_version_string(void) { return DERP_VERSION_STRING; }

const char* derp_strerror(int code) {
  switch (code) {
    case DERP_OK:
      return "success";
#define DERP_STRERROR_CASE_(name, value, message) \
  case DERP_ERR_##name:                           \
    return message;
    DERP_ERRNO_MAP(DERP_STRERROR_CASE_)
#undef DERP_STRERROR_CASE_
    default:
      return "unknown error";
  }
}

const char* derp_err_name(int code) {
  switch (code) {
    case DERP_OK:
      return "OK";
#define DERP_ERR_NAME_CASE_(name, value, message) \
  case DERP_ERR_##name:                           \
    return #name;
    DERP_ERRNO_MAP(DERP_ERR_NAME_CASE_)
#undef DERP_ERR_NAME_CASE_
    default:
      return "UNKNOWN";
  }
}

int derp_addr_parse(const char* text, derp_addr* out) {
  return derp::capi::guarded([&] { return derp::parse_addr(text, out); });
}

int derp_addr_format(const derp_addr* addr, char* out, std::size_t cap) {
  return derp::capi::guarded([&] {
    if (addr == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    if (addr->family != DERP_AF_INET && addr->family != DERP_AF_INET6) return DERP_ERR_INVALID_ARGUMENT;
    const std::string text = derp::format_addr(*addr);
    if (text.size() + 1 > cap) return DERP_ERR_BUFFER_TOO_SMALL;
    std::memcpy(out, text.c_str(), text.size() + 1);
    return DERP_OK;
  });
}

}  // extern "C"
