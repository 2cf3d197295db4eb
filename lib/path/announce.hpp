// The disco announcement: how a node without a control plane tells a peer its disco public key, over DERP, sealed
// with the two node keys (docs/disco-announce.md says why this is safe).
//
//   offset 0  6  magic 4c 44 f0 9f 94 91 ("LD🔑")
//          6 24  nonce
//         30 16  Poly1305 tag } crypto_box(body, nonce, receiver node public, sender node private)
//         46 34  ciphertext   }   body = version (1, = 1) | flags (1; bit 0: please announce back) | disco public (32)
//
// 80 bytes. The sender's node key is not in the packet: DERP delivers it as the packet's source, and the box only
// opens with that key, so a relay cannot forge or alter an announcement.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bytes.hpp"
#include "crypto/box.hpp"
#include "crypto/node_key.hpp"

namespace derp::path {

inline constexpr std::uint8_t kAnnounceMagic[6] = {0x4c, 0x44, 0xf0, 0x9f, 0x94, 0x91};
inline constexpr std::uint8_t kAnnounceVersion = 1;
inline constexpr std::uint8_t kAnnounceReplyWanted = 0x01;
inline constexpr std::size_t kAnnounceBodyLen = 2 + crypto::kKeyLen;
inline constexpr std::size_t kAnnounceLen = sizeof kAnnounceMagic + crypto::sealed_size(kAnnounceBodyLen);  // 80

struct Announcement {
  crypto::NodePublic disco;
  bool reply_wanted = false;
};

// Starts with the magic (any length): the DERP payload is an announcement and never data.
bool is_announcement(Bytes derp_payload);

int seal_announcement(const crypto::SharedKey& node_pair, const Announcement& a, const crypto::Nonce& nonce,
                      std::vector<std::uint8_t>* out);

// DERP_ERR_MALFORMED for a wrong length or version or a zero disco key; DERP_ERR_BOX_OPEN when it does not open.
int open_announcement(const crypto::SharedKey& node_pair, Bytes packet, Announcement* out);

}  // namespace derp::path
