#include "crypto/sodium_init.hpp"

#include <mutex>

#include <sodium.h>

#include "derp/common.h"

namespace derp::crypto {

int ensure_sodium() {
  static std::once_flag once;
  static bool ready = false;
  // sodium_init() returns 0 on first success, 1 when already initialised (e.g. by the host program), -1 on failure.
  std::call_once(once, [] { ready = sodium_init() >= 0; });
  return ready ? DERP_OK : DERP_ERR_CRYPTO_INIT;
}

}  // namespace derp::crypto
