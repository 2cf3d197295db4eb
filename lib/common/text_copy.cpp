#include "common/text_copy.hpp"

#include <cstring>

#include "derp/common.h"

namespace derp {

int copy_text(std::string_view text, char* out, std::size_t cap, std::size_t* needed) noexcept {
  if (needed != nullptr) *needed = text.size() + 1;
  if (out == nullptr || cap == 0) return DERP_ERR_BUFFER_TOO_SMALL;  // every text needs its NUL
  if (text.size() < cap) {
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
    return DERP_OK;
  }
  std::size_t n = cap - 1;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;  // back off a continuation byte
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
  return DERP_ERR_BUFFER_TOO_SMALL;
}

}  // namespace derp
