// Text forms of node keys (reference §0; Tailscale types/key/node.go and util.go):
//   "nodekey:" + 64 hex   public key (MarshalText / String)
//   "privkey:" + 64 hex   private key (MarshalText), what the derper key file holds
//   64 hex, no prefix     "untyped": the 101 response's Derp-Public-Key header and the meta-cert CN
//   "[" + 5 base64 + "]"  ShortString, for logs only
// We always write lowercase hex. Parsing wants the exact lowercase prefix, then exactly 64 hex digits of either
// case, as Go's parseHex does; the checks run in that order so the error names the first thing wrong.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "crypto/node_key.hpp"

namespace derp::crypto {

inline constexpr std::string_view kPublicTextPrefix = "nodekey:";
inline constexpr std::string_view kPrivateTextPrefix = "privkey:";
inline constexpr std::size_t kKeyHexLen = 2 * kKeyLen;
inline constexpr std::size_t kKeyTextLen = 8 + kKeyHexLen;  // either prefixed form, no NUL
inline constexpr std::size_t kShortStringLen = 7;           // "[" + 5 + "]"

// Writes prefix + 64 lowercase hex digits to out, which must hold prefix.size() + 64 chars. No NUL, no allocation
// (so a private key's text need not pass through a std::string).
void write_key_text(std::string_view prefix, const KeyBytes& key, char* out);

std::string format_public(const NodePublic& key);    // "nodekey:…"
std::string format_private(const NodePrivate& key);  // "privkey:…" (secret: the caller decides how to keep it)
std::string format_untyped_hex(const NodePublic& key);

// "[" + first 5 characters of std-base64(key) + "]", e.g. "[B6N8v]"; "" for the zero key, like Go's debug32.
std::string short_string(const NodePublic& key);

// The generic parser: prefix (may be empty), then exactly 64 hex digits. On success *out holds the key; on failure
// it is left untouched. DERP_ERR_KEY_PREFIX, DERP_ERR_KEY_LENGTH, DERP_ERR_KEY_HEX.
int parse_key_text(std::string_view text, std::string_view prefix, KeyBytes* out);

int parse_public(std::string_view text, NodePublic* out);            // "nodekey:…"
int parse_private(std::string_view text, NodePrivate* out);          // "privkey:…"
int parse_public_untyped(std::string_view text, NodePublic* out);    // bare 64 hex

}  // namespace derp::crypto
