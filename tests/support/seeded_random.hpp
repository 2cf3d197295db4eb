// A deterministic crypto::RandomSource for tests: a splitmix64 stream from a seed, so two objects given the same
// seed draw the same bytes, and a count of what was drawn. Not random in any sense that matters outside tests.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crypto/random.hpp"

namespace derp::test {

class SeededRandom {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}

  // Valid while this object lives; it must outlive every object given the source.
  crypto::RandomSource source() { return crypto::RandomSource{&SeededRandom::fill, this}; }
  std::size_t bytes_drawn() const { return bytes_drawn_; }
  std::size_t draws() const { return draws_; }

 private:
  static void fill(std::uint8_t* out, std::size_t size, void* user_data) {
    auto* self = static_cast<SeededRandom*>(user_data);
    self->draws_++;
    self->bytes_drawn_ += size;
    for (std::size_t i = 0; i < size; ++i) {
      if (self->left_ == 0) {
        self->word_ = self->next();
        self->left_ = 8;
      }
      out[i] = static_cast<std::uint8_t>(self->word_);
      self->word_ >>= 8;
      self->left_--;
    }
  }
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  std::uint64_t state_;
  std::uint64_t word_ = 0;
  int left_ = 0;
  std::size_t bytes_drawn_ = 0;
  std::size_t draws_ = 0;
};

}  // namespace derp::test
