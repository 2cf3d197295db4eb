// Who trusts whom: sha256-raw pins, CA chains, names (DNS and IP), validity dates, the server's SNI rule and
// ALPN (reference §1.5).
#include <catch2/catch.hpp>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <string>

#include <mbedtls/ssl.h>

#include "derp/common.h"
#include "test_tls_helpers.hpp"
#include "tls/cert_pin.hpp"

using namespace derp::tls;
using namespace derp::tls::test;
using derp::Bytes;

namespace {

// The handshake failed on the client with `client_error`, and the server saw it fail too.
void require_client_rejects(const Connection& c, int client_error) {
  CAPTURE(c.client.session->error_detail(), c.server.session->error_detail());
  CHECK(c.client.error == client_error);
  CHECK(c.client.session->error() == client_error);
  CHECK_FALSE(c.client.session->handshake_done());
  CHECK_FALSE(c.server.session->handshake_done());
  CHECK(c.server.error == DERP_ERR_TLS_HANDSHAKE);  // our fatal alert reached it
}

void require_connected(const Connection& c) {
  CAPTURE(c.client.session->error_detail(), c.server.session->error_detail());
  REQUIRE(c.client.error == DERP_OK);
  REQUIRE(c.server.error == DERP_OK);
  REQUIRE(c.client.session->handshake_done());
  REQUIRE(c.server.session->handshake_done());
}

}  // namespace

TEST_CASE("tls verify: sha256-raw pin", "[tls]") {
  const auto server_config = self_signed_server("127.0.0.1");
  const auto client_cfg = client_config();
  REQUIRE(server_config->cert_name() == format_cert_pin(sha256_of(server_config->leaf_der())));

  SECTION("the right pin, IP dialled: the IP must be in the certificate") {
    require_connected(connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config));
  }
  SECTION("the right pin in upper case") {
    std::string upper = server_config->cert_name();
    for (std::size_t i = kCertPinPrefix.size(); i < upper.size(); ++i) {
      upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
    }
    require_connected(connect(*client_cfg, {"127.0.0.1", upper}, *server_config));
  }
  SECTION("the right pin and no host dialled: no name check") {
    require_connected(connect(*client_cfg, {"", server_config->cert_name()}, *server_config));
  }
  SECTION("the right pin but another IP dialled") {
    require_client_rejects(connect(*client_cfg, {"127.0.0.2", server_config->cert_name()}, *server_config),
                           DERP_ERR_TLS_CERTIFICATE);
  }
  SECTION("a wrong pin") {
    const auto other = self_signed_server("127.0.0.1");
    Connection c = connect(*client_cfg, {"127.0.0.1", other->cert_name()}, *server_config);
    require_client_rejects(c, DERP_ERR_TLS_PIN_MISMATCH);
    // The detail names both digests, for the operator comparing with derper's log line.
    CHECK(c.client.session->error_detail().find(server_config->cert_name()) != std::string::npos);
    CHECK(c.client.session->error_detail().find(other->cert_name()) != std::string::npos);
  }
  SECTION("a malformed pin is a config error before anything is sent") {
    std::unique_ptr<Session> client;
    std::string detail;
    CHECK(Session::create_client(*client_cfg, {"127.0.0.1", "sha256-raw:abcd"}, &client, &detail) ==
          DERP_ERR_TLS_CONFIG);
    CHECK(client == nullptr);
    CHECK(detail.find("sha256-raw:abcd") != std::string::npos);
  }
}

TEST_CASE("tls verify: a pin still checks the validity dates", "[tls]") {
  const std::int64_t now = now_unix();
  const CertificateAndKey expired = make_cert("127.0.0.1", {}, {"127.0.0.1"}, nullptr, false, now - 10 * 86400,
                                              now - 86400);
  const CertificateAndKey future = make_cert("127.0.0.1", {}, {"127.0.0.1"}, nullptr, false, now + 86400,
                                             now + 10 * 86400);
  const auto client_cfg = client_config();
  for (const CertificateAndKey* cert : {&expired, &future}) {
    const auto server_config = pem_server(*cert, "127.0.0.1");
    Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config);
    require_client_rejects(c, DERP_ERR_TLS_CERTIFICATE);
    const bool says_dates = c.client.session->error_detail().find("expired") != std::string::npos ||
                            c.client.session->error_detail().find("future") != std::string::npos;
    CHECK(says_dates);
  }
}

