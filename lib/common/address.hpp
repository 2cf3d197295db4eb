// derp_addr helpers shared by the STUN codec, the frame codec (PeerPresent) and, later, the drivers.
#pragma once

#include <string>

#include "derp/common.h"

namespace derp {

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) turned into plain IPv4; anything else unchanged. Tailscale's STUN
// parser does the same, and a dual-stack socket reports IPv4 peers this way.
derp_addr unmap_v4(const derp_addr& addr);

// The 16-byte form used on the DERP wire (PeerPresent): IPv4 written as ::ffff:a.b.c.d, zero when family is NONE.
void addr_to_16(const derp_addr& addr, std::uint8_t out[16]);

// "1.2.3.4:5" / "[2001:db8::1]:5"; "" for DERP_AF_NONE.
std::string format_addr(const derp_addr& addr);

// Parses the forms format_addr writes. DERP_OK or DERP_ERR_ADDRESS.
int parse_addr(const char* text, derp_addr* out);

derp_addr make_addr_v4(const std::uint8_t ip[4], std::uint16_t port);
derp_addr make_addr_v6(const std::uint8_t ip[16], std::uint16_t port);

bool operator==(const derp_addr& a, const derp_addr& b);

}  // namespace derp
