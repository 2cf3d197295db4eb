// What a TLS server needs once, shared by all its sessions: certificate chain, private key, DRBG and the
// protocol policy. Built the ways derper gets certificates (reference §1.5, §7): manual mode files, PEM text,
// or a self-signed certificate for an IP hostname.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "common/bytes.hpp"
#include "tls/drbg.hpp"

namespace derp::tls {

// Thread-safety: sessions only read a config (mbedTLS documents an ssl_config as shareable once set up); any
// number of sessions on one thread may share it. Debian's mbedTLS is built with MBEDTLS_THREADING_C, so the
// DRBG and RSA blinding take locks, but sharing across threads is not tested: give each thread its own
// config. A config must outlive its sessions. It never moves (mbedTLS keeps pointers into it).
class ServerConfig {
 public:
  // derper -certmode manual: loads <certdir>/<hostname>.crt and .key (hostname reduced to [A-Za-z0-9.-]). When
  // the hostname is an IP and neither file exists, first generates a self-signed certificate and saves it there
  // (key mode 0600), so a restart serves the same certificate and the sha256-raw pin stays valid. The
  // certificate must cover the hostname. DERP_OK, or DERP_ERR_TLS_CONFIG with *detail naming the file.
  static int load_manual(const std::string& certdir, std::string_view hostname, std::unique_ptr<ServerConfig>* out,
                         std::string* detail);

  // A certificate chain (PEM, leaf first) and its private key (PEM). An empty hostname accepts any SNI and skips
  // the hostname check. DERP_OK or DERP_ERR_TLS_CONFIG.
  static int from_pem(std::string_view cert_chain_pem, std::string_view key_pem, std::string_view hostname,
                      std::unique_ptr<ServerConfig>* out, std::string* detail);

  // A fresh in-memory self-signed certificate for an IP hostname (tests, throw-away servers).
  // now_unix sets its validity. DERP_OK or DERP_ERR_TLS_CONFIG.
  static int self_signed(std::string_view ip, std::int64_t now_unix, std::unique_ptr<ServerConfig>* out,
                         std::string* detail);

  ~ServerConfig();
  ServerConfig(const ServerConfig&) = delete;
  ServerConfig& operator=(const ServerConfig&) = delete;

  const std::string& hostname() const { return hostname_; }
  // In manual mode with a DNS hostname, a ClientHello naming another server is refused; no SNI at all is
  // accepted, and so is any SNI when the hostname is an IP (or empty).
  bool accepts_server_name(std::string_view sni) const;
  // The leaf certificate's DER and its DERPNode CertName pin, "sha256-raw:<64 hex>".
  Bytes leaf_der() const { return Bytes(chain_.raw.p, chain_.raw.len); }
  const std::string& cert_name() const { return cert_name_; }

  const mbedtls_ssl_config* ssl_config() const { return &conf_; }
  // Accepts only these mbedTLS ciphersuite ids (0-terminated, a list that outlives the config), in this order of
  // preference, instead of the policy's. For tests that force one suite; call before any session exists.
  void set_ciphersuites(const int* list) { mbedtls_ssl_conf_ciphersuites(&conf_, list); }

 private:
  ServerConfig();
  int init(std::string_view cert_chain_pem, std::string_view key_pem, std::string_view hostname,
           std::string_view cert_source, std::string_view key_source, std::string* detail);

  Drbg drbg_;
  mbedtls_x509_crt chain_;
  mbedtls_pk_context key_;
  mbedtls_ssl_config conf_;
  std::string hostname_;
  bool hostname_is_dns_ = false;
  std::string cert_name_;
};

}  // namespace derp::tls