TEST_CASE("tls verify: CA chain and names", "[tls]") {
  const CertificateAndKey ca = make_cert("libderp test CA", {}, {}, nullptr, /*is_ca=*/true);
  const CertificateAndKey leaf = make_cert("derp.test.example", {"derp.test.example", "*.wild.test.example"},
                                           {"127.0.0.1"}, &ca);
  const auto trusting = client_config(ca.cert_pem);

  SECTION("the dialled DNS name is in the certificate") {
    const auto server_config = pem_server(leaf, "derp.test.example", ca.cert_pem);
    require_connected(connect(*trusting, {"derp.test.example", ""}, *server_config));
  }
  SECTION("a wildcard name, a trailing dot, and an IP verified through the chain") {
    const auto server_config = pem_server(leaf, "");
    require_connected(connect(*trusting, {"node1.wild.test.example", ""}, *server_config));
    require_connected(connect(*trusting, {"derp.test.example.", ""}, *server_config));
    require_connected(connect(*trusting, {"127.0.0.1", ""}, *server_config));
  }
  SECTION("a name the certificate does not cover") {
    const auto server_config = pem_server(leaf, "");  // accepts any SNI, so the client is the one to refuse
    Connection c = connect(*trusting, {"other.test.example", ""}, *server_config);
    require_client_rejects(c, DERP_ERR_TLS_CERTIFICATE);
    CHECK(c.client.session->error_detail().find("other.test.example") != std::string::npos);
    require_client_rejects(connect(*trusting, {"a.b.wild.test.example", ""}, *server_config),
                           DERP_ERR_TLS_CERTIFICATE);
    require_client_rejects(connect(*trusting, {"127.0.0.2", ""}, *server_config), DERP_ERR_TLS_CERTIFICATE);
  }
  SECTION("CertName names the certificate to expect, while SNI stays the host") {
    const auto server_config = pem_server(leaf, "derp.test.example");
    require_connected(connect(*trusting, {"derp.test.example", "derp.test.example"}, *server_config));
    require_client_rejects(connect(*trusting, {"derp.test.example", "elsewhere.test.example"}, *server_config),
                           DERP_ERR_TLS_CERTIFICATE);
  }
  SECTION("a CA we do not trust") {
    const CertificateAndKey other_ca = make_cert("another CA", {}, {}, nullptr, true);
    const auto distrusting = client_config(other_ca.cert_pem);
    const auto server_config = pem_server(leaf, "derp.test.example", ca.cert_pem);
    require_client_rejects(connect(*distrusting, {"derp.test.example", ""}, *server_config),
                           DERP_ERR_TLS_CERTIFICATE);
  }
  SECTION("a self-signed certificate without a pin") {
    const auto server_config = self_signed_server("127.0.0.1");
    require_client_rejects(connect(*trusting, {"127.0.0.1", ""}, *server_config), DERP_ERR_TLS_CERTIFICATE);
  }
  SECTION("no CA and no pin is refused up front") {
    const auto empty = client_config();
    std::unique_ptr<Session> client;
    std::string detail;
    CHECK(Session::create_client(*empty, {"derp.test.example", ""}, &client, &detail) == DERP_ERR_TLS_CONFIG);
  }
  SECTION("chain verification without any name to check is refused up front") {
    std::unique_ptr<Session> client;
    std::string detail;
    CHECK(Session::create_client(*trusting, {"", ""}, &client, &detail) == DERP_ERR_TLS_CONFIG);
    CHECK(client == nullptr);
  }
}

TEST_CASE("tls verify: the system CA store loads", "[tls]") {
  if (!std::filesystem::exists(kSystemCaBundle)) return;  // ca-certificates not installed
  std::unique_ptr<ClientConfig> config;
  std::string detail;
  REQUIRE(ClientConfig::create(ClientOptions{}, &config, &detail) == DERP_OK);
  CHECK(config->has_trusted_cas());
  // Our test CA is not in it.
  const CertificateAndKey ca = make_cert("libderp test CA", {}, {}, nullptr, true);
  const CertificateAndKey leaf = make_cert("derp.test.example", {"derp.test.example"}, {}, &ca);
  const auto server_config = pem_server(leaf, "derp.test.example");
  require_client_rejects(connect(*config, {"derp.test.example", ""}, *server_config), DERP_ERR_TLS_CERTIFICATE);
}

TEST_CASE("tls verify: a missing CA file is a config error naming it", "[tls]") {
  ClientOptions options;
  options.ca_bundle_path = "";
  options.extra_ca_path = "/nonexistent/libderp-ca.pem";
  std::unique_ptr<ClientConfig> config;
  std::string detail;
  CHECK(ClientConfig::create(options, &config, &detail) == DERP_ERR_TLS_CONFIG);
  CHECK(detail.find("/nonexistent/libderp-ca.pem") != std::string::npos);
}

TEST_CASE("tls server name: a server with a DNS hostname refuses other SNI values", "[tls]") {
  const CertificateAndKey leaf = make_cert("derp.test.example", {"derp.test.example"}, {}, nullptr);
  const auto server_config = pem_server(leaf, "derp.test.example");
  const auto insecure = client_config("", true);

  SECTION("the expected name, in any case") {
    require_connected(connect(*insecure, {"DERP.test.example", ""}, *server_config));
  }
  SECTION("no SNI at all (IP literal or nothing dialled)") {
    require_connected(connect(*insecure, {"", ""}, *server_config));
    require_connected(connect(*insecure, {"192.0.2.1", ""}, *server_config));
  }
  SECTION("another name") {
    Connection c = connect(*insecure, {"other.test.example", ""}, *server_config);
    CAPTURE(c.server.session->error_detail());
    CHECK(c.server.error == DERP_ERR_TLS_SERVER_NAME);
    CHECK(c.server.session->error_detail().find("other.test.example") != std::string::npos);
    CHECK(c.client.error == DERP_ERR_TLS_HANDSHAKE);  // unrecognized_name alert
  }
  SECTION("a server for an IP accepts any SNI") {
    const auto ip_server = self_signed_server("127.0.0.1");
    require_connected(connect(*insecure, {"whatever.test.example", ""}, *ip_server));
  }
}

