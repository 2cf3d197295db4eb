#include "stun/responder.hpp"

#include <algorithm>
#include <array>
#include <span>
#include <string_view>

#include "common/address.hpp"
#include "stun/builder.hpp"
#include "stun/error_response.hpp"
#include "stun/header.hpp"
#include "stun/message.hpp"

namespace derp::stun {

namespace {

bool wants_fingerprint(FingerprintPolicy policy, const Message& request) {
  switch (policy) {
    case FingerprintPolicy::kAlways: return true;
    case FingerprintPolicy::kNever: return false;
    case FingerprintPolicy::kMirror: break;
  }
  return request.has_fingerprint;
}

// The attributes whose values parse() checks, by their RFC names, for the 400's reason phrase.
std::string_view checked_attribute_name(std::uint16_t type) {
  switch (type) {
    case kAttrMappedAddress: return "MAPPED-ADDRESS";
    case kAttrChangeRequest: return "CHANGE-REQUEST";
    case kAttrMessageIntegrity: return "MESSAGE-INTEGRITY";
    case kAttrErrorCode: return "ERROR-CODE";
    case kAttrUnknownAttributes: return "UNKNOWN-ATTRIBUTES";
    case kAttrXorMappedAddress:
    case kAttrXorMappedAddressAlt: return "XOR-MAPPED-ADDRESS";
    case kAttrPriority: return "PRIORITY";
    case kAttrUseCandidate: return "USE-CANDIDATE";
    case kAttrIceControlled: return "ICE-CONTROLLED";
    case kAttrIceControlling: return "ICE-CONTROLLING";
    default: return "";
  }
}

// RFC 8489 §6.3.1.1: "Bad Request" with a phrase naming the attribute, e.g. "Bad Request: malformed PRIORITY".
std::string_view bad_request_reason(std::uint16_t type, std::span<char> buffer) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string_view name = checked_attribute_name(type);
  char hex[] = "attribute 0x0000";
  if (name.empty()) {
    for (int i = 0; i < 4; ++i) hex[12 + i] = kHex[(type >> (12 - 4 * i)) & 0xF];
    name = hex;
  }
  constexpr std::string_view kPrefix = "Bad Request: malformed ";
  const std::size_t n = std::min(buffer.size(), kPrefix.size() + name.size());
  std::copy(kPrefix.begin(), kPrefix.end(), buffer.begin());
  std::copy(name.begin(), name.begin() + static_cast<std::ptrdiff_t>(n - kPrefix.size()),
            buffer.begin() + static_cast<std::ptrdiff_t>(kPrefix.size()));
  return std::string_view(buffer.data(), n);
}

}  // namespace

int BindingResponder::respond(Bytes request, const derp_addr& source, MutableBytes out, std::size_t* length) const {
  if (length == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (source.family != DERP_AF_INET && source.family != DERP_AF_INET6) return DERP_ERR_INVALID_ARGUMENT;
  if (options_.software.size() > kMaxSoftwareSize) return DERP_ERR_INVALID_ARGUMENT;

  Message message;
  int rc = parse(request, &message);
  // RFC 5389 §12.2: no magic cookie means an RFC 3489 client (libnice's stun_usage_bind_run, Vovida's stun).
  // A message with the cookie never takes this path, so RFC 8489 and Tailscale requests are read as strictly as
  // before.
  if (rc == DERP_ERR_NOT_STUN && has_classic_header(request)) rc = parse_classic(request, &message);
  // A known attribute with an impossible value in an otherwise sound message: answered with 400 below.
  const bool bad_value = rc == DERP_ERR_MALFORMED && message.malformed_attribute.has_value();
  if (rc != DERP_OK && !bad_value) return rc;
  if (message.method != kMethodBinding || message.message_class != MessageClass::kRequest) {
    return DERP_ERR_STUN_NOT_BINDING_REQUEST;  // RFC 8489 §6.3: indications and responses are never answered
  }
  // RFC 8489 §7.3: a FINGERPRINT that does not match means this is not STUN (or is corrupt): drop it.
  if (message.has_fingerprint && !message.fingerprint_valid) return DERP_ERR_STUN_FINGERPRINT;
  const bool fingerprint = wants_fingerprint(options_.fingerprint, message);
  const ClassicTransactionId* classic = message.classic ? &message.classic_transaction_id : nullptr;

  ErrorResponse error;
  error.software = options_.software;
  error.fingerprint = fingerprint;
  error.classic_transaction_id = classic;
  if (bad_value) {
    std::array<char, 64> reason{};
    error.code = kErrorBadRequest;
    error.reason = bad_request_reason(*message.malformed_attribute, reason);
    return build_error_response(message.transaction_id, error, out, length);
  }

  // A 420 names what we do not do (RFC 8489 §6.3.1.1): CHANGE-REQUEST asking for another address or port (we
  // have only the one socket; coturn without RFC 5780 answers the same), then every unknown
  // comprehension-required attribute (RESPONSE-ADDRESS among them, RFC 5389 §12.2). A CHANGE-REQUEST with no flag
  // set asks for nothing and is answered normally, as coturn and stund do.
  AttributeTypeList refused;
  if (message.change_request && (*message.change_request & (kChangeRequestIp | kChangeRequestPort)) != 0) {
    refused.add(kAttrChangeRequest);
  }
  for (std::size_t i = 0; i < message.unknown_required.count; ++i) refused.add(message.unknown_required.types[i]);
  if (refused.count > 0) {
    error.code = kErrorUnknownAttribute;
    error.unknown_attributes = std::span<const std::uint16_t>(refused.types.data(), refused.count);
    return build_error_response(message.transaction_id, error, out, length);
  }

  Builder b(out);
  if (classic != nullptr) {
    // RFC 5389 §12.2: the 16-byte id echoed where the cookie would be, and MAPPED-ADDRESS instead of the XOR form
    // (an RFC 3489 client knows no other). RFC 3489's SOURCE-ADDRESS and CHANGED-ADDRESS are left out: a sans-IO
    // responder does not know the address the request reached, and we have no second one.
    b.begin_classic(kBindingSuccessResponse, *classic);
    b.add_mapped_address(unmap_v4(source));
  } else {
    b.begin(kBindingSuccessResponse, message.transaction_id);
    b.add_xor_mapped_address(unmap_v4(source));
  }
  if (!options_.software.empty()) b.add_software(options_.software);
  if (fingerprint) b.add_fingerprint();
  return b.finish(length);
}

}  // namespace derp::stun
