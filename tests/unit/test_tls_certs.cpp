// Certificates and their text forms: sha256-raw pins, IP literals, name matching, generated certificates,
// and derper's manual-mode files (reference §1.5, §7).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <mbedtls/x509_crt.h>

#include "derp/common.h"
#include "test_tls_helpers.hpp"
#include "tls/cert_pin.hpp"
#include "tls/host_match.hpp"
#include "common/ip_literal.hpp"
#include "tls/pem_files.hpp"
#include "tls/self_signed.hpp"

using namespace derp::tls;
using namespace derp::tls::test;
using derp::Bytes;
using derp::is_ip_literal;
using derp::parse_ip_literal;

namespace {

struct ParsedCert {
  mbedtls_x509_crt crt;
  explicit ParsedCert(const std::vector<std::uint8_t>& der) {
    mbedtls_x509_crt_init(&crt);
    REQUIRE(mbedtls_x509_crt_parse_der(&crt, der.data(), der.size()) == 0);
  }
  ~ParsedCert() { mbedtls_x509_crt_free(&crt); }
};

// A fresh empty folder under the system temp dir, removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "libderp-tls-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("tls cert pin: parse and format sha256-raw", "[tls]") {
  const Sha256Digest digest = sha256_of(as_bytes("abc"));
  // FIPS 180-2 appendix B.1: SHA-256("abc").
  const std::string text = "sha256-raw:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  CHECK(format_cert_pin(digest) == text);
  Sha256Digest parsed{};
  REQUIRE(parse_cert_pin(text, &parsed) == DERP_OK);
  CHECK(parsed == digest);
  REQUIRE(parse_cert_pin("sha256-raw:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", &parsed) ==
          DERP_OK);
  CHECK(parsed == digest);
  CHECK(is_cert_pin(text));
  CHECK_FALSE(is_cert_pin("derp.example.com"));
  CHECK(parse_cert_pin("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", &parsed) ==
        DERP_ERR_TLS_CONFIG);
  CHECK(parse_cert_pin(text.substr(0, text.size() - 1), &parsed) == DERP_ERR_TLS_CONFIG);
  CHECK(parse_cert_pin(text + "0", &parsed) == DERP_ERR_TLS_CONFIG);
  std::string bad_digit = text;
  bad_digit.back() = 'g';
  CHECK(parse_cert_pin(bad_digit, &parsed) == DERP_ERR_TLS_CONFIG);
}

TEST_CASE("tls ip literal: what counts as an IP hostname", "[tls]") {
  const auto v4 = parse_ip_literal("203.0.113.10");
  REQUIRE(v4);
  CHECK(v4->size == 4);
  CHECK(v4->bytes[0] == 203);
  CHECK(v4->bytes[3] == 10);
  const auto v6 = parse_ip_literal("2001:db8::10");
  REQUIRE(v6);
  CHECK(v6->size == 16);
  CHECK(v6->bytes[0] == 0x20);
  CHECK(v6->bytes[15] == 0x10);
  CHECK_FALSE(is_ip_literal("derp.example.com"));
  CHECK_FALSE(is_ip_literal(""));
  CHECK_FALSE(is_ip_literal("[2001:db8::10]"));
  CHECK_FALSE(is_ip_literal("fe80::1%eth0"));
  CHECK_FALSE(is_ip_literal("1.2.3"));
  CHECK_FALSE(is_ip_literal("1.2.3.4:443"));
}

