// The hashes and the base64 the protocol cores need, from mbedTLS, behind a header that names no mbedTLS type: STUN's
// MESSAGE-INTEGRITY (HMAC-SHA1) and long-term key (MD5), WebSocket's Sec-WebSocket-Accept (SHA-1, base64). Only
// lib/tls sees mbedTLS (lib/CMakeLists.txt enforces it), so lib/stun and lib/http hash through here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/bytes.hpp"

namespace derp::tls {

using Sha1Digest = std::array<std::uint8_t, 20>;
using Md5Digest = std::array<std::uint8_t, 16>;

// SHA-1 and MD5 of the parts concatenated; HMAC-SHA1 keyed with `key` (RFC 2104) over the parts concatenated.
// DERP_OK, DERP_ERR_NO_MEMORY (mbedTLS could not allocate its context) or DERP_ERR_INTERNAL.
int sha1(std::initializer_list<Bytes> parts, Sha1Digest* out);
int md5(std::initializer_list<Bytes> parts, Md5Digest* out);
int hmac_sha1(Bytes key, std::initializer_list<Bytes> parts, Sha1Digest* out);

// Standard base64 (RFC 4648 §4) with padding.
std::string base64_encode(Bytes data);
// Decodes standard padded base64 into `out`; *written is the decoded length. false when the text is not base64 or
// does not fit. mbedTLS skips line breaks and spaces inside the text: callers that want one strict word check the
// alphabet first.
bool base64_decode(std::string_view text, MutableBytes out, std::size_t* written);

}  // namespace derp::tls
