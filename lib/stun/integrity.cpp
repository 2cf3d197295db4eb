#include "stun/integrity.hpp"

#include <mbedtls/md.h>

#include "derp/common.h"

namespace derp::stun {

namespace {

// Owns an mbedtls_md_context_t for the length of one computation.
class MdContext {
 public:
  MdContext() { mbedtls_md_init(&ctx_); }
  ~MdContext() { mbedtls_md_free(&ctx_); }
  MdContext(const MdContext&) = delete;
  MdContext& operator=(const MdContext&) = delete;

  // DERP_OK, DERP_ERR_NO_MEMORY (mbedtls_md_setup could not allocate) or DERP_ERR_INTERNAL.
  int setup(mbedtls_md_type_t type, bool hmac) {
    const mbedtls_md_info_t* info = mbedtls_md_info_from_type(type);
    if (info == nullptr) return DERP_ERR_INTERNAL;
    const int rc = mbedtls_md_setup(&ctx_, info, hmac ? 1 : 0);
    if (rc == MBEDTLS_ERR_MD_ALLOC_FAILED) return DERP_ERR_NO_MEMORY;
    return rc == 0 ? DERP_OK : DERP_ERR_INTERNAL;
  }
  mbedtls_md_context_t* get() { return &ctx_; }

 private:
  mbedtls_md_context_t ctx_;
};

// Looks at every byte whatever it finds, so the time taken says nothing about where a forged MAC goes wrong.
// (mbedTLS 2.28 has mbedtls_ct_memcmp, but its header lacks C linkage guards for C++.)
bool equal_in_constant_time(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  volatile std::uint8_t difference = 0;
  for (std::size_t i = 0; i < n; ++i) difference = static_cast<std::uint8_t>(difference | (a[i] ^ b[i]));
  return difference == 0;
}

// mbedTLS wants a pointer even for zero bytes.
const unsigned char* data_or_empty(Bytes b) {
  static const unsigned char kNothing = 0;
  return b.empty() ? &kNothing : b.data();
}

}  // namespace

int compute_integrity(Bytes message_before_integrity, std::uint16_t length_field, Bytes key, IntegrityValue* out) {
  if (message_before_integrity.size() < kHeaderSize || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  MdContext md;
  if (const int rc = md.setup(MBEDTLS_MD_SHA1, true); rc != DERP_OK) return rc;
  std::uint8_t first_word[4] = {message_before_integrity[0], message_before_integrity[1], 0, 0};
  store_be16(first_word + 2, length_field);
  const Bytes rest = message_before_integrity.subspan(4);
  if (mbedtls_md_hmac_starts(md.get(), data_or_empty(key), key.size()) != 0 ||
      mbedtls_md_hmac_update(md.get(), first_word, sizeof first_word) != 0 ||
      mbedtls_md_hmac_update(md.get(), rest.data(), rest.size()) != 0 ||
      mbedtls_md_hmac_finish(md.get(), out->data()) != 0) {
    return DERP_ERR_INTERNAL;
  }
  return DERP_OK;
}

int verify_integrity(Bytes message, const Message& parsed, Bytes key) {
  if (!parsed.has_message_integrity) return DERP_ERR_STUN_NO_INTEGRITY;
  const std::size_t offset = parsed.message_integrity_offset;
  const std::size_t attribute_end = offset + kAttributeHeaderSize + kMessageIntegrityValueSize;
  if (offset < kHeaderSize || attribute_end > message.size()) return DERP_ERR_INVALID_ARGUMENT;
  // RFC 8489 §14.5: the length covers everything up to and including MESSAGE-INTEGRITY, so any FINGERPRINT after
  // it is left out.
  const auto length_field = static_cast<std::uint16_t>(attribute_end - kHeaderSize);
  IntegrityValue expected{};
  if (const int rc = compute_integrity(message.first(offset), length_field, key, &expected); rc != DERP_OK) return rc;
  const std::uint8_t* received = message.data() + offset + kAttributeHeaderSize;
  return equal_in_constant_time(expected.data(), received, expected.size()) ? DERP_OK : DERP_ERR_STUN_INTEGRITY;
}

int long_term_key(Bytes username, Bytes realm, Bytes password, LongTermKey* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  MdContext md;
  if (const int rc = md.setup(MBEDTLS_MD_MD5, false); rc != DERP_OK) return rc;
  static const unsigned char kColon = ':';
  if (mbedtls_md_starts(md.get()) != 0 ||
      mbedtls_md_update(md.get(), data_or_empty(username), username.size()) != 0 ||
      mbedtls_md_update(md.get(), &kColon, 1) != 0 ||
      mbedtls_md_update(md.get(), data_or_empty(realm), realm.size()) != 0 ||
      mbedtls_md_update(md.get(), &kColon, 1) != 0 ||
      mbedtls_md_update(md.get(), data_or_empty(password), password.size()) != 0 ||
      mbedtls_md_finish(md.get(), out->data()) != 0) {
    return DERP_ERR_INTERNAL;
  }
  return DERP_OK;
}

}  // namespace derp::stun
