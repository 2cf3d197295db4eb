// MAPPED-ADDRESS and XOR-MAPPED-ADDRESS values (RFC 8489 §14.1, §14.2): a zero byte, the family (1 = IPv4,
// 2 = IPv6), the port, then 4 or 16 address bytes. The XOR form masks the port with the cookie's top 16 bits and
// the address with cookie ‖ transaction id.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.hpp"
#include "derp/common.h"
#include "stun/constants.hpp"

namespace derp::stun {

// DERP_OK, or DERP_ERR_MALFORMED when the family is neither 1 nor 2 or the value is too short for it. Like
// Tailscale's parser, bytes after the address are tolerated and the first (reserved) byte is ignored.
int decode_mapped_address(Bytes value, derp_addr* out);
int decode_xor_mapped_address(Bytes value, const TransactionId& transaction_id, derp_addr* out);

// 8 for IPv4, 20 for IPv6, 0 for any other family. The address is written as given: a v4-mapped IPv6 address
// stays family 2 with 16 bytes (which is what Tailscale's stun.Response does).
std::size_t address_value_size(const derp_addr& addr);

// Write address_value_size(addr) bytes.
void encode_mapped_address(const derp_addr& addr, std::uint8_t* out);
void encode_xor_mapped_address(const derp_addr& addr, const TransactionId& transaction_id, std::uint8_t* out);

}  // namespace derp::stun
