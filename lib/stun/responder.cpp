#include "stun/responder.hpp"

#include <span>

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

}  // namespace

int BindingResponder::respond(Bytes request, const derp_addr& source, MutableBytes out, std::size_t* length) const {
  if (length == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (source.family != DERP_AF_INET && source.family != DERP_AF_INET6) return DERP_ERR_INVALID_ARGUMENT;
  if (options_.software.size() > kMaxSoftwareSize) return DERP_ERR_INVALID_ARGUMENT;

  Message message;
  if (const int rc = parse(request, &message); rc != DERP_OK) return rc;
  if (message.method != kMethodBinding || message.message_class != MessageClass::kRequest) {
    return DERP_ERR_STUN_NOT_BINDING_REQUEST;  // RFC 8489 §6.3: indications and responses are never answered
  }
  // RFC 8489 §7.3: a FINGERPRINT that does not match means this is not STUN (or is corrupt): drop it.
  if (message.has_fingerprint && !message.fingerprint_valid) return DERP_ERR_STUN_FINGERPRINT;
  const bool fingerprint = wants_fingerprint(options_.fingerprint, message);

  if (message.unknown_required.count > 0) {
    ErrorResponse error;
    error.code = kErrorUnknownAttribute;
    error.unknown_attributes = std::span<const std::uint16_t>(message.unknown_required.types.data(),
                                                              message.unknown_required.count);
    error.software = options_.software;
    error.fingerprint = fingerprint;
    return build_error_response(message.transaction_id, error, out, length);
  }

  Builder b(out);
  b.begin(kBindingSuccessResponse, message.transaction_id);
  b.add_xor_mapped_address(unmap_v4(source));
  if (!options_.software.empty()) b.add_software(options_.software);
  if (fingerprint) b.add_fingerprint();
  return b.finish(length);
}

}  // namespace derp::stun
