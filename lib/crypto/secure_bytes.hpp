// Comparing and wiping secrets through libsodium, for modules that do not see libsodium themselves (a mesh key in
// lib/server, ...).
#pragma once

#include "common/bytes.hpp"

namespace derp::crypto {

// Whether a and b hold the same bytes, in time that depends only on their sizes (sodium_memcmp). Different sizes:
// false at once (sizes are not secret).
bool equal_in_constant_time(Bytes a, Bytes b);

// Overwrites the bytes with zeros in a way the compiler cannot drop (sodium_memzero).
void wipe(MutableBytes secret);

}  // namespace derp::crypto
