// Where an object draws its random bytes: a function and a user pointer, given in each core's options (client,
// WebSocket stream, netcheck planner, path core, server), so a test can make an object's output deterministic and an
// embedder can supply its own generator. The default (no function) is libsodium's CSPRNG. The same shape as the C
// API's derp_random_fn, so the C wrappers pass a host's callback straight through.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.hpp"

namespace derp::crypto {

// Fills size bytes at out. Must not fail; called on the thread that drives the object.
using RandomFn = void (*)(std::uint8_t* out, std::size_t size, void* user_data);

struct RandomSource {
  RandomFn fill = nullptr;  // nullptr: libsodium's randombytes_buf
  void* user_data = nullptr;

  void operator()(MutableBytes out) const;
  bool is_default() const { return fill == nullptr; }
};

}  // namespace derp::crypto
