// The FINGERPRINT value (RFC 8489 §14.7): CRC-32 of the message before the attribute, XOR 0x5354554E. The header in
// those bytes must already count the FINGERPRINT attribute in its length.
#pragma once

#include <cstdint>

#include "common/bytes.hpp"
#include "stun/constants.hpp"
#include "stun/crc32.hpp"

namespace derp::stun {

inline std::uint32_t fingerprint_of(Bytes message_before_fingerprint) {
  return crc32_ieee(message_before_fingerprint) ^ kFingerprintXor;
}

}  // namespace derp::stun
