#include "crypto/random.hpp"

#include <sodium.h>

#include "crypto/sodium_init.hpp"

namespace derp::crypto {

void RandomSource::operator()(MutableBytes out) const {
  if (out.empty()) return;
  if (fill != nullptr) {
    fill(out.data(), out.size(), user_data);
    return;
  }
  // ensure_sodium only fails when libsodium cannot initialise at all; randombytes_buf still works then (it seeds
  // itself on first use), so there is nothing better to do with the error here.
  (void)ensure_sodium();
  randombytes_buf(out.data(), out.size());
}

}  // namespace derp::crypto
