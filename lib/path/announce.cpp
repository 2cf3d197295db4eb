#include "path/announce.hpp"

#include <cstring>

#include "derp/common.h"

namespace derp::path {

bool is_announcement(Bytes p) {
  return p.size() >= sizeof kAnnounceMagic && std::memcmp(p.data(), kAnnounceMagic, sizeof kAnnounceMagic) == 0;
}

int seal_announcement(const crypto::SharedKey& node_pair, const Announcement& a, const crypto::Nonce& nonce,
                      std::vector<std::uint8_t>* out) {
  std::uint8_t body[kAnnounceBodyLen];
  body[0] = kAnnounceVersion;
  body[1] = a.reply_wanted ? kAnnounceReplyWanted : 0;
  std::memcpy(body + 2, a.disco.data(), crypto::kKeyLen);
  out->assign(kAnnounceLen, 0);
  std::memcpy(out->data(), kAnnounceMagic, sizeof kAnnounceMagic);
  const int rc = node_pair.seal(Bytes(body, sizeof body),
                                MutableBytes(out->data() + sizeof kAnnounceMagic, out->size() - sizeof kAnnounceMagic),
                                &nonce);
  if (rc != DERP_OK) out->clear();
  return rc;
}

int open_announcement(const crypto::SharedKey& node_pair, Bytes p, Announcement* out) {
  if (p.size() != kAnnounceLen || !is_announcement(p)) return DERP_ERR_MALFORMED;
  std::uint8_t body[kAnnounceBodyLen];
  if (const int rc = node_pair.open(p.subspan(sizeof kAnnounceMagic), MutableBytes(body, sizeof body)); rc != DERP_OK) {
    return rc;
  }
  if (body[0] != kAnnounceVersion) return DERP_ERR_MALFORMED;
  out->reply_wanted = (body[1] & kAnnounceReplyWanted) != 0;
  out->disco = crypto::NodePublic::from_raw(body + 2);
  if (out->disco.is_zero()) return DERP_ERR_MALFORMED;
  return DERP_OK;
}

}  // namespace derp::path
