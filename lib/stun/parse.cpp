// Decoding a STUN message into Message (RFC 8489 §5, §14).
#include <algorithm>

#include "stun/address_value.hpp"
#include "stun/attribute_reader.hpp"
#include "stun/fingerprint.hpp"
#include "stun/header.hpp"
#include "stun/message.hpp"

namespace derp::stun {

bool AttributeTypeList::contains(std::uint16_t type) const {
  return std::find(types.begin(), types.begin() + static_cast<std::ptrdiff_t>(count), type) !=
         types.begin() + static_cast<std::ptrdiff_t>(count);
}

void AttributeTypeList::add(std::uint16_t type) {
  if (contains(type)) return;
  if (count == types.size()) {
    overflow = true;
    return;
  }
  types[count++] = type;
}

namespace {

std::uint64_t load_be64(const std::uint8_t* p) {
  return (std::uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}

// RFC 8489 §14.8: 21 reserved bits, a 3-bit class (3..6) and a number 0..99, then the reason phrase.
int decode_error_code(Bytes value, ErrorCode* out) {
  if (value.size() < 4) return DERP_ERR_MALFORMED;
  const int error_class = value[2] & 0x07;
  const int number = value[3];
  if (error_class < 3 || error_class > 6 || number > 99) return DERP_ERR_MALFORMED;
  out->code = error_class * 100 + number;
  out->reason = value.subspan(4);
  return DERP_OK;
}

// RFC 8489 §14.9: a list of 16-bit attribute types.
int decode_unknown_attributes(Bytes value, AttributeTypeList* out) {
  if (value.size() % 2 != 0) return DERP_ERR_MALFORMED;
  for (std::size_t i = 0; i < value.size(); i += 2) out->add(load_be16(value.data() + i));
  return DERP_OK;
}

// Keeps the first occurrence of a byte-string attribute.
void keep_first(std::optional<Bytes>& slot, Bytes value) {
  if (!slot) slot = value;
}

// One attribute before MESSAGE-INTEGRITY. Returns DERP_OK or DERP_ERR_MALFORMED.
int decode_attribute(const Attribute& attr, Message* out) {
  const Bytes v = attr.value;
  switch (attr.type) {
    case kAttrMappedAddress: {
      derp_addr addr{};
      if (decode_mapped_address(v, &addr) != DERP_OK) return DERP_ERR_MALFORMED;
      if (!out->mapped_address) out->mapped_address = addr;
      return DERP_OK;
    }
    case kAttrXorMappedAddress:
    case kAttrXorMappedAddressAlt: {
      derp_addr addr{};
      if (decode_xor_mapped_address(v, out->transaction_id, &addr) != DERP_OK) return DERP_ERR_MALFORMED;
      if (!out->xor_mapped_address) out->xor_mapped_address = addr;
      return DERP_OK;
    }
    case kAttrSoftware:
      keep_first(out->software, v);
      return DERP_OK;
    case kAttrUsername:
      keep_first(out->username, v);
      return DERP_OK;
    case kAttrRealm:
      keep_first(out->realm, v);
      return DERP_OK;
    case kAttrNonce:
      keep_first(out->nonce, v);
      return DERP_OK;
    case kAttrErrorCode: {
      ErrorCode error;
      if (decode_error_code(v, &error) != DERP_OK) return DERP_ERR_MALFORMED;
      if (!out->error_code) out->error_code = error;
      return DERP_OK;
    }
    case kAttrUnknownAttributes: {
      AttributeTypeList list;
      if (decode_unknown_attributes(v, &list) != DERP_OK) return DERP_ERR_MALFORMED;
      if (!out->unknown_attributes) out->unknown_attributes = list;
      return DERP_OK;
    }
    case kAttrChangeRequest:
      if (v.size() != kChangeRequestValueSize) return DERP_ERR_MALFORMED;
      if (!out->change_request) out->change_request = load_be32(v.data());
      return DERP_OK;
    case kAttrPriority:
      if (v.size() != 4) return DERP_ERR_MALFORMED;
      if (!out->priority) out->priority = load_be32(v.data());
      return DERP_OK;
    case kAttrUseCandidate:
      if (!v.empty()) return DERP_ERR_MALFORMED;
      out->use_candidate = true;
      return DERP_OK;
    case kAttrIceControlled:
      if (v.size() != 8) return DERP_ERR_MALFORMED;
      if (!out->ice_controlled) out->ice_controlled = load_be64(v.data());
      return DERP_OK;
    case kAttrIceControlling:
      if (v.size() != 8) return DERP_ERR_MALFORMED;
      if (!out->ice_controlling) out->ice_controlling = load_be64(v.data());
      return DERP_OK;
    default:
      if (is_comprehension_required(attr.type)) out->unknown_required.add(attr.type);
      return DERP_OK;  // comprehension-optional: skipped (RFC 8489 §14)
  }
}

// The attribute walk shared by both header forms. `whole` is the message cut at its declared end.
int parse_attributes(Bytes whole, Message* out) {
  AttributeReader reader(whole);
  Attribute attr;
  for (;;) {
    const int step = reader.next(&attr);
    if (step < 0) {
      out->malformed_attribute.reset();  // a broken walk: nothing to answer
      return step;
    }
    if (step == 0) break;
    if (attr.type == kAttrFingerprint) {
      if (attr.value.size() != kFingerprintValueSize) {
        // A FINGERPRINT that cannot be checked is as bad as a wrong one (§7.3): likely not STUN, never answered.
        out->malformed_attribute.reset();
        return DERP_ERR_MALFORMED;
      }
      out->has_fingerprint = true;
      out->fingerprint = load_be32(attr.value.data());
      out->fingerprint_valid = fingerprint_of(whole.first(attr.offset)) == out->fingerprint;
      break;  // RFC 8489 §14.7: FINGERPRINT is last; anything after it is ignored
    }
    if (out->has_message_integrity) continue;  // RFC 8489 §14.5: only FINGERPRINT counts after MESSAGE-INTEGRITY
    int rc = DERP_OK;
    if (attr.type == kAttrMessageIntegrity) {
      if (attr.value.size() == kMessageIntegrityValueSize) {
        out->has_message_integrity = true;
        out->message_integrity_offset = attr.offset;
      } else {
        rc = DERP_ERR_MALFORMED;
      }
    } else {
      rc = decode_attribute(attr, out);
    }
    // A bad value is remembered and the walk goes on, so that a FINGERPRINT further on is still checked.
    if (rc != DERP_OK && !out->malformed_attribute) out->malformed_attribute = attr.type;
  }
  return out->malformed_attribute ? DERP_ERR_MALFORMED : DERP_OK;
}

void fill_header(const Header& header, Message* out) {
  out->type = header.type;
  out->method = method_of(header.type);
  out->message_class = class_of(header.type);
  out->transaction_id = header.transaction_id;
  out->length = kHeaderSize + header.length;
}

}  // namespace

int parse(Bytes message, Message* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  *out = Message{};
  Header header;
  if (const int rc = read_header(message, &header); rc != DERP_OK) return rc;
  fill_header(header, out);
  // Bytes past the declared length are not part of the message (Tailscale's parser trims them the same way).
  return parse_attributes(message.first(out->length), out);
}

int parse_classic(Bytes message, Message* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  *out = Message{};
  Header header;
  if (const int rc = read_classic_header(message, &header); rc != DERP_OK) return rc;
  fill_header(header, out);
  out->classic = true;
  out->classic_transaction_id = classic_transaction_id_of(message);
  return parse_attributes(message, out);
}

}  // namespace derp::stun
