#include "crypto/box.hpp"

#include <cstring>

#include <sodium.h>

#include "crypto/sodium_init.hpp"
#include "derp/common.h"

namespace derp::crypto {

static_assert(crypto_box_NONCEBYTES == kNonceLen);
static_assert(crypto_box_MACBYTES == kMacLen);
static_assert(crypto_box_PUBLICKEYBYTES == kKeyLen && crypto_box_SECRETKEYBYTES == kKeyLen);
static_assert(crypto_box_BEFORENMBYTES == kKeyLen);

namespace {

// Writes the nonce to the front of out: the given one, or fresh random bytes.
void put_nonce(std::uint8_t* out, const Nonce* fixed_nonce) {
  if (fixed_nonce != nullptr) {
    std::memcpy(out, fixed_nonce->data(), kNonceLen);
  } else {
    randombytes_buf(out, kNonceLen);
  }
}

}  // namespace

int seal(const NodePrivate& sender, const NodePublic& recipient, Bytes plaintext, MutableBytes out,
         const Nonce* fixed_nonce) {
  if (sender.is_zero() || recipient.is_zero()) return DERP_ERR_INVALID_ARGUMENT;
  if (out.size() < sealed_size(plaintext.size())) return DERP_ERR_BUFFER_TOO_SMALL;
  if (const int rc = ensure_sodium(); rc != DERP_OK) return rc;
  put_nonce(out.data(), fixed_nonce);
  // crypto_box_easy writes MAC ‖ ciphertext; it refuses (-1) a peer key whose shared secret is all zero.
  if (crypto_box_easy(out.data() + kNonceLen, plaintext.data(), plaintext.size(), out.data(), recipient.data(),
                      sender.data()) != 0) {
    return DERP_ERR_INVALID_ARGUMENT;
  }
  return DERP_OK;
}

int seal(const NodePrivate& sender, const NodePublic& recipient, Bytes plaintext, std::vector<std::uint8_t>* out,
         const Nonce* fixed_nonce) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  out->resize(sealed_size(plaintext.size()));
  const int rc = seal(sender, recipient, plaintext, MutableBytes(*out), fixed_nonce);
  if (rc != DERP_OK) out->clear();
  return rc;
}

int open(const NodePrivate& recipient, const NodePublic& sender, Bytes sealed, MutableBytes out) {
  if (recipient.is_zero()) return DERP_ERR_INVALID_ARGUMENT;
  if (sealed.size() < kBoxOverhead) return DERP_ERR_BOX_OPEN;
  if (out.size() < sealed.size() - kBoxOverhead) return DERP_ERR_BUFFER_TOO_SMALL;
  if (const int rc = ensure_sodium(); rc != DERP_OK) return rc;
  if (crypto_box_open_easy(out.data(), sealed.data() + kNonceLen, sealed.size() - kNonceLen, sealed.data(),
                           sender.data(), recipient.data()) != 0) {
    return DERP_ERR_BOX_OPEN;
  }
  return DERP_OK;
}

int open(const NodePrivate& recipient, const NodePublic& sender, Bytes sealed, std::vector<std::uint8_t>* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  out->resize(sealed.size() < kBoxOverhead ? 0 : sealed.size() - kBoxOverhead);
  const int rc = open(recipient, sender, sealed, MutableBytes(*out));
  if (rc != DERP_OK) out->clear();
  return rc;
}

SharedKey::~SharedKey() { sodium_memzero(key_.data(), key_.size()); }

int SharedKey::derive(const NodePrivate& mine, const NodePublic& theirs, SharedKey* out) {
  if (out == nullptr || mine.is_zero() || theirs.is_zero()) return DERP_ERR_INVALID_ARGUMENT;
  if (const int rc = ensure_sodium(); rc != DERP_OK) return rc;
  if (crypto_box_beforenm(out->key_.data(), theirs.data(), mine.data()) != 0) {
    sodium_memzero(out->key_.data(), out->key_.size());
    return DERP_ERR_INVALID_ARGUMENT;
  }
  return DERP_OK;
}

int SharedKey::seal(Bytes plaintext, MutableBytes out, const Nonce* fixed_nonce) const {
  if (sodium_is_zero(key_.data(), key_.size()) == 1) return DERP_ERR_INVALID_ARGUMENT;  // never derived
  if (out.size() < sealed_size(plaintext.size())) return DERP_ERR_BUFFER_TOO_SMALL;
  if (const int rc = ensure_sodium(); rc != DERP_OK) return rc;
  put_nonce(out.data(), fixed_nonce);
  if (crypto_box_easy_afternm(out.data() + kNonceLen, plaintext.data(), plaintext.size(), out.data(),
                              key_.data()) != 0) {
    return DERP_ERR_INTERNAL;
  }
  return DERP_OK;
}

int SharedKey::open(Bytes sealed, MutableBytes out) const {
  if (sodium_is_zero(key_.data(), key_.size()) == 1) return DERP_ERR_INVALID_ARGUMENT;
  if (sealed.size() < kBoxOverhead) return DERP_ERR_BOX_OPEN;
  if (out.size() < sealed.size() - kBoxOverhead) return DERP_ERR_BUFFER_TOO_SMALL;
  if (const int rc = ensure_sodium(); rc != DERP_OK) return rc;
  if (crypto_box_open_easy_afternm(out.data(), sealed.data() + kNonceLen, sealed.size() - kNonceLen, sealed.data(),
                                   key_.data()) != 0) {
    return DERP_ERR_BOX_OPEN;
  }
  return DERP_OK;
}

}  // namespace derp::crypto
