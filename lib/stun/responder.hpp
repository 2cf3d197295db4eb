// A stateless STUN server core: one request in, at most one response out, no I/O (the host owns the socket).
//
// Policy (more generous than Tailscale's servers, which ignore anything without SOFTWARE "tailnode" and a final
// FINGERPRINT): every well-formed RFC 8489 binding request is answered with XOR-MAPPED-ADDRESS in the family the
// client used; a v4-mapped IPv6 source (a dual-stack socket's view of an IPv4 client) is un-mapped first, so an
// IPv4 client gets an IPv4 address. Tailscale's ParseResponse accepts every success response this writes.
// A request without the magic cookie is an RFC 3489 ("classic") one (RFC 5389 §12.2): libnice's
// stun_usage_bind_run and Vovida's stun send them. It is answered with MAPPED-ADDRESS only, its 16-byte
// transaction id echoed where the cookie would be; its declared length must match the datagram exactly.
// A request with an unknown comprehension-required attribute (RESPONSE-ADDRESS included), or a CHANGE-REQUEST
// asking for another address or port, gets a 420 with UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1.1); a CHANGE-REQUEST
// with no flag set is answered normally, as coturn does. A known attribute with an impossible value (a wrong
// length, a bad address family) in an otherwise sound request gets a 400 whose reason phrase names it.
// MESSAGE-INTEGRITY in a request is not checked (the responder holds no credentials) and none is added to the
// response.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/bytes.hpp"
#include "derp/common.h"

namespace derp::stun {

enum class FingerprintPolicy {
  kMirror,  // add FINGERPRINT when the request had one (RFC 8489 §7 suggests matching the client)
  kAlways,
  kNever,
};

struct ResponderOptions {
  FingerprintPolicy fingerprint = FingerprintPolicy::kMirror;
  std::string_view software;  // empty: no SOFTWARE in responses; at most kMaxSoftwareSize bytes
};

// RFC 8489 §14.14: SOFTWARE holds fewer than 128 characters, at most 763 bytes.
constexpr std::size_t kMaxSoftwareSize = 763;
// The largest reply: a 420 naming 16 attributes (20 + ERROR-CODE 28 + UNKNOWN-ATTRIBUTES 36 + FINGERPRINT 8 = 92)
// plus the longest SOFTWARE (4 + 764).
constexpr std::size_t kMaxResponseSize = 92 + 4 + 764;

class BindingResponder {
 public:
  BindingResponder() = default;
  explicit BindingResponder(const ResponderOptions& options) : options_(options) {}

  // DERP_OK with *length set: send out[0..*length) back to `source` (a success, a 400 or a 420). Any other code
  // means send nothing, and says why: DERP_ERR_NOT_STUN, DERP_ERR_TRUNCATED / DERP_ERR_MALFORMED (a broken
  // message: a bad length or attribute walk, a FINGERPRINT that is not 4 bytes),
  // DERP_ERR_STUN_NOT_BINDING_REQUEST (another method, an indication or a response), DERP_ERR_STUN_FINGERPRINT
  // (a FINGERPRINT that does not match: likely not STUN at all), DERP_ERR_BUFFER_TOO_SMALL (out is smaller than
  // the reply; kMaxResponseSize is always enough), DERP_ERR_INVALID_ARGUMENT (source family NONE, or SOFTWARE too
  // long).
  int respond(Bytes request, const derp_addr& source, MutableBytes out, std::size_t* length) const;

 private:
  ResponderOptions options_;
};

}  // namespace derp::stun