TEST_CASE("tls self-signed IP certificate: fields derper's clients rely on", "[tls]") {
  const std::int64_t now = now_unix();
  CertificateAndKey cert;
  std::string detail;
  REQUIRE(generate_self_signed_ip_cert("203.0.113.10", now, test_drbg(), &cert, &detail) == DERP_OK);
  CHECK(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
  CHECK(cert.key_pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));

  // The PEM holds exactly the DER we pin.
  mbedtls_x509_crt from_pem;
  mbedtls_x509_crt_init(&from_pem);
  REQUIRE(mbedtls_x509_crt_parse(&from_pem, reinterpret_cast<const unsigned char*>(cert.cert_pem.c_str()),
                                 cert.cert_pem.size() + 1) == 0);
  CHECK(std::vector<std::uint8_t>(from_pem.raw.p, from_pem.raw.p + from_pem.raw.len) == cert.cert_der);
  mbedtls_x509_crt_free(&from_pem);

  ParsedCert parsed(cert.cert_der);
  CHECK(parsed.crt.version == 3);
  CHECK(mbedtls_pk_get_type(&parsed.crt.pk) == MBEDTLS_PK_ECKEY);
  char subject[256];
  REQUIRE(mbedtls_x509_dn_gets(subject, sizeof subject, &parsed.crt.subject) > 0);
  CHECK(std::string(subject) == "CN=203.0.113.10");
  CHECK(parsed.crt.ca_istrue == 0);
  CHECK(certificate_matches_host(parsed.crt, "203.0.113.10"));
  CHECK_FALSE(certificate_matches_host(parsed.crt, "203.0.113.11"));
  CHECK_FALSE(certificate_matches_host(parsed.crt, "derp.example.com"));
  CHECK_FALSE(mbedtls_x509_time_is_past(&parsed.crt.valid_to));
  CHECK_FALSE(mbedtls_x509_time_is_future(&parsed.crt.valid_from));
  CHECK(parsed.crt.valid_to.year >= parsed.crt.valid_from.year + 1);

  CHECK(generate_self_signed_ip_cert("derp.example.com", now, test_drbg(), &cert, &detail) == DERP_ERR_TLS_CONFIG);
  CHECK(detail.find("derp.example.com") != std::string::npos);
}

TEST_CASE("tls host match: DNS names, wildcards and IP addresses", "[tls]") {
  const CertificateAndKey cert =
      make_cert("ignored-cn.example", {"derp.example.com", "*.wild.example.com"}, {"192.0.2.1", "2001:db8::1"},
                nullptr);
  ParsedCert parsed(cert.cert_der);
  const mbedtls_x509_crt& crt = parsed.crt;
  CHECK(certificate_matches_host(crt, "derp.example.com"));
  CHECK(certificate_matches_host(crt, "DERP.Example.COM"));
  CHECK(certificate_matches_host(crt, "derp.example.com."));
  CHECK(certificate_matches_host(crt, "a.wild.example.com"));
  CHECK_FALSE(certificate_matches_host(crt, "wild.example.com"));
  CHECK_FALSE(certificate_matches_host(crt, "a.b.wild.example.com"));
  CHECK_FALSE(certificate_matches_host(crt, "example.com"));
  CHECK_FALSE(certificate_matches_host(crt, "ignored-cn.example"));  // the CN is not a name, as in Go
  CHECK(certificate_matches_host(crt, "192.0.2.1"));
  CHECK(certificate_matches_host(crt, "::ffff:192.0.2.1"));
  CHECK(certificate_matches_host(crt, "2001:db8::1"));
  CHECK(certificate_matches_host(crt, "2001:0db8:0::0001"));
  CHECK_FALSE(certificate_matches_host(crt, "192.0.2.2"));
  CHECK_FALSE(certificate_matches_host(crt, "2001:db8::2"));
  CHECK_FALSE(certificate_matches_host(crt, ""));
}

TEST_CASE("tls pem files: derper's manual-mode names", "[tls]") {
  CHECK(certificate_file_stem("derp.example.com") == "derp.example.com");
  CHECK(certificate_file_stem("203.0.113.10") == "203.0.113.10");
  CHECK(certificate_file_stem("2001:db8::10") == "2001db810");
  CHECK(certificate_file_stem("../../etc/passwd") == "....etcpasswd");
  CHECK(certificate_file_stem("a_b c/d") == "abcd");
  const ManualCertPaths paths = manual_cert_paths("/var/lib/derper/certs", "derp.example.com");
  CHECK(paths.cert == "/var/lib/derper/certs/derp.example.com.crt");
  CHECK(paths.key == "/var/lib/derper/certs/derp.example.com.key");
}

