// A binding request with the attributes a client commonly sends (RFC 8489 §6.1, §9), in a fixed order:
// SOFTWARE, USERNAME, REALM, NONCE, MESSAGE-INTEGRITY, FINGERPRINT.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "common/bytes.hpp"
#include "stun/constants.hpp"

namespace derp::stun {

struct RequestOptions {
  std::string_view software;  // empty: no SOFTWARE
  std::string_view username;  // empty: no USERNAME
  std::string_view realm;     // empty: no REALM (long-term credentials, RFC 8489 §9.2)
  std::string_view nonce;     // empty: no NONCE
  std::optional<Bytes> integrity_key;  // MESSAGE-INTEGRITY with this key when set
  bool fingerprint = true;    // RFC 8489 §7: recommended whenever STUN shares a port with other protocols
};

// DERP_OK with *length set, or a Builder error code (DERP_ERR_BUFFER_TOO_SMALL, DERP_ERR_INVALID_ARGUMENT, ...).
int build_request(const TransactionId& transaction_id, const RequestOptions& options, MutableBytes out,
                  std::size_t* length);

}  // namespace derp::stun
