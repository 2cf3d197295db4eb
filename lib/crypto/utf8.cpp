#include "crypto/utf8.hpp"

namespace derp::crypto::utf8 {

namespace {
bool in(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }
}  // namespace

std::size_t valid_sequence_length(std::string_view s) {
  if (s.empty()) return 0;
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  // The second byte's allowed range depends on the first (RFC 3629 §4 table): this is what rules out overlong
  // forms (E0, F0), UTF-16 surrogates (ED) and code points past U+10FFFF (F4).
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (in(b0, 0xC2, 0xDF)) {
    len = 2;
  } else if (b0 == 0xE0) {
    len = 3;
    lo = 0xA0;
  } else if (in(b0, 0xE1, 0xEC) || in(b0, 0xEE, 0xEF)) {
    len = 3;
  } else if (b0 == 0xED) {
    len = 3;
    hi = 0x9F;
  } else if (b0 == 0xF0) {
    len = 4;
    lo = 0x90;
  } else if (in(b0, 0xF1, 0xF3)) {
    len = 4;
  } else if (b0 == 0xF4) {
    len = 4;
    hi = 0x8F;
  } else {
    return 0;  // 80..C1 and F5..FF never start a sequence
  }
  if (s.size() < len) return 0;
  if (!in(static_cast<unsigned char>(s[1]), lo, hi)) return 0;
  for (std::size_t i = 2; i < len; ++i) {
    if (!in(static_cast<unsigned char>(s[i]), 0x80, 0xBF)) return 0;
  }
  return len;
}

}  // namespace derp::crypto::utf8
