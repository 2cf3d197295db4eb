// C entry points for keys, their text forms, the derper key file and the NaCl box (include/derp/key.h).
#include "derp/key.h"

#include <cstring>
#include <string>
#include <string_view>

#include "capi/guard.hpp"
#include "crypto/box.hpp"
#include "crypto/key_file.hpp"
#include "crypto/key_text.hpp"
#include "crypto/node_key.hpp"

namespace {

using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;

static_assert(DERP_KEY_LEN == derp::crypto::kKeyLen);
static_assert(DERP_NONCE_LEN == derp::crypto::kNonceLen);
static_assert(DERP_BOX_MAC_LEN == derp::crypto::kMacLen);
static_assert(DERP_BOX_SEALED_OVERHEAD == derp::crypto::kBoxOverhead);
static_assert(DERP_KEY_TEXT_LEN == derp::crypto::kKeyTextLen + 1);
static_assert(DERP_KEY_HEX_LEN == derp::crypto::kKeyHexLen + 1);
static_assert(DERP_KEY_SHORT_LEN == derp::crypto::kShortStringLen + 1);

// Writes prefix + hex + NUL straight into the caller's buffer (no temporary copy of a private key).
int format_key(std::string_view prefix, const std::uint8_t* key, char* out, std::size_t cap) {
  if (key == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  const std::size_t len = prefix.size() + derp::crypto::kKeyHexLen;
  if (cap < len + 1) return DERP_ERR_BUFFER_TOO_SMALL;
  derp::crypto::KeyBytes raw;
  std::memcpy(raw.data(), key, raw.size());
  derp::crypto::write_key_text(prefix, raw, out);
  out[len] = '\0';
  return DERP_OK;
}

int parse_key(const char* text, std::string_view prefix, std::uint8_t* out) {
  if (text == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  derp::crypto::KeyBytes raw;
  const int rc = derp::crypto::parse_key_text(text, prefix, &raw);
  if (rc == DERP_OK) std::memcpy(out, raw.data(), raw.size());
  return rc;
}

int copy_text(const std::string& text, char* out, std::size_t cap) {
  if (text.size() + 1 > cap) return DERP_ERR_BUFFER_TOO_SMALL;
  std::memcpy(out, text.c_str(), text.size() + 1);
  return DERP_OK;
}

int seal_box(const std::uint8_t* sender_private, const std::uint8_t* recipient_public, const std::uint8_t* plaintext,
             std::size_t plaintext_len, const derp::crypto::Nonce* nonce, std::uint8_t* out, std::size_t out_cap,
             std::size_t* out_len) {
  if (sender_private == nullptr || recipient_public == nullptr || out_len == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (plaintext == nullptr && plaintext_len != 0) return DERP_ERR_INVALID_ARGUMENT;
  const std::size_t needed = derp::crypto::sealed_size(plaintext_len);
  if (out == nullptr || out_cap < needed) {
    if (out == nullptr && out_cap != 0) return DERP_ERR_INVALID_ARGUMENT;
    *out_len = needed;
    return DERP_ERR_BUFFER_TOO_SMALL;
  }
  const int rc = derp::crypto::seal(NodePrivate::from_raw(sender_private), NodePublic::from_raw(recipient_public),
                                    derp::Bytes(plaintext, plaintext_len), derp::MutableBytes(out, out_cap), nonce);
  if (rc == DERP_OK) *out_len = needed;
  return rc;
}

}  // namespace

extern "C" {

int derp_key_generate(uint8_t private_key_out[32]) {
  return derp::capi::guarded([&]() -> int {
    if (private_key_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    NodePrivate key;
    const int rc = derp::crypto::generate_private(&key);
    if (rc == DERP_OK) std::memcpy(private_key_out, key.data(), DERP_KEY_LEN);
    return rc;
  });
}

int derp_key_public_from_private(const uint8_t private_key[32], uint8_t public_key_out[32]) {
  return derp::capi::guarded([&]() -> int {
    if (private_key == nullptr || public_key_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    NodePublic pub;
    const int rc = derp::crypto::public_of(NodePrivate::from_raw(private_key), &pub);
    if (rc == DERP_OK) std::memcpy(public_key_out, pub.data(), DERP_KEY_LEN);
    return rc;
  });
}

int derp_key_equal(const uint8_t a[32], const uint8_t b[32]) {
  return derp::capi::guarded([&]() -> int {
    if (a == nullptr || b == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    return NodePublic::from_raw(a) == NodePublic::from_raw(b) ? 1 : 0;
  });
}

int derp_key_is_zero(const uint8_t key[32]) {
  return derp::capi::guarded([&]() -> int {
    if (key == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    return NodePublic::from_raw(key).is_zero() ? 1 : 0;
  });
}

int derp_key_format_public(const uint8_t public_key[32], char* out, size_t cap) {
  return derp::capi::guarded(
      [&]() -> int { return format_key(derp::crypto::kPublicTextPrefix, public_key, out, cap); });
}

int derp_key_format_private(const uint8_t private_key[32], char* out, size_t cap) {
  return derp::capi::guarded(
      [&]() -> int { return format_key(derp::crypto::kPrivateTextPrefix, private_key, out, cap); });
}

int derp_key_format_hex(const uint8_t key[32], char* out, size_t cap) {
  return derp::capi::guarded([&]() -> int { return format_key({}, key, out, cap); });
}

int derp_key_parse_public(const char* text, uint8_t public_key_out[32]) {
  return derp::capi::guarded([&]() -> int { return parse_key(text, derp::crypto::kPublicTextPrefix, public_key_out); });
}

int derp_key_parse_private(const char* text, uint8_t private_key_out[32]) {
  return derp::capi::guarded(
      [&]() -> int { return parse_key(text, derp::crypto::kPrivateTextPrefix, private_key_out); });
}

int derp_key_parse_hex(const char* text, uint8_t key_out[32]) {
  return derp::capi::guarded([&]() -> int { return parse_key(text, {}, key_out); });
}

int derp_key_short(const uint8_t public_key[32], char* out, size_t cap) {
  return derp::capi::guarded([&]() -> int {
    if (public_key == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    if (cap < DERP_KEY_SHORT_LEN) return DERP_ERR_BUFFER_TOO_SMALL;
    return copy_text(derp::crypto::short_string(NodePublic::from_raw(public_key)), out, cap);
  });
}

int derp_key_file_encode(const uint8_t private_key[32], char* out, size_t cap) {
  return derp::capi::guarded([&]() -> int {
    if (private_key == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    if (cap < DERP_KEY_FILE_TEXT_LEN) return DERP_ERR_BUFFER_TOO_SMALL;
    return copy_text(derp::crypto::encode_key_file(NodePrivate::from_raw(private_key)), out, cap);
  });
}

int derp_key_file_decode(const char* text, size_t len, uint8_t private_key_out[32]) {
  return derp::capi::guarded([&]() -> int {
    if ((text == nullptr && len != 0) || private_key_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    NodePrivate key;
    const int rc = derp::crypto::decode_key_file(std::string_view(text == nullptr ? "" : text, len), &key);
    if (rc == DERP_OK) std::memcpy(private_key_out, key.data(), DERP_KEY_LEN);
    return rc;
  });
}

int derp_box_seal(const uint8_t sender_private[32], const uint8_t recipient_public[32], const uint8_t* plaintext,
                  size_t plaintext_len, uint8_t* out, size_t out_cap, size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    return seal_box(sender_private, recipient_public, plaintext, plaintext_len, nullptr, out, out_cap, out_len);
  });
}

int derp_box_seal_with_nonce(const uint8_t sender_private[32], const uint8_t recipient_public[32],
                             const uint8_t* plaintext, size_t plaintext_len, const uint8_t nonce[24], uint8_t* out,
                             size_t out_cap, size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    if (nonce == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    derp::crypto::Nonce fixed;
    std::memcpy(fixed.data(), nonce, fixed.size());
    return seal_box(sender_private, recipient_public, plaintext, plaintext_len, &fixed, out, out_cap, out_len);
  });
}

int derp_box_open(const uint8_t recipient_private[32], const uint8_t sender_public[32], const uint8_t* sealed,
                  size_t sealed_len, uint8_t* out, size_t out_cap, size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    if (recipient_private == nullptr || sender_public == nullptr || out_len == nullptr) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    if (sealed == nullptr && sealed_len != 0) return DERP_ERR_INVALID_ARGUMENT;
    if (out == nullptr && out_cap != 0) return DERP_ERR_INVALID_ARGUMENT;
    if (sealed_len < DERP_BOX_SEALED_OVERHEAD) return DERP_ERR_BOX_OPEN;
    const std::size_t needed = sealed_len - DERP_BOX_SEALED_OVERHEAD;
    if (out_cap < needed) {
      *out_len = needed;
      return DERP_ERR_BUFFER_TOO_SMALL;
    }
    const int rc = derp::crypto::open(NodePrivate::from_raw(recipient_private), NodePublic::from_raw(sender_public),
                                      derp::Bytes(sealed, sealed_len), derp::MutableBytes(out, out_cap));
    if (rc == DERP_OK) *out_len = needed;
    return rc;
  });
}

}  // extern "C"
