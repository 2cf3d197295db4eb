// NaCl crypto_box (X25519 + XSalsa20-Poly1305) in the layout Tailscale's key.NodePrivate.SealTo / OpenFrom use
// (types/key/node.go; reference §3):
//
//   sealed = nonce(24) ‖ MAC(16) ‖ ciphertext(len(plaintext))
//
// Buffers are the caller's; the output must not overlap the input. The nonce is random (randombytes_buf) unless a
// fixed one is passed, which only tests should do: reusing a nonce with the same key pair breaks the box.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bytes.hpp"
#include "crypto/node_key.hpp"

namespace derp::crypto {

inline constexpr std::size_t kNonceLen = 24;
inline constexpr std::size_t kMacLen = 16;
inline constexpr std::size_t kBoxOverhead = kNonceLen + kMacLen;  // 40

using Nonce = std::array<std::uint8_t, kNonceLen>;

constexpr std::size_t sealed_size(std::size_t plaintext_len) { return plaintext_len + kBoxOverhead; }

// Seals plaintext from sender to recipient into out[0 .. sealed_size(plaintext.size())).
// DERP_ERR_BUFFER_TOO_SMALL when out is shorter; DERP_ERR_INVALID_ARGUMENT for a zero private key, a zero public key
// or a public key whose shared secret is zero (a low-order point, which libsodium refuses).
int seal(const NodePrivate& sender, const NodePublic& recipient, Bytes plaintext, MutableBytes out,
         const Nonce* fixed_nonce = nullptr);
int seal(const NodePrivate& sender, const NodePublic& recipient, Bytes plaintext, std::vector<std::uint8_t>* out,
         const Nonce* fixed_nonce = nullptr);

// Opens a sealed value into out[0 .. sealed.size() - 40). DERP_ERR_BOX_OPEN when it is shorter than 40 bytes, was
// not sealed by sender for recipient, or was altered; DERP_ERR_BUFFER_TOO_SMALL; DERP_ERR_INVALID_ARGUMENT for a
// zero private key. A zero or low-order sender key (it comes from the wire) is DERP_ERR_BOX_OPEN.
int open(const NodePrivate& recipient, const NodePublic& sender, Bytes sealed, MutableBytes out);
int open(const NodePrivate& recipient, const NodePublic& sender, Bytes sealed, std::vector<std::uint8_t>* out);

// The precomputed key of one pair (crypto_box_beforenm: HSalsa20 of the X25519 shared secret), for a side that
// seals or opens many boxes with the same peer. Same layout and results as seal/open. Wiped on destruction.
class SharedKey {
 public:
  SharedKey() = default;
  SharedKey(const SharedKey&) = default;
  SharedKey& operator=(const SharedKey&) = default;
  ~SharedKey();

  // DERP_ERR_INVALID_ARGUMENT for a zero private key or a zero / low-order peer key.
  static int derive(const NodePrivate& mine, const NodePublic& theirs, SharedKey* out);

  int seal(Bytes plaintext, MutableBytes out, const Nonce* fixed_nonce = nullptr) const;
  int open(Bytes sealed, MutableBytes out) const;

  const KeyBytes& bytes() const { return key_; }  // for tests against Go's box.Precompute

 private:
  KeyBytes key_{};
};

}  // namespace derp::crypto
