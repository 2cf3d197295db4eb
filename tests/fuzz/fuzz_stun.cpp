// Fuzz target: every STUN entry point that reads bytes from the wire, with the invariants a parse must keep.
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "common/bytes.hpp"
#include "derp/common.h"
#include "stun/header.hpp"
#include "stun/integrity.hpp"
#include "stun/message.hpp"
#include "stun/responder.hpp"
#include "stun/tailscale.hpp"

namespace {

using derp::Bytes;
namespace stun = derp::stun;

void require(bool condition) {
  if (!condition) std::abort();
}

// A view must be absent or lie inside the message's declared extent.
void require_inside(const std::optional<Bytes>& view, Bytes message) {
  if (!view) return;
  require(view->data() >= message.data());
  require(view->data() + view->size() <= message.data() + message.size());
}

// What parse() or parse_classic() filled in, on success or on a malformed attribute value (which promises the
// same fields).
void check_parsed(Bytes input, const stun::Message& m) {
  require(m.classic ? stun::has_classic_header(input) && m.length == input.size() : stun::is_stun(input));
  require(m.length >= stun::kHeaderSize && m.length <= input.size() && m.length % 4 == 0);
  const Bytes message = input.first(m.length);
  require_inside(m.software, message);
  require_inside(m.username, message);
  require_inside(m.realm, message);
  require_inside(m.nonce, message);
  if (m.error_code) {
    require(m.error_code->code >= 300 && m.error_code->code <= 699);
    require_inside(m.error_code->reason, message);
  }
  if (m.unknown_attributes) require(m.unknown_attributes->count <= stun::kMaxUnknownAttributes);
  require(m.unknown_required.count <= stun::kMaxUnknownAttributes);
  for (std::size_t i = 0; i < m.unknown_required.count; ++i) require(m.unknown_required.types[i] < 0x8000);
  if (m.has_message_integrity) {
    require(m.message_integrity_offset >= stun::kHeaderSize);
    require(m.message_integrity_offset + 24 <= m.length);
  }
  require(m.fingerprint_valid ? m.has_fingerprint : true);
  for (const auto& a : {m.mapped_address, m.xor_mapped_address}) {
    if (a) require(a->family == DERP_AF_INET || a->family == DERP_AF_INET6);
  }
}

// parse()'s result as the responder takes it: sound, or sound but for one attribute's value.
bool readable(int rc, const stun::Message& m) {
  return rc == DERP_OK || (rc == DERP_ERR_MALFORMED && m.malformed_attribute.has_value());
}

// The responder's promise: every binding request it can read and whose FINGERPRINT (if any) matches gets a reply.
bool answerable(int rc, const stun::Message& m) {
  return readable(rc, m) && m.type == stun::kBindingRequest && (!m.has_fingerprint || m.fingerprint_valid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Bytes input(data, size);
  const bool looks_like_stun = stun::is_stun(input);

  stun::Message m;
  const int rc = stun::parse(input, &m);
  if (!looks_like_stun) require(rc != DERP_OK);
  if (rc == DERP_ERR_MALFORMED && m.malformed_attribute) check_parsed(input, m);
  if (rc == DERP_OK) {
    check_parsed(input, m);
    static const std::uint8_t kKey[] = {'f', 'u', 'z', 'z'};
    const int integrity = stun::verify_integrity(input, m, Bytes(kKey, sizeof kKey));
    require(integrity == DERP_OK || integrity == DERP_ERR_STUN_INTEGRITY || integrity == DERP_ERR_STUN_NO_INTEGRITY);
    require(m.has_message_integrity == (integrity != DERP_ERR_STUN_NO_INTEGRITY));
  }

  stun::BindingResult result;
  const int response = stun::parse_binding_response(input, &result);
  if (response == DERP_OK) {
    require(result.address.family == DERP_AF_INET || result.address.family == DERP_AF_INET6);
    require(stun::has_stun_header(input));
  }

  stun::TransactionId txid{};
  if (stun::parse_tailscale_binding_request(input, &txid) == DERP_OK) {
    require(stun::has_stun_header(input));
    require(txid == stun::transaction_id_of(input));
  }

  // RFC 3489 messages: never both forms at once; a classic parse keeps its own invariants.
  stun::Message cm;
  const bool classic = stun::has_classic_header(input);
  require(!(classic && looks_like_stun));
  const int classic_rc = stun::parse_classic(input, &cm);
  if (!classic) require(classic_rc == DERP_ERR_NOT_STUN);
  if (readable(classic_rc, cm)) {
    check_parsed(input, cm);
    require(cm.classic && stun::classic_transaction_id_of(input) == cm.classic_transaction_id);
  }
  const stun::Message& request = classic ? cm : m;
  const bool expect_answer = classic ? answerable(classic_rc, cm) : answerable(rc, m);

  // The responder, in both families; any reply it writes must parse, and a success reply must be readable by
  // Tailscale's client parser and carry the source address back.
  const derp_addr sources[] = {
      {DERP_AF_INET, 0, 3478, {203, 0, 113, 9}},
      {DERP_AF_INET6, 0, 1, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
  };
  for (const derp_addr& source : sources) {
    std::uint8_t out[stun::kMaxResponseSize];
    std::size_t len = 0;
    const int answered = stun::BindingResponder().respond(input, source, out, &len);
    require((answered == DERP_OK) == expect_answer);
    if (answered != DERP_OK) continue;
    stun::Message reply;
    if (classic) {
      // Answered in kind: the 16-byte id echoed, MAPPED-ADDRESS and never the XOR form (RFC 5389 §12.2).
      require(stun::parse_classic(Bytes(out, len), &reply) == DERP_OK);
      require(reply.classic_transaction_id == request.classic_transaction_id);
      require(!reply.xor_mapped_address);
      if (reply.message_class == stun::MessageClass::kSuccessResponse) {
        require(reply.mapped_address && reply.mapped_address->family == source.family &&
                reply.mapped_address->port == source.port);
      }
    } else {
      require(stun::parse(Bytes(out, len), &reply) == DERP_OK);
      require(reply.transaction_id == request.transaction_id);
      if (reply.message_class == stun::MessageClass::kSuccessResponse) {
        stun::BindingResult read;
        require(stun::parse_binding_response(Bytes(out, len), &read) == DERP_OK);
        require(read.address.family == source.family && read.address.port == source.port);
      }
    }
    if (reply.message_class != stun::MessageClass::kSuccessResponse) {
      require(reply.message_class == stun::MessageClass::kErrorResponse);
      // 400 exactly when a value was malformed; otherwise a 420.
      require(reply.error_code && reply.error_code->code == (request.malformed_attribute ? 400 : 420));
    }
  }
  return 0;
}
