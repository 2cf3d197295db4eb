// What a TLS client needs once, shared by all its sessions: trusted CAs, DRBG and the protocol policy. What
// differs per connection (host dialled, CertName pin) is a ClientTarget given to each Session.
#pragma once

#include <memory>
#include <string>

#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "tls/drbg.hpp"

namespace derp::tls {

inline constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";  // Debian's ca-certificates

struct ClientOptions {
  std::string ca_bundle_path = kSystemCaBundle;  // "" = no system store
  std::string extra_ca_path;                     // one more PEM file of roots ("" = none); reference §1.5
  std::string extra_ca_pem;                      // roots given as text ("" = none)
  // Accept any certificate (DERPNode.InsecureForTests). Never in production.
  bool insecure_skip_verify = false;
  // ALPN "http/1.1" in the ClientHello (on by default). Tailscale's client offers no ALPN at all; offering
  // http/1.1 says the same to a Go server (it then never picks h2, reference §1.5) and also to ALPN-routing
  // proxies in front of it. Off sends no ALPN extension, exactly like tailscaled.
  bool offer_alpn_http11 = true;
};

// Thread-safety and lifetime: as ServerConfig (server_config.hpp). One config per thread; it outlives its
// sessions; it never moves.
class ClientConfig {
 public:
  // Loads the CA files. DERP_OK, or DERP_ERR_TLS_CONFIG with *detail naming the file that failed.
  static int create(const ClientOptions& options, std::unique_ptr<ClientConfig>* out, std::string* detail);

  ~ClientConfig();
  ClientConfig(const ClientConfig&) = delete;
  ClientConfig& operator=(const ClientConfig&) = delete;

  bool insecure() const { return insecure_; }
  bool has_trusted_cas() const { return has_cas_; }
  const mbedtls_ssl_config* ssl_config() const { return &conf_; }
  // Offers only these mbedTLS ciphersuite ids (0-terminated, a list that outlives the config) instead of the
  // policy's (tls_policy.cpp). For tests and interop checks that pin one suite; call before any session exists.
  void set_ciphersuites(const int* list) { mbedtls_ssl_conf_ciphersuites(&conf_, list); }

 private:
  ClientConfig();

  Drbg drbg_;
  mbedtls_x509_crt cas_;
  mbedtls_ssl_config conf_;
  bool insecure_ = false;
  bool has_cas_ = false;
};

}  // namespace derp::tls
