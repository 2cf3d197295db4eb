#include "tls/server_config.hpp"

#include <ctime>
#include <filesystem>
#include <system_error>

#include <mbedtls/platform_util.h>

#include "derp/common.h"
#include "tls/cert_pin.hpp"
#include "tls/host_match.hpp"
#include "common/ip_literal.hpp"
#include "tls/pem_files.hpp"
#include "tls/self_signed.hpp"
#include "tls/session.hpp"
#include "tls/tls_error.hpp"
#include "tls/tls_policy.hpp"

namespace derp::tls {

namespace {

// mbedTLS calls this with the ClientHello's server_name (only when the extension is present). Returning
// non-zero aborts the handshake with an unrecognized_name alert (RFC 6066 §3).
int check_server_name(void* config, mbedtls_ssl_context* ssl, const unsigned char* name, std::size_t len) {
  const std::string_view sni(reinterpret_cast<const char*>(name), len);
  if (static_cast<const ServerConfig*>(config)->accepts_server_name(sni)) return 0;
  Session::from_ssl(ssl)->note_refused_server_name(sni);
  return -1;
}

int config_error(std::string* detail, std::string text) {
  if (detail) *detail = std::move(text);
  return DERP_ERR_TLS_CONFIG;
}

}  // namespace

ServerConfig::ServerConfig() {
  mbedtls_x509_crt_init(&chain_);
  mbedtls_pk_init(&key_);
  mbedtls_ssl_config_init(&conf_);
}

ServerConfig::~ServerConfig() {
  mbedtls_ssl_config_free(&conf_);
  mbedtls_pk_free(&key_);
  mbedtls_x509_crt_free(&chain_);
}

bool ServerConfig::accepts_server_name(std::string_view sni) const {
  // derper's manual mode compares the SNI with -hostname (cmd/derper/cert.go); DNS names are case-insensitive.
  return !hostname_is_dns_ || sni.empty() || equal_ignoring_case(sni, hostname_);
}

int ServerConfig::load_manual(const std::string& certdir, std::string_view hostname,
                              std::unique_ptr<ServerConfig>* out, std::string* detail) {
  std::unique_ptr<ServerConfig> config(new ServerConfig);
  if (config->drbg_.seed("libderp tls server") != DERP_OK) return config_error(detail, "entropy source failed");
  const ManualCertPaths paths = manual_cert_paths(certdir, hostname);

  std::error_code ec;
  const bool have_cert = std::filesystem::exists(paths.cert, ec);
  const bool have_key = std::filesystem::exists(paths.key, ec);
  if (is_ip_literal(hostname) && !have_cert && !have_key) {
    CertificateAndKey generated;
    int rc = generate_self_signed_ip_cert(hostname, static_cast<std::int64_t>(std::time(nullptr)), config->drbg_,
                                          &generated, detail);
    if (rc != DERP_OK) return rc;
    std::filesystem::create_directories(certdir, ec);
    if ((rc = write_text_file(paths.key, generated.key_pem, /*private_to_owner=*/true, detail)) != DERP_OK ||
        (rc = write_text_file(paths.cert, generated.cert_pem, /*private_to_owner=*/false, detail)) != DERP_OK) {
      return rc;
    }
  }

  std::string cert_pem;
  std::string key_pem;
  int rc = read_text_file(paths.cert, &cert_pem, detail);
  if (rc == DERP_OK) rc = read_text_file(paths.key, &key_pem, detail);
  if (rc == DERP_OK) rc = config->init(cert_pem, key_pem, hostname, paths.cert.string(), paths.key.string(), detail);
  mbedtls_platform_zeroize(key_pem.data(), key_pem.size());
  if (rc != DERP_OK) return rc;
  *out = std::move(config);
  return DERP_OK;
}

int ServerConfig::from_pem(std::string_view cert_chain_pem, std::string_view key_pem, std::string_view hostname,
                           std::unique_ptr<ServerConfig>* out, std::string* detail) {
  std::unique_ptr<ServerConfig> config(new ServerConfig);
  if (config->drbg_.seed("libderp tls server") != DERP_OK) return config_error(detail, "entropy source failed");
  const int rc = config->init(cert_chain_pem, key_pem, hostname, "the certificate PEM", "the key PEM", detail);
  if (rc != DERP_OK) return rc;
  *out = std::move(config);
  return DERP_OK;
}

int ServerConfig::self_signed(std::string_view ip, std::int64_t now_unix, std::unique_ptr<ServerConfig>* out,
                              std::string* detail) {
  std::unique_ptr<ServerConfig> config(new ServerConfig);
  if (config->drbg_.seed("libderp tls server") != DERP_OK) return config_error(detail, "entropy source failed");
  CertificateAndKey generated;
  int rc = generate_self_signed_ip_cert(ip, now_unix, config->drbg_, &generated, detail);
  if (rc == DERP_OK) {
    rc = config->init(generated.cert_pem, generated.key_pem, ip, "the generated certificate", "the generated key",
                      detail);
  }
  mbedtls_platform_zeroize(generated.key_pem.data(), generated.key_pem.size());
  if (rc != DERP_OK) return rc;
  *out = std::move(config);
  return DERP_OK;
}

int ServerConfig::init(std::string_view cert_chain_pem, std::string_view key_pem, std::string_view hostname,
                       std::string_view cert_source, std::string_view key_source, std::string* detail) {
  int rc = parse_certificates(cert_chain_pem, cert_source, /*allow_unparsable=*/false, &chain_, detail);
  if (rc != DERP_OK) return rc;
  rc = parse_private_key(key_pem, key_source, &key_, detail);
  if (rc != DERP_OK) return rc;
  if ((rc = mbedtls_pk_check_pair(&chain_.pk, &key_)) != 0) {
    return config_error(detail, "the private key in " + std::string(key_source) +
                                    " does not match the certificate in " + std::string(cert_source) + ": " +
                                    mbedtls_error_text(rc));
  }
  // derper refuses to start with a certificate that does not cover -hostname (cmd/derper/cert.go).
  if (!hostname.empty() && !certificate_matches_host(chain_, hostname)) {
    return config_error(detail, "the certificate in " + std::string(cert_source) + " is not valid for hostname \"" +
                                    std::string(hostname) + "\"");
  }
  hostname_ = std::string(hostname);
  hostname_is_dns_ = !hostname.empty() && !is_ip_literal(hostname);
  cert_name_ = cert_pin_of(leaf_der());

  if ((rc = apply_tls_policy(&conf_, MBEDTLS_SSL_IS_SERVER, &drbg_)) != 0 || (rc = enable_alpn_http11(&conf_)) != 0 ||
      (rc = mbedtls_ssl_conf_own_cert(&conf_, &chain_, &key_)) != 0) {
    return config_error(detail, "setting up the TLS server config: " + mbedtls_error_text(rc));
  }
  mbedtls_ssl_conf_sni(&conf_, &check_server_name, this);
  return DERP_OK;
}

}  // namespace derp::tls
