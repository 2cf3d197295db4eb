// Node keys: the 32-byte Curve25519 keys that name DERP clients and servers
// (reference §0; Tailscale types/key/node.go).
// Raw bytes only here; their text forms live in key_text.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace derp::crypto {

inline constexpr std::size_t kKeyLen = 32;

using KeyBytes = std::array<std::uint8_t, kKeyLen>;

// A public key. Default-constructed it is all zero, which Tailscale treats as "no key".
class NodePublic {
 public:
  NodePublic() = default;
  explicit NodePublic(const KeyBytes& raw) : raw_(raw) {}
  static NodePublic from_raw(const std::uint8_t* raw32);

  const KeyBytes& bytes() const { return raw_; }
  const std::uint8_t* data() const { return raw_.data(); }
  bool is_zero() const;  // constant time

 private:
  KeyBytes raw_{};
};

// Constant-time comparison (sodium_memcmp): keys are compared where timing must not leak which byte differs.
bool operator==(const NodePublic& a, const NodePublic& b);

// A private key. Its bytes are wiped (sodium_memzero) when the object is destroyed; every copy wipes its own.
class NodePrivate {
 public:
  NodePrivate() = default;
  explicit NodePrivate(const KeyBytes& raw) : raw_(raw) {}
  static NodePrivate from_raw(const std::uint8_t* raw32);
  NodePrivate(const NodePrivate&) = default;
  NodePrivate& operator=(const NodePrivate&) = default;
  ~NodePrivate();

  const KeyBytes& bytes() const { return raw_; }
  const std::uint8_t* data() const { return raw_.data(); }
  bool is_zero() const;  // constant time

 private:
  KeyBytes raw_{};
};

bool operator==(const NodePrivate& a, const NodePrivate& b);  // constant time

// Curve25519 clamping exactly as Tailscale's key.NewNode does it (types/key/util.go clamp25519Private).
void clamp(KeyBytes& raw);

// A fresh private key: 32 random bytes, clamped. DERP_OK or DERP_ERR_CRYPTO_INIT.
int generate_private(NodePrivate* out);

// X25519(private, basepoint). The scalar multiplication clamps internally, so Tailscale's unclamped raw test keys
// (keys.json) give their recorded public keys. DERP_ERR_INVALID_ARGUMENT for the zero key (Go panics there).
int public_of(const NodePrivate& private_key, NodePublic* out);

}  // namespace derp::crypto
