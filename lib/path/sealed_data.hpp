// A sealed direct-path data datagram (Options::seal_data): the host's bytes in a NaCl box under the pair's
// precomputed disco key, so a datagram that did not come from the peer fails to open and is dropped.
//
//   offset 0  1  0xd5 (top bits 11: never STUN, whose first two bits are 0; never disco, which starts 0x54)
//          1 24  nonce (from the caller's random source)
//         25 16  Poly1305 tag
//         41  n  ciphertext of the host's bytes
//
// The sender is not named in the datagram: the receiver knows which peer a source ip:port belongs to from disco
// (Pings and Pongs seen from it) and opens with that peer's key only. No replay window: an attacker who captured a
// datagram can resend it (hosts that need replay protection carry their own, as WireGuard does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bytes.hpp"
#include "crypto/box.hpp"

namespace derp::path {

inline constexpr std::uint8_t kSealedDataMarker = 0xd5;
inline constexpr std::size_t kSealedDataOverhead = 1 + crypto::kBoxOverhead;  // 41

bool is_sealed_data(Bytes datagram);

int seal_data(const crypto::SharedKey& key, Bytes data, const crypto::Nonce& nonce, std::vector<std::uint8_t>* out);

// DERP_ERR_BOX_OPEN when it does not open (or is not a sealed datagram).
int open_data(const crypto::SharedKey& key, Bytes datagram, std::vector<std::uint8_t>* out);

}  // namespace derp::path
