#include "tls/digest.hpp"

#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include "derp/common.h"

namespace derp::tls {

namespace {

// mbedTLS wants a pointer even for zero bytes.
const unsigned char* data_or_empty(Bytes b) {
  static const unsigned char kNothing = 0;
  return b.empty() ? &kNothing : b.data();
}

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

int digest(mbedtls_md_type_t type, std::initializer_list<Bytes> parts, std::uint8_t* out) {
  MdContext md;
  if (const int rc = md.setup(type, false); rc != DERP_OK) return rc;
  if (mbedtls_md_starts(md.get()) != 0) return DERP_ERR_INTERNAL;
  for (Bytes part : parts) {
    if (mbedtls_md_update(md.get(), data_or_empty(part), part.size()) != 0) return DERP_ERR_INTERNAL;
  }
  return mbedtls_md_finish(md.get(), out) == 0 ? DERP_OK : DERP_ERR_INTERNAL;
}

}  // namespace

int sha1(std::initializer_list<Bytes> parts, Sha1Digest* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  return digest(MBEDTLS_MD_SHA1, parts, out->data());
}

int md5(std::initializer_list<Bytes> parts, Md5Digest* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  return digest(MBEDTLS_MD_MD5, parts, out->data());
}

int hmac_sha1(Bytes key, std::initializer_list<Bytes> parts, Sha1Digest* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  MdContext md;
  if (const int rc = md.setup(MBEDTLS_MD_SHA1, true); rc != DERP_OK) return rc;
  if (mbedtls_md_hmac_starts(md.get(), data_or_empty(key), key.size()) != 0) return DERP_ERR_INTERNAL;
  for (Bytes part : parts) {
    if (mbedtls_md_hmac_update(md.get(), data_or_empty(part), part.size()) != 0) return DERP_ERR_INTERNAL;
  }
  return mbedtls_md_hmac_finish(md.get(), out->data()) == 0 ? DERP_OK : DERP_ERR_INTERNAL;
}

std::string base64_encode(Bytes data) {
  std::string text(4 * ((data.size() + 2) / 3) + 1, '\0');  // mbedTLS writes a NUL after the text
  std::size_t text_len = 0;
  // Fails only when the buffer is too small, and it is sized for the whole text.
  (void)mbedtls_base64_encode(reinterpret_cast<unsigned char*>(text.data()), text.size(), &text_len,
                              data_or_empty(data), data.size());
  text.resize(text_len);
  return text;
}

bool base64_decode(std::string_view text, MutableBytes out, std::size_t* written) {
  *written = 0;
  static unsigned char kNoRoom = 0;
  unsigned char* dst = out.empty() ? &kNoRoom : out.data();
  return mbedtls_base64_decode(dst, out.size(), written, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size()) == 0;
}

}  // namespace derp::tls
