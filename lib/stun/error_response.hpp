// An error response (RFC 8489 §6.3.1.1, §14.8): ERROR-CODE, UNKNOWN-ATTRIBUTES for a 420, optional SOFTWARE and
// FINGERPRINT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/bytes.hpp"
#include "stun/constants.hpp"

namespace derp::stun {

struct ErrorResponse {
  std::uint16_t method = kMethodBinding;
  int code = kErrorBadRequest;  // 300..699
  std::string_view reason;      // empty: the RFC's phrase for the code
  std::span<const std::uint16_t> unknown_attributes;  // written as UNKNOWN-ATTRIBUTES when not empty
  std::string_view software;    // empty: no SOFTWARE
  bool fingerprint = false;
  // Set for an answer to an RFC 3489 request: this 16-byte id is echoed in place of cookie + transaction id
  // (RFC 5389 §12.2), and the transaction_id argument is not used.
  const ClassicTransactionId* classic_transaction_id = nullptr;
};

// DERP_OK with *length set, or a Builder error code.
int build_error_response(const TransactionId& transaction_id, const ErrorResponse& response, MutableBytes out,
                         std::size_t* length);

}  // namespace derp::stun
