// libsodium must be initialised once before its randomness and box functions are used. Every crypto entry point
// calls ensure_sodium() first, so callers never have to remember.
#pragma once

namespace derp::crypto {

// Runs sodium_init() exactly once per process (thread-safe). DERP_OK, or DERP_ERR_CRYPTO_INIT when libsodium
// could not initialise (then every later call reports the same).
int ensure_sodium();

}  // namespace derp::crypto
