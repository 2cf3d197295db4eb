// TLS costs on one core, without sockets: where a server's handshake CPU goes (whole in-memory handshakes between
// our Session client and server, the server's side timed alone; mbedTLS' X25519 and P-256 ECDH, ECDSA P-256
// signing) and record sealing/opening by mbedTLS' record path versus our record layer (libsodium).
// A benchmark program, not a test: it prints figures and never fails on speed. See docs/benchmarks.md ("TLS").
//
//   build/test-gcc/bench/bench_tls [seconds-per-case]   (default 1)
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <sodium.h>

#include "derp/common.h"
#include "tls/client_config.hpp"
#include "tls/drbg.hpp"
#include "tls/record_layer.hpp"
#include "tls/server_config.hpp"
#include "tls/session.hpp"

namespace {

double thread_cpu() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// Runs body until `seconds` of CPU pass; prints microseconds per call.
void per_call(const char* name, double seconds, const std::function<void()>& body) {
  const double start = thread_cpu();
  long n = 0;
  while (thread_cpu() - start < seconds) {
    body();
    ++n;
  }
  std::printf("  %-58s %9.1f us\n", name, (thread_cpu() - start) * 1e6 / static_cast<double>(n));
}

// One whole handshake in memory; returns the server side's CPU seconds (its feed/read calls only).
double handshake(const derp::tls::ServerConfig& server_config, const derp::tls::ClientConfig& client_config) {
  std::unique_ptr<derp::tls::Session> client;
  std::unique_ptr<derp::tls::Session> server;
  std::string detail;
  double server_cpu = 0;
  double t0 = thread_cpu();
  if (derp::tls::Session::create_server(server_config, &server) != DERP_OK) std::abort();
  server_cpu += thread_cpu() - t0;
  if (derp::tls::Session::create_client(client_config, {"127.0.0.1", server_config.cert_name()}, &client, &detail) !=
      DERP_OK) {
    std::abort();
  }
  std::uint8_t plain[256];
  for (int round = 0; round < 10 && !(client->handshake_done() && server->handshake_done()); ++round) {
    derp::Bytes c = client->pending_ciphertext();
    t0 = thread_cpu();
    std::size_t used = 0;
    std::size_t got = 0;
    if (!c.empty()) server->feed_ciphertext(c, &used);
    server->read_plaintext(derp::MutableBytes(plain, sizeof plain), &got);
    server_cpu += thread_cpu() - t0;
    client->consume_ciphertext(used);
    const derp::Bytes s = server->pending_ciphertext();
    if (!s.empty()) client->feed_ciphertext(s, &used);
    server->consume_ciphertext(used);
    client->read_plaintext(derp::MutableBytes(plain, sizeof plain), &got);
  }
  if (!server->handshake_done() || !client->handshake_done()) std::abort();
  t0 = thread_cpu();
  server.reset();
  server_cpu += thread_cpu() - t0;
  return server_cpu;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  if (sodium_init() < 0) return 1;
  std::unique_ptr<derp::tls::ServerConfig> server_config;
  std::string detail;
  if (derp::tls::ServerConfig::self_signed("127.0.0.1", static_cast<std::int64_t>(std::time(nullptr)), &server_config,
                                           &detail) != DERP_OK) {
    return 1;
  }
  derp::tls::ClientOptions options;
  options.ca_bundle_path = "";
  std::unique_ptr<derp::tls::ClientConfig> client_config;
  if (derp::tls::ClientConfig::create(options, &client_config, &detail) != DERP_OK) return 1;

  std::printf("libderp TLS benchmark (one thread, CPU time per call; mbedTLS 2.28, libsodium %s, AES-256-GCM %s)\n",
              sodium_version_string(), crypto_aead_aes256gcm_is_available() ? "available" : "not available");
  std::printf("handshake (ECDHE-ECDSA, P-256 certificate, X25519 offered first, full handshake, no resumption):\n");
  {
    const double start = thread_cpu();
    double server = 0;
    int n = 0;
    while (thread_cpu() - start < 2 * seconds) {
      server += handshake(*server_config, *client_config);
      ++n;
    }
    std::printf("  %-58s %9.1f us\n", "server side of one handshake (create .. free)", server * 1e6 / n);
  }
  derp::tls::Drbg drbg;
  if (drbg.seed("bench") != DERP_OK) return 1;
  for (const auto& [name, group] : {std::pair{"X25519", MBEDTLS_ECP_DP_CURVE25519},
                                    std::pair{"P-256", MBEDTLS_ECP_DP_SECP256R1}}) {
    mbedtls_ecdh_context peer;
    mbedtls_ecdh_init(&peer);
    mbedtls_ecdh_setup(&peer, group);
    unsigned char peer_public[100];
    std::size_t peer_len = 0;
    mbedtls_ecdh_make_public(&peer, &peer_len, peer_public, sizeof peer_public, &derp::tls::Drbg::generate, &drbg);
    const std::string label = std::string("mbedTLS ECDHE ") + name + ": key pair + shared secret";
    per_call(label.c_str(), seconds, [&] {
      mbedtls_ecdh_context ours;
      mbedtls_ecdh_init(&ours);
      mbedtls_ecdh_setup(&ours, group);
      unsigned char pub[100];
      std::size_t len = 0;
      mbedtls_ecdh_make_public(&ours, &len, pub, sizeof pub, &derp::tls::Drbg::generate, &drbg);
      mbedtls_ecdh_read_public(&ours, peer_public, peer_len);
      unsigned char secret[66];
      mbedtls_ecdh_calc_secret(&ours, &len, secret, sizeof secret, &derp::tls::Drbg::generate, &drbg);
      mbedtls_ecdh_free(&ours);
    });
    mbedtls_ecdh_free(&peer);
  }
  {
    mbedtls_ecdsa_context key;
    mbedtls_ecdsa_init(&key);
    mbedtls_ecdsa_genkey(&key, MBEDTLS_ECP_DP_SECP256R1, &derp::tls::Drbg::generate, &drbg);
    unsigned char hash[32] = {1};
    per_call("mbedTLS ECDSA P-256 sign (ServerKeyExchange)", seconds, [&] {
      unsigned char sig[80];
      std::size_t len = 0;
      mbedtls_ecdsa_write_signature(&key, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, &len, &derp::tls::Drbg::generate,
                                    &drbg);
    });
    mbedtls_ecdsa_free(&key);
  }
  per_call("libsodium X25519 key pair + shared secret (for comparison)", seconds, [] {
    unsigned char sk[32], pk[32], shared[32], peer[32] = {9};
    randombytes_buf(sk, sizeof sk);
    crypto_scalarmult_base(pk, sk);
    if (crypto_scalarmult(shared, sk, peer) != 0) std::abort();
  });

  std::printf("records (one record sealed then opened, in place):\n");
  for (const std::size_t size : {std::size_t{1280}, std::size_t{16384}}) {
    for (const auto aead : {derp::tls::Aead::kAes256Gcm, derp::tls::Aead::kChaCha20Poly1305}) {
      if (aead == derp::tls::Aead::kAes256Gcm && !crypto_aead_aes256gcm_is_available()) continue;
      derp::tls::TrafficKeys keys;
      keys.aead = aead;
      keys.read = keys.write;
      std::unique_ptr<derp::tls::RecordLayer> layer;
      if (derp::tls::RecordLayer::create(keys, &layer) != DERP_OK) return 1;
      std::vector<std::uint8_t> record(layer->seal_overhead() + size, 7);
      const std::string label = std::string("our record layer, ") +
                                (aead == derp::tls::Aead::kAes256Gcm ? "AES-256-GCM" : "ChaCha20-Poly1305") + ", " +
                                std::to_string(size) + " B";
      per_call(label.c_str(), seconds, [&] {
        if (layer->seal(derp::tls::ContentType::kApplicationData, record.data(), size) != DERP_OK) std::abort();
        if (layer->open(derp::MutableBytes(record)).status != derp::tls::RecordLayer::Opened::kRecord) std::abort();
      });
    }
  }
  return 0;
}
