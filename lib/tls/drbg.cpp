#include "tls/drbg.hpp"

#include "derp/common.h"

namespace derp::tls {

Drbg::Drbg() {
  mbedtls_entropy_init(&entropy_);
  mbedtls_ctr_drbg_init(&ctr_drbg_);
}

Drbg::~Drbg() {
  mbedtls_ctr_drbg_free(&ctr_drbg_);
  mbedtls_entropy_free(&entropy_);
}

int Drbg::seed(std::string_view personalization) {
  const int rc = mbedtls_ctr_drbg_seed(&ctr_drbg_, mbedtls_entropy_func, &entropy_,
                                       reinterpret_cast<const unsigned char*>(personalization.data()),
                                       personalization.size());
  return rc == 0 ? DERP_OK : DERP_ERR_TLS_CONFIG;
}

int Drbg::generate(void* self, unsigned char* out, std::size_t len) {
  // With MBEDTLS_THREADING_C (Debian's build) ctr_drbg_random takes the context's own mutex.
  return mbedtls_ctr_drbg_random(static_cast<Drbg*>(self)->context(), out, len);
}

}  // namespace derp::tls
