#include "path/sealed_data.hpp"

#include "derp/common.h"

namespace derp::path {

bool is_sealed_data(Bytes d) { return !d.empty() && d[0] == kSealedDataMarker; }

int seal_data(const crypto::SharedKey& key, Bytes data, const crypto::Nonce& nonce, std::vector<std::uint8_t>* out) {
  out->assign(kSealedDataOverhead + data.size(), 0);
  (*out)[0] = kSealedDataMarker;
  const int rc = key.seal(data, MutableBytes(out->data() + 1, out->size() - 1), &nonce);
  if (rc != DERP_OK) out->clear();
  return rc;
}

int open_data(const crypto::SharedKey& key, Bytes d, std::vector<std::uint8_t>* out) {
  if (d.size() < kSealedDataOverhead || !is_sealed_data(d)) return DERP_ERR_BOX_OPEN;
  out->reserve(1);
  out->resize(d.size() - kSealedDataOverhead);
  const int rc = key.open(d.subspan(1), MutableBytes(out->data(), out->size()));
  if (rc != DERP_OK) out->clear();
  return rc;
}

}  // namespace derp::path