TEST_CASE("tls alpn: http/1.1 when offered, nothing when not", "[tls]") {
  const auto server_config = self_signed_server();
  const auto with_alpn = client_config("", true, /*alpn=*/true);
  const auto without_alpn = client_config("", true, /*alpn=*/false);
  Connection a = connect(*with_alpn, {"", ""}, *server_config);
  require_connected(a);
  CHECK(a.client.session->alpn_protocol() == "http/1.1");
  CHECK(a.server.session->alpn_protocol() == "http/1.1");
  Connection b = connect(*without_alpn, {"", ""}, *server_config);
  require_connected(b);
  CHECK(b.client.session->alpn_protocol().empty());
  CHECK(b.server.session->alpn_protocol().empty());
}

namespace {

// A bare mbedTLS client offering ALPN lists ours never would ("h2"), run against our server session.
struct RawAlpnClient {
  mbedtls_ssl_config conf;
  mbedtls_ssl_context ssl;
  std::string to_server;
  std::string from_server;
  const char* protocols[3];

  explicit RawAlpnClient(std::initializer_list<const char*> offer) {
    std::size_t i = 0;
    for (const char* p : offer) protocols[i++] = p;
    protocols[i] = nullptr;
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_init(&ssl);
    REQUIRE(mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT) == 0);
    mbedtls_ssl_conf_rng(&conf, &Drbg::generate, &test_drbg());
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
    REQUIRE(mbedtls_ssl_conf_alpn_protocols(&conf, protocols) == 0);
    REQUIRE(mbedtls_ssl_setup(&ssl, &conf) == 0);
    mbedtls_ssl_set_bio(&ssl, this, &send, &recv, nullptr);
  }
  ~RawAlpnClient() {
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
  }
  static int send(void* self, const unsigned char* data, std::size_t len) {
    static_cast<RawAlpnClient*>(self)->to_server.append(reinterpret_cast<const char*>(data), len);
    return static_cast<int>(len);
  }
  static int recv(void* self, unsigned char* data, std::size_t len) {
    std::string& in = static_cast<RawAlpnClient*>(self)->from_server;
    if (in.empty()) return MBEDTLS_ERR_SSL_WANT_READ;
    const std::size_t n = std::min(len, in.size());
    std::memcpy(data, in.data(), n);
    in.erase(0, n);
    return static_cast<int>(n);
  }

  // Runs the handshake against `server`; returns the server's result.
  int handshake_with(Session& server) {
    int server_rc = DERP_OK;
    for (int round = 0; round < 20; ++round) {
      const int rc = mbedtls_ssl_handshake(&ssl);
      if (rc != 0 && rc != MBEDTLS_ERR_SSL_WANT_READ) break;
      std::size_t used = 0;
      server_rc = server.feed_ciphertext(as_bytes(to_server), &used);
      to_server.erase(0, used);
      const Bytes reply = server.pending_ciphertext();
      from_server.append(reinterpret_cast<const char*>(reply.data()), reply.size());
      server.consume_ciphertext(reply.size());
      if (server_rc != DERP_OK || (rc == 0 && server.handshake_done())) break;
    }
    return server_rc;
  }
};

}  // namespace

TEST_CASE("tls alpn: the server picks http/1.1 over h2 and refuses h2 alone", "[tls]") {
  const auto server_config = self_signed_server();
  SECTION("h2 and http/1.1 offered") {
    RawAlpnClient client({"h2", "http/1.1"});
    std::unique_ptr<Session> server;
    REQUIRE(Session::create_server(*server_config, &server) == DERP_OK);
    CHECK(client.handshake_with(*server) == DERP_OK);
    CHECK(server->handshake_done());
    CHECK(server->alpn_protocol() == "http/1.1");
    CHECK(std::string(mbedtls_ssl_get_alpn_protocol(&client.ssl)) == "http/1.1");
  }
  SECTION("only h2 offered: no_application_protocol, never h2") {
    RawAlpnClient client({"h2"});
    std::unique_ptr<Session> server;
    REQUIRE(Session::create_server(*server_config, &server) == DERP_OK);
    CHECK(client.handshake_with(*server) == DERP_ERR_TLS_HANDSHAKE);
    CHECK_FALSE(server->handshake_done());
    CAPTURE(server->error_detail());
  }
}
