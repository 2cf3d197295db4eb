#include "disco/packet.hpp"

#include <cstring>

#include "derp/common.h"

namespace derp::disco {

bool claims(Bytes datagram) {
  return datagram.size() >= kClaimLen && std::memcmp(datagram.data(), kMagic, kMagicLen) == 0;
}

bool looks_like_wrapper(Bytes datagram) {
  return datagram.size() >= kHeaderLen && std::memcmp(datagram.data(), kMagic, kMagicLen) == 0;
}

crypto::NodePublic sender_of(Bytes datagram) {
  return crypto::NodePublic::from_raw(datagram.data() + kSenderOffset);
}

int seal(const crypto::NodePublic& own_disco_public, const crypto::SharedKey& shared, Bytes payload,
         const crypto::Nonce& nonce, std::vector<std::uint8_t>* out) {
  out->assign(packet_size(payload.size()), 0);
  std::memcpy(out->data(), kMagic, kMagicLen);
  std::memcpy(out->data() + kSenderOffset, own_disco_public.data(), crypto::kKeyLen);
  // The box's own layout (nonce | tag | ciphertext) is exactly what follows the 38-byte header.
  const int rc = shared.seal(payload, MutableBytes(out->data() + kClaimLen, out->size() - kClaimLen), &nonce);
  if (rc != DERP_OK) out->clear();
  return rc;
}

int open(const crypto::SharedKey& shared, Bytes packet, std::vector<std::uint8_t>* payload) {
  if (packet.size() < kMinOpenableLen) return DERP_ERR_BOX_OPEN;
  payload->reserve(1);  // a non-null buffer even for an empty payload
  payload->resize(packet.size() - kMinOpenableLen);
  const int rc = shared.open(packet.subspan(kClaimLen), MutableBytes(payload->data(), payload->size()));
  if (rc != DERP_OK) payload->clear();
  return rc;
}

}  // namespace derp::disco
