// MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 over the message up to the attribute, with the header's length
// set to end just after MESSAGE-INTEGRITY. Keys (RFC 8489 §9): short-term = the password bytes; long-term =
// MD5(username ":" realm ":" password). Passwords must already be prepared (OpaqueString / SASLprep): that is the
// caller's job. The hashing goes through tls/digest.hpp (mbedTLS's md module, which allocates its context on the heap).
#pragma once

#include <array>
#include <cstdint>

#include "common/bytes.hpp"
#include "stun/constants.hpp"
#include "stun/message.hpp"

namespace derp::stun {

using IntegrityValue = std::array<std::uint8_t, kMessageIntegrityValueSize>;
using LongTermKey = std::array<std::uint8_t, kLongTermKeySize>;

// HMAC-SHA1(key, message_before_integrity) where the header's length field (bytes 2-3) is replaced by
// `length_field`. message_before_integrity holds at least the 20-byte header. DERP_OK, DERP_ERR_NO_MEMORY or
// DERP_ERR_INTERNAL (mbedTLS failed).
int compute_integrity(Bytes message_before_integrity, std::uint16_t length_field, Bytes key, IntegrityValue* out);

// Checks the MESSAGE-INTEGRITY that parse() found in `message` (the same bytes) against `key`, comparing in
// constant time. DERP_OK; DERP_ERR_STUN_NO_INTEGRITY when there is none; DERP_ERR_STUN_INTEGRITY on a mismatch;
// DERP_ERR_INVALID_ARGUMENT when `parsed` does not describe `message`.
int verify_integrity(Bytes message, const Message& parsed, Bytes key);

// MD5(username ":" realm ":" password). DERP_OK, DERP_ERR_NO_MEMORY or DERP_ERR_INTERNAL.
int long_term_key(Bytes username, Bytes realm, Bytes password, LongTermKey* out);

}  // namespace derp::stun
