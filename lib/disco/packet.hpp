// The disco packet: what travels in a UDP datagram or as a DERP packet payload (Tailscale disco/disco.go,
// reference disco-protocol.md §2-§3).
//
//   offset 0   6  magic 54 53 f0 9f 92 ac ("TS💬")
//          6  32  sender's disco public key
//         38  24  nonce
//         62  16  Poly1305 tag  } crypto_box(payload, nonce, receiver disco public, sender disco private)
//         78   n  ciphertext    }
//
// The nonce is the caller's (24 bytes from its random source): this module draws no randomness, so the path core
// stays sans-IO and its tests deterministic. Never reuse a nonce with the same pair of keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bytes.hpp"
#include "crypto/box.hpp"
#include "crypto/node_key.hpp"

namespace derp::disco {

inline constexpr std::uint8_t kMagic[6] = {0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac};
inline constexpr std::size_t kMagicLen = sizeof kMagic;
inline constexpr std::size_t kSenderOffset = kMagicLen;                           // 6
inline constexpr std::size_t kClaimLen = kMagicLen + crypto::kKeyLen;             // 38
inline constexpr std::size_t kHeaderLen = kClaimLen + crypto::kNonceLen;          // 62
inline constexpr std::size_t kMinOpenableLen = kHeaderLen + crypto::kMacLen;      // 78

// magicsock's receive test (handleDiscoMessage): 38 bytes or more starting with the magic. A datagram that passes
// is disco and never data, even when it later fails to open or parse.
bool claims(Bytes datagram);

// disco.LooksLikeDiscoWrapper: 62 bytes or more starting with the magic.
bool looks_like_wrapper(Bytes datagram);

// The sender's disco public key (bytes 6..37). Only for a datagram that claims().
crypto::NodePublic sender_of(Bytes datagram);

// The packet size for a payload of n bytes.
constexpr std::size_t packet_size(std::size_t payload_len) { return kMinOpenableLen + payload_len; }

// Writes magic | own disco public key | nonce | box(payload) into *out (replacing its contents).
// shared is crypto_box_beforenm(own disco private, receiver disco public). DERP_OK or the box's error.
int seal(const crypto::NodePublic& own_disco_public, const crypto::SharedKey& shared, Bytes payload,
         const crypto::Nonce& nonce, std::vector<std::uint8_t>* out);

// Opens a packet that claims() with the pair's shared key into *payload. DERP_ERR_BOX_OPEN when it is too short to
// hold a tag, was sealed with other keys, or was altered.
int open(const crypto::SharedKey& shared, Bytes packet, std::vector<std::uint8_t>* payload);

}  // namespace derp::disco
