// PeerPresent's endpoint on the wire: 16-byte IP (IPv4 written as ::ffff:a.b.c.d, all zero when the server does
// not know it) + 2-byte big-endian port (derpserver.go sendPeerPresent; derp_client.go unmaps on read).
#pragma once

#include <cstdint>

#include "derp/common.h"

namespace derp::frame {

inline constexpr std::size_t kPeerEndpointLen = 16 + 2;

// Reads 18 bytes. IPv4-mapped becomes DERP_AF_INET, all-zero DERP_AF_NONE (port kept), anything else
// DERP_AF_INET6, so that writing the result back gives the same 18 bytes.
derp_addr read_peer_endpoint(const std::uint8_t* p);

// Writes 18 bytes. DERP_OK, or DERP_ERR_INVALID_ARGUMENT for a family other than NONE, INET, INET6.
int write_peer_endpoint(const derp_addr& addr, std::uint8_t* out);

}  // namespace derp::frame
