#include "tls/client_config.hpp"

#include "derp/common.h"
#include "tls/pem_files.hpp"
#include "tls/tls_error.hpp"
#include "tls/tls_policy.hpp"

namespace derp::tls {

ClientConfig::ClientConfig() {
  mbedtls_x509_crt_init(&cas_);
  mbedtls_ssl_config_init(&conf_);
}

ClientConfig::~ClientConfig() {
  mbedtls_ssl_config_free(&conf_);
  mbedtls_x509_crt_free(&cas_);
}

int ClientConfig::create(const ClientOptions& options, std::unique_ptr<ClientConfig>* out, std::string* detail) {
  std::unique_ptr<ClientConfig> config(new ClientConfig);
  if (config->drbg_.seed("libderp tls client") != DERP_OK) {
    if (detail) *detail = "entropy source failed";
    return DERP_ERR_TLS_CONFIG;
  }
  int rc = DERP_OK;
  std::string text;
  // A system bundle may hold a few certificates mbedTLS cannot parse; an extra CA file is ours and must be clean.
  if (!options.ca_bundle_path.empty()) {
    if ((rc = read_text_file(options.ca_bundle_path, &text, detail)) != DERP_OK ||
        (rc = parse_certificates(text, options.ca_bundle_path, /*allow_unparsable=*/true, &config->cas_, detail)) !=
            DERP_OK) {
      return rc;
    }
  }
  if (!options.extra_ca_path.empty()) {
    if ((rc = read_text_file(options.extra_ca_path, &text, detail)) != DERP_OK ||
        (rc = parse_certificates(text, options.extra_ca_path, false, &config->cas_, detail)) != DERP_OK) {
      return rc;
    }
  }
  if (!options.extra_ca_pem.empty()) {
    rc = parse_certificates(options.extra_ca_pem, "the extra CA PEM", false, &config->cas_, detail);
    if (rc != DERP_OK) return rc;
  }
  config->has_cas_ = config->cas_.raw.p != nullptr;
  config->insecure_ = options.insecure_skip_verify;

  mbedtls_ssl_config* conf = &config->conf_;
  if ((rc = apply_tls_policy(conf, MBEDTLS_SSL_IS_CLIENT, &config->drbg_)) != 0 ||
      (options.offer_alpn_http11 && (rc = enable_alpn_http11(conf)) != 0)) {
    if (detail) *detail = "setting up the TLS client config: " + mbedtls_error_text(rc);
    return DERP_ERR_TLS_CONFIG;
  }
  if (config->has_cas_) mbedtls_ssl_conf_ca_chain(conf, &config->cas_, nullptr);
  // VERIFY_OPTIONAL lets mbedTLS build and check the chain but leaves the verdict to each session's verify
  // callback (peer_verifier.hpp): it must also match iPAddress names and apply sha256-raw pins, which mbedTLS
  // 2.28 cannot, and a pin needs no CA at all (REQUIRED would insist on one).
  mbedtls_ssl_conf_authmode(conf, config->insecure_ ? MBEDTLS_SSL_VERIFY_NONE : MBEDTLS_SSL_VERIFY_OPTIONAL);
  *out = std::move(config);
  return DERP_OK;
}

}  // namespace derp::tls
