#include "stun/tailscale.hpp"

#include <optional>

#include "common/address.hpp"
#include "stun/address_value.hpp"
#include "stun/attribute_reader.hpp"
#include "stun/builder.hpp"
#include "stun/fingerprint.hpp"
#include "stun/header.hpp"

namespace derp::stun {

namespace {
constexpr std::size_t kFingerprintAttributeSize = kAttributeHeaderSize + kFingerprintValueSize;
}

int build_tailscale_request(const TransactionId& transaction_id, MutableBytes out, std::size_t* length) {
  Builder b(out);
  b.begin(kBindingRequest, transaction_id);
  b.add_software(kTailscaleSoftware);
  b.add_fingerprint();
  return b.finish(length);
}

int build_binding_response(const TransactionId& transaction_id, const derp_addr& address, bool with_fingerprint,
                           MutableBytes out, std::size_t* length) {
  Builder b(out);
  b.begin(kBindingSuccessResponse, transaction_id);
  b.add_xor_mapped_address(address);
  if (with_fingerprint) b.add_fingerprint();
  return b.finish(length);
}

int parse_binding_response(Bytes message, BindingResult* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  *out = BindingResult{};
  if (!has_stun_header(message)) return DERP_ERR_NOT_STUN;
  out->transaction_id = transaction_id_of(message);
  if (load_be16(message.data()) != kBindingSuccessResponse) return DERP_ERR_STUN_NOT_SUCCESS_RESPONSE;
  const std::size_t declared = load_be16(message.data() + 2);
  if (declared > message.size() - kHeaderSize) return DERP_ERR_MALFORMED;

  std::optional<derp_addr> xor_mapped;
  std::optional<derp_addr> mapped;
  AttributeReader reader(message.first(kHeaderSize + declared));
  Attribute attr;
  for (;;) {
    const int step = reader.next(&attr);
    if (step < 0) return DERP_ERR_MALFORMED;
    if (step == 0) break;
    derp_addr addr{};
    if (attr.type == kAttrXorMappedAddress || attr.type == kAttrXorMappedAddressAlt) {
      if (decode_xor_mapped_address(attr.value, out->transaction_id, &addr) != DERP_OK) return DERP_ERR_MALFORMED;
      xor_mapped = unmap_v4(addr);  // a later one replaces an earlier one, as in Tailscale
    } else if (attr.type == kAttrMappedAddress) {
      if (decode_mapped_address(attr.value, &addr) != DERP_OK) return DERP_ERR_MALFORMED;
      mapped = unmap_v4(addr);
    }
  }
  if (xor_mapped) {
    out->address = *xor_mapped;
  } else if (mapped) {
    out->address = *mapped;
  } else {
    return DERP_ERR_STUN_NO_ADDRESS;
  }
  return DERP_OK;
}

int parse_tailscale_binding_request(Bytes message, TransactionId* transaction_id) {
  if (transaction_id == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (!has_stun_header(message)) return DERP_ERR_NOT_STUN;
  if (load_be16(message.data()) != kBindingRequest) return DERP_ERR_STUN_NOT_BINDING_REQUEST;

  bool software_ok = false;
  std::uint16_t last_type = 0;
  std::uint32_t received_fingerprint = 0;  // from the last 4-byte FINGERPRINT seen, 0 when none
  AttributeReader reader(message);  // the whole datagram, as Tailscale walks it
  Attribute attr;
  for (;;) {
    const int step = reader.next(&attr);
    if (step < 0) return DERP_ERR_MALFORMED;
    if (step == 0) break;
    last_type = attr.type;
    const std::string_view value(reinterpret_cast<const char*>(attr.value.data()), attr.value.size());
    if (attr.type == kAttrSoftware && value == kTailscaleSoftware) software_ok = true;
    if (attr.type == kAttrFingerprint && attr.value.size() == kFingerprintValueSize) {
      received_fingerprint = load_be32(attr.value.data());
    }
  }
  if (!software_ok) return DERP_ERR_STUN_WRONG_SOFTWARE;
  if (last_type != kAttrFingerprint) return DERP_ERR_STUN_NO_FINGERPRINT;
  // The last attribute is a FINGERPRINT, so the datagram holds at least header + 4 bytes and the cut is in range.
  if (fingerprint_of(message.first(message.size() - kFingerprintAttributeSize)) != received_fingerprint) {
    return DERP_ERR_STUN_FINGERPRINT;
  }
  *transaction_id = transaction_id_of(message);
  return DERP_OK;
}

}  // namespace derp::stun
