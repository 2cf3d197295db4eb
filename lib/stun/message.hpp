// A STUN message decoded into one flat struct with fixed storage: no allocation, and every byte view points into
// the caller's input (which must outlive the Message).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/bytes.hpp"
#include "derp/common.h"
#include "stun/constants.hpp"

namespace derp::stun {

struct ErrorCode {
  int code = 0;   // 300..699: class * 100 + number (RFC 8489 §14.8)
  Bytes reason;   // UTF-8 reason phrase
};

// A list of attribute types with a fixed capacity. `count` is how many are stored; `overflow` says more were seen.
struct AttributeTypeList {
  std::array<std::uint16_t, kMaxUnknownAttributes> types{};
  std::size_t count = 0;
  bool overflow = false;

  bool contains(std::uint16_t type) const;
  // Adds type unless it is already listed; sets overflow when full.
  void add(std::uint16_t type);
};

struct Message {
  std::uint16_t type = 0;
  std::uint16_t method = 0;
  MessageClass message_class = MessageClass::kRequest;
  TransactionId transaction_id{};
  std::size_t length = 0;  // header + attributes as declared; bytes after it were ignored

  // When an attribute appears more than once, the first one counts (RFC 8489 §14).
  std::optional<derp_addr> mapped_address;
  std::optional<derp_addr> xor_mapped_address;  // from 0x0020, or 0x8020 as some servers send it
  std::optional<Bytes> software;
  std::optional<Bytes> username;
  std::optional<Bytes> realm;
  std::optional<Bytes> nonce;
  std::optional<ErrorCode> error_code;
  std::optional<AttributeTypeList> unknown_attributes;  // the UNKNOWN-ATTRIBUTES attribute (in a 420 response)

  // CHANGE-REQUEST's flags (RFC 3489 §11.2.4, RFC 5780 §7.2): kChangeRequestIp / kChangeRequestPort.
  std::optional<std::uint32_t> change_request;

  // ICE (RFC 8445 §7.1): understood so that connectivity checks are not taken for unknown attributes.
  std::optional<std::uint32_t> priority;
  bool use_candidate = false;
  std::optional<std::uint64_t> ice_controlled;
  std::optional<std::uint64_t> ice_controlling;

  // Comprehension-required types (< 0x8000) this codec does not understand. A server answers a request holding
  // any with a 420 (RFC 8489 §6.3.1.1); a client should drop a response holding any (§6.3.3).
  AttributeTypeList unknown_required;

  // MESSAGE-INTEGRITY: where its attribute header starts, so verify_integrity can check it once the key is known.
  bool has_message_integrity = false;
  std::size_t message_integrity_offset = 0;

  bool has_fingerprint = false;
  bool fingerprint_valid = false;
  std::uint32_t fingerprint = 0;

  // An RFC 3489 message (read by parse_classic): no magic cookie; its transaction id is all of bytes 4..19, and
  // transaction_id holds only their last 12.
  bool classic = false;
  ClassicTransactionId classic_transaction_id{};

  // Set when parsing failed with DERP_ERR_MALFORMED only because a known attribute's value was impossible (the
  // first such attribute's type; e.g. a PRIORITY that is not 4 bytes). The walk went on to the end, so the header
  // fields and the FINGERPRINT fields are filled in as on success: enough for a server to answer 400
  // (RFC 8489 §6.3) — or to drop the datagram when its FINGERPRINT is wrong.
  std::optional<std::uint16_t> malformed_attribute;
};

// Decodes a whole message. DERP_OK, or:
//   DERP_ERR_NOT_STUN   fewer than 20 bytes, top bits of byte 0 set, or no magic cookie;
//   DERP_ERR_TRUNCATED  the declared length, an attribute header, or an attribute value runs past the data;
//   DERP_ERR_MALFORMED  a length that is not a multiple of 4, a FINGERPRINT that is not 4 bytes, or a known
//                       attribute with an impossible value (bad address family, wrong fixed size, error class
//                       outside 3..6, ...: out->malformed_attribute says which, see there).
// Unknown comprehension-optional attributes are skipped; unknown comprehension-required ones are listed in
// unknown_required (deciding what that means is the caller's policy). After MESSAGE-INTEGRITY only FINGERPRINT is
// read (RFC 8489 §14.5), and nothing after FINGERPRINT is read at all (§14.7). A FINGERPRINT that does not match
// is reported in fingerprint_valid, not as an error. On failure *out holds no meaning, except as
// malformed_attribute describes.
int parse(Bytes message, Message* out);

// The same for an RFC 3489 ("classic") message, which has no magic cookie (read_classic_header: the declared
// length must match the datagram exactly). Attributes are read by the same rules; out->classic is true and
// out->classic_transaction_id holds the 16-byte id. DERP_ERR_NOT_STUN when it is not a classic header (a message
// with the cookie goes to parse()); otherwise as parse().
int parse_classic(Bytes message, Message* out);

}  // namespace derp::stun
