// One CTR-DRBG seeded from the OS entropy source: the randomness a TLS config (and its sessions) draws from.
// Each config owns one, so no global generator is shared behind anyone's back.
#pragma once

#include <string_view>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

namespace derp::tls {

class Drbg {
 public:
  Drbg();
  ~Drbg();
  Drbg(const Drbg&) = delete;
  Drbg& operator=(const Drbg&) = delete;

  // Seeds from mbedtls_entropy (getrandom / /dev/urandom). DERP_OK, or DERP_ERR_TLS_CONFIG when the entropy
  // source fails. `personalization` separates generators of different roles (NIST SP 800-90A §8.7.1).
  int seed(std::string_view personalization);

  // The f_rng/p_rng pair mbedTLS functions take: pass &Drbg::generate and this.
  static int generate(void* self, unsigned char* out, std::size_t len);

  mbedtls_ctr_drbg_context* context() { return &ctr_drbg_; }

 private:
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context ctr_drbg_;
};

}  // namespace derp::tls
