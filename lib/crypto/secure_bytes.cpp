#include "crypto/secure_bytes.hpp"

#include <sodium.h>

namespace derp::crypto {

bool equal_in_constant_time(Bytes a, Bytes b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(MutableBytes secret) {
  if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
}

}  // namespace derp::crypto
