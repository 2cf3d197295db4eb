#include "stun/error_response.hpp"

#include "stun/builder.hpp"
#include "stun/header.hpp"

namespace derp::stun {

int build_error_response(const TransactionId& transaction_id, const ErrorResponse& response, MutableBytes out,
                         std::size_t* length) {
  Builder b(out);
  if (response.method > 0x0FFF) return DERP_ERR_INVALID_ARGUMENT;  // 12 method bits (RFC 8489 §5)
  const std::uint16_t type = message_type(response.method, MessageClass::kErrorResponse);
  if (response.classic_transaction_id != nullptr) {
    b.begin_classic(type, *response.classic_transaction_id);
  } else {
    b.begin(type, transaction_id);
  }
  b.add_error_code(response.code, response.reason);
  if (!response.unknown_attributes.empty()) b.add_unknown_attributes(response.unknown_attributes);
  if (!response.software.empty()) b.add_software(response.software);
  if (response.fingerprint) b.add_fingerprint();
  return b.finish(length);
}

}  // namespace derp::stun
