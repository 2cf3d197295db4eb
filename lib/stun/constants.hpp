// STUN wire constants (RFC 8489), in one place. Attribute numbers are from the IANA "STUN Attributes" registry;
// the ICE ones from RFC 8445 §16.1; 0x8020 is the non-standard type some servers send.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace derp::stun {

// RFC 8489 §5: 20-byte header = type (2) + length (2) + magic cookie (4) + transaction id (12).
constexpr std::size_t kHeaderSize = 20;
constexpr std::size_t kTransactionIdSize = 12;
constexpr std::uint32_t kMagicCookie = 0x2112A442;
// Each attribute is type (2) + length (2) + value, padded to a multiple of 4 (RFC 8489 §14).
constexpr std::size_t kAttributeHeaderSize = 4;

using TransactionId = std::array<std::uint8_t, kTransactionIdSize>;

// RFC 3489 §11.1 ("classic" STUN): bytes 4..19 are one 128-bit transaction id and there is no magic cookie.
// RFC 5389 §12.2 (kept by RFC 8489 §11): a server tells such a client by the cookie's absence and echoes all 16.
constexpr std::size_t kClassicTransactionIdSize = 16;
using ClassicTransactionId = std::array<std::uint8_t, kClassicTransactionIdSize>;

// Message classes (RFC 8489 §5): the two bits C1 C0 spread through the type field.
enum class MessageClass : std::uint8_t { kRequest = 0, kIndication = 1, kSuccessResponse = 2, kErrorResponse = 3 };

constexpr std::uint16_t kMethodBinding = 0x001;

// Binding message types as they appear on the wire.
constexpr std::uint16_t kBindingRequest = 0x0001;
constexpr std::uint16_t kBindingIndication = 0x0011;
constexpr std::uint16_t kBindingSuccessResponse = 0x0101;
constexpr std::uint16_t kBindingErrorResponse = 0x0111;

// Attribute types. Below 0x8000 an agent must understand the attribute (comprehension-required, RFC 8489 §14);
// from 0x8000 it may skip it.
constexpr std::uint16_t kAttrMappedAddress = 0x0001;
// RFC 3489 §11.2.2: "send the response there instead". Never honoured (it would make us a reflector); RFC 5389
// §12.2 has a server treat it as an unknown comprehension-required attribute, so it earns a 420.
constexpr std::uint16_t kAttrResponseAddress = 0x0002;
// RFC 3489 §11.2.4, RFC 5780 §7.2: 4 bytes of flags asking for the answer from another IP (0x04) and/or port
// (0x02). Classic clients (Vovida's stun) always send it, with no flag set in their first test.
constexpr std::uint16_t kAttrChangeRequest = 0x0003;
constexpr std::uint16_t kAttrUsername = 0x0006;
constexpr std::uint16_t kAttrMessageIntegrity = 0x0008;
constexpr std::uint16_t kAttrErrorCode = 0x0009;
constexpr std::uint16_t kAttrUnknownAttributes = 0x000A;
constexpr std::uint16_t kAttrRealm = 0x0014;
constexpr std::uint16_t kAttrNonce = 0x0015;
constexpr std::uint16_t kAttrXorMappedAddress = 0x0020;
constexpr std::uint16_t kAttrPriority = 0x0024;        // RFC 8445 §7.1.1, 4 bytes
constexpr std::uint16_t kAttrUseCandidate = 0x0025;    // RFC 8445 §7.1.2, empty
// XOR-MAPPED-ADDRESS under a non-standard, comprehension-optional number that some servers send; Tailscale accepts it.
constexpr std::uint16_t kAttrXorMappedAddressAlt = 0x8020;
constexpr std::uint16_t kAttrSoftware = 0x8022;
constexpr std::uint16_t kAttrFingerprint = 0x8028;
constexpr std::uint16_t kAttrIceControlled = 0x8029;   // RFC 8445 §7.1.3, 8-byte tie-breaker
constexpr std::uint16_t kAttrIceControlling = 0x802A;  // RFC 8445 §7.1.3, 8-byte tie-breaker

constexpr bool is_comprehension_required(std::uint16_t attr_type) { return attr_type < 0x8000; }

// RFC 8489 §14.7: FINGERPRINT = CRC-32 XOR "STUN".
constexpr std::uint32_t kFingerprintXor = 0x5354554E;
constexpr std::size_t kFingerprintValueSize = 4;
// RFC 8489 §14.5: MESSAGE-INTEGRITY carries an HMAC-SHA1 (20 bytes).
constexpr std::size_t kMessageIntegrityValueSize = 20;
// RFC 8489 §9.2.2: the long-term key is MD5(username ":" realm ":" password), 16 bytes.
constexpr std::size_t kLongTermKeySize = 16;

// CHANGE-REQUEST's value and the two flags in it (RFC 5780 §7.2); the other 29 bits are unused.
constexpr std::size_t kChangeRequestValueSize = 4;
constexpr std::uint32_t kChangeRequestIp = 0x04;
constexpr std::uint32_t kChangeRequestPort = 0x02;

// Address families inside (XOR-)MAPPED-ADDRESS (RFC 8489 §14.1).
constexpr std::uint8_t kFamilyIPv4 = 0x01;
constexpr std::uint8_t kFamilyIPv6 = 0x02;

// Fixed capacities of the parsed Message: more than this many entries are counted as "overflow", not stored.
constexpr std::size_t kMaxUnknownAttributes = 16;

// Error codes used by the responder (RFC 8489 §14.8).
constexpr int kErrorBadRequest = 400;
constexpr int kErrorUnknownAttribute = 420;

}  // namespace derp::stun