TEST_CASE("tls pem files: manual mode loads <certdir>/<host>.crt and .key", "[tls]") {
  TempDir dir;
  const CertificateAndKey ca = make_cert("libderp test CA", {}, {}, nullptr, true);
  const CertificateAndKey leaf = make_cert("derp.test.example", {"derp.test.example"}, {}, &ca);
  const ManualCertPaths paths = manual_cert_paths(dir.path, "derp.test.example");
  std::unique_ptr<ServerConfig> config;
  std::string detail;

  SECTION("good files, chain included") {
    write_file(paths.cert, leaf.cert_pem + ca.cert_pem);
    write_file(paths.key, leaf.key_pem);
    REQUIRE(ServerConfig::load_manual(dir.path.string(), "derp.test.example", &config, &detail) == DERP_OK);
    CHECK(config->cert_name() == format_cert_pin(sha256_of(Bytes(leaf.cert_der))));
    CHECK(config->hostname() == "derp.test.example");
    const auto trusting = client_config(ca.cert_pem);
    Connection c = connect(*trusting, {"derp.test.example", ""}, *config);
    CHECK(c.client.session->handshake_done());
  }
  SECTION("missing certificate file") {
    write_file(paths.key, leaf.key_pem);
    CHECK(ServerConfig::load_manual(dir.path.string(), "derp.test.example", &config, &detail) == DERP_ERR_TLS_CONFIG);
    CHECK(detail.find(paths.cert.string()) != std::string::npos);
    CHECK(config == nullptr);
  }
  SECTION("missing key file") {
    write_file(paths.cert, leaf.cert_pem);
    CHECK(ServerConfig::load_manual(dir.path.string(), "derp.test.example", &config, &detail) == DERP_ERR_TLS_CONFIG);
    CHECK(detail.find(paths.key.string()) != std::string::npos);
  }
  SECTION("garbled certificate file") {
    write_file(paths.cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    write_file(paths.key, leaf.key_pem);
    CHECK(ServerConfig::load_manual(dir.path.string(), "derp.test.example", &config, &detail) == DERP_ERR_TLS_CONFIG);
    CHECK(detail.find(paths.cert.string()) != std::string::npos);
  }
  SECTION("garbled key file") {
    write_file(paths.cert, leaf.cert_pem);
    write_file(paths.key, "this is no key");
    CHECK(ServerConfig::load_manual(dir.path.string(), "derp.test.example", &config, &detail) == DERP_ERR_TLS_CONFIG);
    CHECK(detail.find(paths.key.string()) != std::string::npos);
  }
  SECTION("a key that belongs to another certificate") {
    write_file(paths.cert, leaf.cert_pem);
    write_file(paths.key, ca.key_pem);
    CHECK(ServerConfig::load_manual(dir.path.string(), "derp.test.example", &config, &detail) == DERP_ERR_TLS_CONFIG);
    CHECK(detail.find("does not match") != std::string::npos);
  }
  SECTION("a certificate for another hostname") {
    const ManualCertPaths other = manual_cert_paths(dir.path, "other.test.example");
    write_file(other.cert, leaf.cert_pem);
    write_file(other.key, leaf.key_pem);
    CHECK(ServerConfig::load_manual(dir.path.string(), "other.test.example", &config, &detail) == DERP_ERR_TLS_CONFIG);
    CHECK(detail.find("other.test.example") != std::string::npos);
  }
}

TEST_CASE("tls pem files: an IP hostname gets a self-signed certificate that survives restarts", "[tls]") {
  TempDir dir;
  const std::filesystem::path certdir = dir.path / "certs";  // created on demand
  std::unique_ptr<ServerConfig> first;
  std::string detail;
  REQUIRE(ServerConfig::load_manual(certdir.string(), "127.0.0.1", &first, &detail) == DERP_OK);
  const ManualCertPaths paths = manual_cert_paths(certdir, "127.0.0.1");
  REQUIRE(std::filesystem::exists(paths.cert));
  REQUIRE(std::filesystem::exists(paths.key));
  struct stat key_stat{};
  REQUIRE(stat(paths.key.c_str(), &key_stat) == 0);
  CHECK((key_stat.st_mode & 0777) == 0600);

  // A restart loads the same files, so the pin published in the DERPMap stays valid.
  std::unique_ptr<ServerConfig> second;
  REQUIRE(ServerConfig::load_manual(certdir.string(), "127.0.0.1", &second, &detail) == DERP_OK);
  CHECK(second->cert_name() == first->cert_name());
  const auto client_cfg = client_config();
  Connection c = connect(*client_cfg, {"127.0.0.1", first->cert_name()}, *second);
  CHECK(c.client.session->handshake_done());
  CHECK(c.server.session->handshake_done());

  // A DNS hostname never gets one made up.
  CHECK(ServerConfig::load_manual(certdir.string(), "derp.test.example", &second, &detail) == DERP_ERR_TLS_CONFIG);
}
