// Helpers shared by the test_tls*.cpp files: configs and certificates made on the spot, a pair of sessions
// wired back to back in memory, and a pump that moves ciphertext between them in pieces of a chosen size.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "derp/common.h"
#include "tls/cert_writer.hpp"
#include "tls/client_config.hpp"
#include "tls/drbg.hpp"
#include "common/ip_literal.hpp"
#include "tls/server_config.hpp"
#include "tls/session.hpp"

namespace derp::tls::test {

inline std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

inline Bytes as_bytes(std::string_view s) { return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

// A Drbg for generating test certificates.
inline Drbg& test_drbg() {
  static Drbg drbg;
  static const bool seeded = drbg.seed("libderp tls tests") == DERP_OK;
  REQUIRE(seeded);
  return drbg;
}

inline CertificateAndKey make_cert(const std::string& cn, std::vector<std::string> dns,
                                   std::vector<std::string> ips, const CertificateAndKey* issuer,
                                   bool is_ca = false, std::int64_t not_before = now_unix() - 3600,
                                   std::int64_t not_after = now_unix() + 86400) {
  CertificateSpec spec;
  spec.common_name = cn;
  spec.dns_names = std::move(dns);
  for (const std::string& ip : ips) spec.ip_addresses.push_back(*parse_ip_literal(ip));
  spec.is_ca = is_ca;
  spec.not_before_unix = not_before;
  spec.not_after_unix = not_after;
  CertificateAndKey out;
  std::string detail;
  REQUIRE(write_certificate(spec, issuer, test_drbg(), &out, &detail) == DERP_OK);
  return out;
}

inline std::unique_ptr<ServerConfig> self_signed_server(const std::string& ip = "127.0.0.1") {
  std::unique_ptr<ServerConfig> config;
  std::string detail;
  REQUIRE(ServerConfig::self_signed(ip, now_unix(), &config, &detail) == DERP_OK);
  return config;
}

inline std::unique_ptr<ServerConfig> pem_server(const CertificateAndKey& leaf, const std::string& hostname,
                                                const std::string& extra_chain_pem = "") {
  std::unique_ptr<ServerConfig> config;
  std::string detail;
  INFO(detail);
  REQUIRE(ServerConfig::from_pem(leaf.cert_pem + extra_chain_pem, leaf.key_pem, hostname, &config, &detail) ==
          DERP_OK);
  return config;
}

// A client config that trusts only `ca_pem` (no system store), or nothing.
inline std::unique_ptr<ClientConfig> client_config(const std::string& ca_pem = "", bool insecure = false,
                                                   bool alpn = true) {
  ClientOptions options;
  options.ca_bundle_path = "";
  options.extra_ca_pem = ca_pem;
  options.insecure_skip_verify = insecure;
  options.offer_alpn_http11 = alpn;
  std::unique_ptr<ClientConfig> config;
  std::string detail;
  REQUIRE(ClientConfig::create(options, &config, &detail) == DERP_OK);
  return config;
}

// One side of the wire: its session, the plaintext it has received, and the first error any call returned.
struct Endpoint {
  std::unique_ptr<Session> session;
  std::string received;
  int error = DERP_OK;

  void read_all() {
    std::uint8_t buffer[3000];  // smaller than a record, so records are read in several pieces
    while (error == DERP_OK) {
      std::size_t got = 0;
      const int rc = session->read_plaintext(MutableBytes(buffer, sizeof buffer), &got);
      if (rc != DERP_OK) error = rc;
      if (got == 0) return;
      received.append(reinterpret_cast<const char*>(buffer), got);
    }
  }
};

// Moves `from`'s pending ciphertext into `to`, `piece` bytes per feed, reading `to`'s plaintext as it goes.
// Returns whether any byte moved.
inline bool move_ciphertext(Endpoint& from, Endpoint& to, std::size_t piece) {
  bool moved = false;
  int stalls = 0;
  while (to.error == DERP_OK && !from.session->pending_ciphertext().empty()) {
    const Bytes pending = from.session->pending_ciphertext();
    std::size_t used = 0;
    const int rc = to.session->feed_ciphertext(pending.first(std::min(piece, pending.size())), &used);
    from.session->consume_ciphertext(used);
    moved = moved || used > 0;
    if (rc != DERP_OK) to.error = rc;
    to.read_all();
    // A full input buffer must drain through read_plaintext; if it does not, the session is stuck.
    stalls = used == 0 ? stalls + 1 : 0;
    if (stalls > 2) FAIL("receiver takes no more ciphertext");
  }
  return moved;
}

// Moves bytes both ways until neither side has anything left to say.
inline void pump(Endpoint& client, Endpoint& server, std::size_t piece = 1 << 20) {
  for (int round = 0; round < 1000000; ++round) {
    const bool a = move_ciphertext(client, server, piece);
    const bool b = move_ciphertext(server, client, piece);
    if (!a && !b) return;
  }
  FAIL("pump did not settle");
}

struct Connection {
  Endpoint client;
  Endpoint server;
  std::string client_create_detail;
  int client_create_rc = DERP_OK;
};

// A client and a server session, handshake pumped to the end (successful or not).
inline Connection connect(const ClientConfig& client_config, const ClientTarget& target,
                          const ServerConfig& server_config, std::size_t piece = 1 << 20) {
  Connection c;
  c.client_create_rc =
      Session::create_client(client_config, target, &c.client.session, &c.client_create_detail);
  REQUIRE(c.client_create_rc == DERP_OK);
  REQUIRE(Session::create_server(server_config, &c.server.session) == DERP_OK);
  REQUIRE_FALSE(c.client.session->pending_ciphertext().empty());  // the ClientHello
  pump(c.client, c.server, piece);
  return c;
}

// Writes all of `data` from one side, pumping whenever the output queue is full.
inline void send_all(Endpoint& from, Endpoint& to, const std::string& data, std::size_t piece = 1 << 20) {
  std::size_t offset = 0;
  while (offset < data.size()) {
    std::size_t accepted = 0;
    REQUIRE(from.session->write_plaintext(as_bytes(data).subspan(offset), &accepted) == DERP_OK);
    offset += accepted;
    pump(from, to, piece);  // pump treats its two ends alike, whichever is the client
  }
  pump(from, to, piece);
}

}  // namespace derp::tls::test
