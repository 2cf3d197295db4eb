#include "crypto/key_text.hpp"

#include <sodium.h>

#include "common/hex.hpp"
#include "derp/common.h"

namespace derp::crypto {

void write_key_text(std::string_view prefix, const KeyBytes& key, char* out) {
  for (char c : prefix) *out++ = c;
  write_hex(key.data(), key.size(), out);
}

std::string format_public(const NodePublic& key) {
  std::string text(kPublicTextPrefix.size() + kKeyHexLen, '\0');
  write_key_text(kPublicTextPrefix, key.bytes(), text.data());
  return text;
}

std::string format_private(const NodePrivate& key) {
  std::string text(kPrivateTextPrefix.size() + kKeyHexLen, '\0');
  write_key_text(kPrivateTextPrefix, key.bytes(), text.data());
  return text;
}

std::string format_untyped_hex(const NodePublic& key) {
  std::string text(kKeyHexLen, '\0');
  write_key_text({}, key.bytes(), text.data());
  return text;
}

std::string short_string(const NodePublic& key) {
  if (key.is_zero()) return {};
  // The first five base64 characters cover the first 30 bits, so the first four bytes are enough.
  static constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto& k = key.bytes();
  const std::uint32_t bits = (std::uint32_t{k[0]} << 24) | (std::uint32_t{k[1]} << 16) |
                             (std::uint32_t{k[2]} << 8) | std::uint32_t{k[3]};
  std::string out = "[";
  for (int i = 0; i < 5; ++i) out.push_back(kBase64[(bits >> (26 - 6 * i)) & 63]);
  out.push_back(']');
  return out;
}

int parse_key_text(std::string_view text, std::string_view prefix, KeyBytes* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (text.substr(0, prefix.size()) != prefix) return DERP_ERR_KEY_PREFIX;
  text.remove_prefix(prefix.size());
  if (text.size() != kKeyHexLen) return DERP_ERR_KEY_LENGTH;
  KeyBytes raw;
  if (!read_hex(text, raw.data(), raw.size())) {  // either case, like Go's fromHexChar
    sodium_memzero(raw.data(), raw.size());
    return DERP_ERR_KEY_HEX;
  }
  *out = raw;
  sodium_memzero(raw.data(), raw.size());  // may have been a private key
  return DERP_OK;
}

int parse_public(std::string_view text, NodePublic* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  KeyBytes raw;
  const int rc = parse_key_text(text, kPublicTextPrefix, &raw);
  if (rc == DERP_OK) *out = NodePublic(raw);
  return rc;
}

int parse_private(std::string_view text, NodePrivate* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  KeyBytes raw;
  const int rc = parse_key_text(text, kPrivateTextPrefix, &raw);
  if (rc == DERP_OK) *out = NodePrivate(raw);
  sodium_memzero(raw.data(), raw.size());
  return rc;
}

int parse_public_untyped(std::string_view text, NodePublic* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  KeyBytes raw;
  const int rc = parse_key_text(text, {}, &raw);
  if (rc == DERP_OK) *out = NodePublic(raw);
  return rc;
}

}  // namespace derp::crypto
