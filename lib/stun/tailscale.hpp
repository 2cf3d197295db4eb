// STUN exactly as Tailscale speaks it (net/stun; reference §6): the 40-byte client request, the server's bare
// success response, and Tailscale's two parsers with their exact acceptance rules, so a host can interoperate with
// tailscaled and derper byte for byte.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/bytes.hpp"
#include "derp/common.h"
#include "stun/constants.hpp"

namespace derp::stun {

// The SOFTWARE value Tailscale's clients send and its servers require: 8 bytes, so no padding.
constexpr std::string_view kTailscaleSoftware = "tailnode";
// Header + SOFTWARE(4 + 8) + FINGERPRINT(4 + 4).
constexpr std::size_t kTailscaleRequestSize = 40;

// Reference §6.1: binding request, SOFTWARE "tailnode" first (the XDP server insists on that order), then
// FINGERPRINT. DERP_OK with *length = 40, or DERP_ERR_BUFFER_TOO_SMALL.
int build_tailscale_request(const TransactionId& transaction_id, MutableBytes out, std::size_t* length);

// Reference §6.2: a binding success response with a single XOR-MAPPED-ADDRESS in the family given (a v4-mapped
// IPv6 address stays family 2 with 16 bytes, as a dual-stack Go server sends it). Without FINGERPRINT the bytes
// equal Tailscale's stun.Response. DERP_OK with *length set (32 or 44, +8 with the fingerprint),
// DERP_ERR_INVALID_ARGUMENT for family NONE (Go returns nil there), or DERP_ERR_BUFFER_TOO_SMALL.
int build_binding_response(const TransactionId& transaction_id, const derp_addr& address, bool with_fingerprint,
                           MutableBytes out, std::size_t* length);

struct BindingResult {
  TransactionId transaction_id{};
  derp_addr address{};
};

// Tailscale's ParseResponse, rule for rule (reference §6.4): Tailscale's loose header check; type exactly 0x0101;
// attributes walked up to the declared length (later bytes ignored); the last XOR-MAPPED-ADDRESS (0x0020 or
// 0x8020) wins, MAPPED-ADDRESS only as a fallback; the result un-mapped to IPv4. FINGERPRINT and unknown
// attributes are not checked. Codes:
//   DERP_OK                               address and transaction id set
//   DERP_ERR_NOT_STUN                     no STUN header (Tailscale: ErrNotSTUN)
//   DERP_ERR_STUN_NOT_SUCCESS_RESPONSE    type is not 0x0101 (ErrNotSuccessResponse)
//   DERP_ERR_MALFORMED                    length past the data, broken attribute walk, bad address (ErrMalformedAttrs)
//   DERP_ERR_STUN_NO_ADDRESS              well formed but no address (Tailscale reports ErrMalformedAttrs)
// Whenever the header passed, out->transaction_id is set even on failure (handy for logs); out->address is set
// only on success.
int parse_binding_response(Bytes message, BindingResult* out);

// Tailscale's ParseBindingRequest, rule for rule, for hosts that want its strictness (derper answers nothing
// else): loose header check; type exactly 0x0001; like Tailscale, the attribute walk covers the whole datagram
// (the declared length is not consulted); some SOFTWARE equal to "tailnode"; the last attribute a FINGERPRINT whose
// CRC over everything before its 8 bytes matches. Codes:
//   DERP_OK                              *transaction_id set
//   DERP_ERR_NOT_STUN                    (ErrNotSTUN)
//   DERP_ERR_STUN_NOT_BINDING_REQUEST    (ErrNotBindingRequest)
//   DERP_ERR_MALFORMED                   (ErrMalformedAttrs)
//   DERP_ERR_STUN_WRONG_SOFTWARE         SOFTWARE is not "tailnode" (ErrWrongSoftware)
//   DERP_ERR_STUN_NO_FINGERPRINT         the last attribute is not a FINGERPRINT (ErrNoFingerprint)
//   DERP_ERR_STUN_FINGERPRINT            a wrong FINGERPRINT (ErrWrongFingerprint)
int parse_tailscale_binding_request(Bytes message, TransactionId* transaction_id);

}  // namespace derp::stun
