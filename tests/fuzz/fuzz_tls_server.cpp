// Fuzz target: arbitrary bytes as the record stream a client sends to a server session (ClientHello first),
// fed in pieces whose size comes from the first byte, with plaintext reads and output draining in between.
// The config is built once; every input gets a fresh session, which must fail cleanly or wait for more.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>

#include "derp/common.h"
#include "tls/cert_writer.hpp"
#include "tls/drbg.hpp"
#include "tls/server_config.hpp"
#include "tls/session.hpp"

namespace {
const derp::tls::ServerConfig& server_config() {
  // A DNS hostname, so a ClientHello's SNI can also be refused by the server-name callback.
  static const std::unique_ptr<derp::tls::ServerConfig> config = [] {
    derp::tls::Drbg drbg;
    derp::tls::CertificateSpec spec;
    spec.common_name = "derp.fuzz.example";
    spec.dns_names = {"derp.fuzz.example"};
    spec.not_before_unix = static_cast<std::int64_t>(std::time(nullptr)) - 3600;
    spec.not_after_unix = spec.not_before_unix + 86400;
    derp::tls::CertificateAndKey cert;
    std::unique_ptr<derp::tls::ServerConfig> made;
    std::string detail;
    if (drbg.seed("fuzz") != DERP_OK || derp::tls::write_certificate(spec, nullptr, drbg, &cert, &detail) != DERP_OK ||
        derp::tls::ServerConfig::from_pem(cert.cert_pem, cert.key_pem, spec.common_name, &made, &detail) != DERP_OK) {
      std::abort();
    }
    return made;
  }();
  return *config;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::unique_ptr<derp::tls::Session> session;
  if (derp::tls::Session::create_server(server_config(), &session) != DERP_OK) std::abort();
  const std::size_t piece = size == 0 ? 1 : 1 + data[0] % 64 * 97;
  std::size_t offset = 0;
  std::uint8_t plaintext[2048];
  while (offset < size) {
    std::size_t used = 0;
    int rc = session->feed_ciphertext(derp::Bytes(data + offset, std::min(piece, size - offset)), &used);
    offset += used;
    std::size_t got = 0;
    if (rc == DERP_OK) rc = session->read_plaintext(derp::MutableBytes(plaintext, sizeof plaintext), &got);
    session->consume_ciphertext(session->pending_ciphertext().size());
    if (rc != DERP_OK) {
      // A failed session stays failed and takes nothing more.
      if (session->error() != rc && rc != DERP_ERR_TLS_CLOSED) std::abort();
      break;
    }
    if (used == 0 && got == 0) break;
  }
  return 0;
}
