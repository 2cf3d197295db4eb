#include "crypto/node_key.hpp"

#include <cstring>

#include <sodium.h>

#include "crypto/sodium_init.hpp"
#include "derp/common.h"

namespace derp::crypto {

NodePublic NodePublic::from_raw(const std::uint8_t* raw32) {
  KeyBytes raw;
  std::memcpy(raw.data(), raw32, kKeyLen);
  return NodePublic(raw);
}

bool NodePublic::is_zero() const { return sodium_is_zero(raw_.data(), raw_.size()) == 1; }

bool operator==(const NodePublic& a, const NodePublic& b) {
  return sodium_memcmp(a.data(), b.data(), kKeyLen) == 0;
}

NodePrivate NodePrivate::from_raw(const std::uint8_t* raw32) {
  NodePrivate key;
  std::memcpy(key.raw_.data(), raw32, kKeyLen);
  return key;
}

NodePrivate::~NodePrivate() { sodium_memzero(raw_.data(), raw_.size()); }

bool NodePrivate::is_zero() const { return sodium_is_zero(raw_.data(), raw_.size()) == 1; }

bool operator==(const NodePrivate& a, const NodePrivate& b) {
  return sodium_memcmp(a.data(), b.data(), kKeyLen) == 0;
}

void clamp(KeyBytes& raw) {
  raw[0] &= 248;
  raw[31] = static_cast<std::uint8_t>((raw[31] & 127) | 64);
}

int generate_private(NodePrivate* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (const int rc = ensure_sodium(); rc != DERP_OK) return rc;
  KeyBytes raw;
  randombytes_buf(raw.data(), raw.size());
  clamp(raw);
  *out = NodePrivate(raw);
  sodium_memzero(raw.data(), raw.size());
  return DERP_OK;
}

int public_of(const NodePrivate& private_key, NodePublic* out) {
  if (out == nullptr || private_key.is_zero()) return DERP_ERR_INVALID_ARGUMENT;
  if (const int rc = ensure_sodium(); rc != DERP_OK) return rc;
  KeyBytes pub;
  if (crypto_scalarmult_curve25519_base(pub.data(), private_key.data()) != 0) return DERP_ERR_INVALID_ARGUMENT;
  *out = NodePublic(pub);
  return DERP_OK;
}

}  // namespace derp::crypto
