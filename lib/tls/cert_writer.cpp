#include "tls/cert_writer.hpp"

#include <ctime>

#include <mbedtls/asn1.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "derp/common.h"
#include "tls/tls_error.hpp"

namespace derp::tls {

namespace {

// Frees mbedTLS contexts on every return path.
struct PkContext {
  mbedtls_pk_context pk;
  PkContext() { mbedtls_pk_init(&pk); }
  ~PkContext() { mbedtls_pk_free(&pk); }
};
struct CrtContext {
  mbedtls_x509_crt crt;
  CrtContext() { mbedtls_x509_crt_init(&crt); }
  ~CrtContext() { mbedtls_x509_crt_free(&crt); }
};
struct WriteContext {
  mbedtls_x509write_cert crt;
  WriteContext() { mbedtls_x509write_crt_init(&crt); }
  ~WriteContext() { mbedtls_x509write_crt_free(&crt); }
};
struct Mpi {
  mbedtls_mpi value;
  Mpi() { mbedtls_mpi_init(&value); }
  ~Mpi() { mbedtls_mpi_free(&value); }
};

int fail(std::string* detail, const std::string& what, int mbedtls_code) {
  if (detail) *detail = what + ": " + mbedtls_error_text(mbedtls_code);
  return DERP_ERR_TLS_CONFIG;
}

// DER definite length (X.690 §8.1.3): short form below 128, else 0x80|count followed by big-endian bytes.
void append_der_length(std::vector<std::uint8_t>* out, std::size_t len) {
  if (len < 0x80) {
    out->push_back(static_cast<std::uint8_t>(len));
    return;
  }
  std::uint8_t bytes[sizeof(std::size_t)];
  std::size_t n = 0;
  for (std::size_t v = len; v != 0; v >>= 8) bytes[n++] = static_cast<std::uint8_t>(v);
  out->push_back(static_cast<std::uint8_t>(0x80 | n));
  while (n != 0) out->push_back(bytes[--n]);
}

void append_tlv(std::vector<std::uint8_t>* out, std::uint8_t tag, const std::uint8_t* value, std::size_t len) {
  out->push_back(tag);
  append_der_length(out, len);
  out->insert(out->end(), value, value + len);
}

// SubjectAltName ::= GeneralNames ::= SEQUENCE OF GeneralName, with dNSName [2] IA5String and
// iPAddress [7] OCTET STRING, both IMPLICIT (RFC 5280 §4.2.1.6).
std::vector<std::uint8_t> encode_subject_alt_name(const CertificateSpec& spec) {
  std::vector<std::uint8_t> names;
  for (const std::string& dns : spec.dns_names) {
    append_tlv(&names, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME,
               reinterpret_cast<const std::uint8_t*>(dns.data()), dns.size());
  }
  for (const IpLiteral& ip : spec.ip_addresses) {
    append_tlv(&names, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS, ip.bytes.data(), ip.size);
  }
  std::vector<std::uint8_t> sequence;
  append_tlv(&sequence, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE, names.data(), names.size());
  return sequence;
}

// "YYYYMMDDhhmmss" in UTC, the form mbedtls_x509write_crt_set_validity takes.
std::string x509_time(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[16];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%S", &utc);
  return text;
}

// "CN=<name>" with the characters mbedTLS' name parser treats specially (',' '=' '\\') escaped.
std::string subject_name(const std::string& common_name) {
  std::string name = "CN=";
  for (const char c : common_name) {
    if (c == ',' || c == '=' || c == '\\') name += '\\';
    name += c;
  }
  return name;
}

}  // namespace

int write_certificate(const CertificateSpec& spec, const CertificateAndKey* issuer, Drbg& drbg,
                      CertificateAndKey* out, std::string* detail) {
  PkContext key;
  int rc = mbedtls_pk_setup(&key.pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (rc != 0) return fail(detail, "setting up the key", rc);
  rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key.pk), &Drbg::generate, &drbg);
  if (rc != 0) return fail(detail, "generating the P-256 key", rc);

  // The issuer's key signs and its subject becomes our issuer name; self-signed uses our own for both.
  PkContext issuer_key;
  CrtContext issuer_crt;
  mbedtls_pk_context* signing_key = &key.pk;
  std::string issuer_name = subject_name(spec.common_name);
  if (issuer != nullptr) {
    rc = mbedtls_pk_parse_key(&issuer_key.pk, reinterpret_cast<const unsigned char*>(issuer->key_pem.c_str()),
                              issuer->key_pem.size() + 1, nullptr, 0);
    if (rc != 0) return fail(detail, "reading the issuer key", rc);
    rc = mbedtls_x509_crt_parse_der(&issuer_crt.crt, issuer->cert_der.data(), issuer->cert_der.size());
    if (rc != 0) return fail(detail, "reading the issuer certificate", rc);
    char dn[512];
    if (mbedtls_x509_dn_gets(dn, sizeof dn, &issuer_crt.crt.subject) < 0) {
      return fail(detail, "reading the issuer name", MBEDTLS_ERR_X509_BUFFER_TOO_SMALL);
    }
    signing_key = &issuer_key.pk;
    issuer_name = dn;
  }

  WriteContext writer;
  mbedtls_x509write_crt_set_version(&writer.crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&writer.crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&writer.crt, &key.pk);
  mbedtls_x509write_crt_set_issuer_key(&writer.crt, signing_key);

  // A random positive 127-bit serial (RFC 5280 §4.1.2.2: unique per issuer, at most 20 octets).
  unsigned char serial_bytes[16];
  rc = Drbg::generate(&drbg, serial_bytes, sizeof serial_bytes);
  if (rc != 0) return fail(detail, "drawing a serial number", rc);
  serial_bytes[0] = static_cast<unsigned char>((serial_bytes[0] & 0x7f) | 0x01);
  Mpi serial;
  if ((rc = mbedtls_mpi_read_binary(&serial.value, serial_bytes, sizeof serial_bytes)) != 0 ||
      (rc = mbedtls_x509write_crt_set_serial(&writer.crt, &serial.value)) != 0) {
    return fail(detail, "setting the serial number", rc);
  }
  if ((rc = mbedtls_x509write_crt_set_subject_name(&writer.crt, subject_name(spec.common_name).c_str())) != 0 ||
      (rc = mbedtls_x509write_crt_set_issuer_name(&writer.crt, issuer_name.c_str())) != 0) {
    return fail(detail, "setting the subject or issuer name", rc);
  }
  rc = mbedtls_x509write_crt_set_validity(&writer.crt, x509_time(spec.not_before_unix).c_str(),
                                          x509_time(spec.not_after_unix).c_str());
  if (rc != 0) return fail(detail, "setting the validity dates", rc);

  // A leaf needs digitalSignature for ECDHE_ECDSA (mbedTLS checks it, RFC 5246 §7.4.2); a CA signs certificates.
  const unsigned key_usage = spec.is_ca ? (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
                                        : MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
  if ((rc = mbedtls_x509write_crt_set_basic_constraints(&writer.crt, spec.is_ca ? 1 : 0, -1)) != 0 ||
      (rc = mbedtls_x509write_crt_set_key_usage(&writer.crt, key_usage)) != 0) {
    return fail(detail, "setting basic constraints or key usage", rc);
  }
  if (!spec.dns_names.empty() || !spec.ip_addresses.empty()) {
    const std::vector<std::uint8_t> san = encode_subject_alt_name(spec);
    rc = mbedtls_x509write_crt_set_extension(&writer.crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                             MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), /*critical=*/0,
                                             san.data(), san.size());
    if (rc != 0) return fail(detail, "adding the subjectAltName extension", rc);
  }

  // The DER is written once, at the end of the buffer, and the PEM made from those same bytes: writing the PEM
  // separately would sign a second time.
  std::vector<unsigned char> buffer(4096);
  const int der_len = mbedtls_x509write_crt_der(&writer.crt, buffer.data(), buffer.size(), &Drbg::generate, &drbg);
  if (der_len < 0) return fail(detail, "signing the certificate", der_len);
  const unsigned char* der = buffer.data() + buffer.size() - static_cast<std::size_t>(der_len);
  std::vector<std::uint8_t> cert_der(der, der + der_len);

  std::vector<unsigned char> pem(2 * cert_der.size() + 128);
  std::size_t pem_len = 0;
  rc = mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", cert_der.data(),
                                cert_der.size(), pem.data(), pem.size(), &pem_len);
  if (rc != 0) return fail(detail, "writing the certificate PEM", rc);
  std::string cert_pem(reinterpret_cast<const char*>(pem.data()));  // pem_len counts the NUL

  std::vector<unsigned char> key_pem(1024);
  rc = mbedtls_pk_write_key_pem(&key.pk, key_pem.data(), key_pem.size());
  if (rc != 0) return fail(detail, "writing the key PEM", rc);

  out->cert_der = std::move(cert_der);
  out->cert_pem = std::move(cert_pem);
  out->key_pem = reinterpret_cast<const char*>(key_pem.data());
  mbedtls_platform_zeroize(key_pem.data(), key_pem.size());
  return DERP_OK;
}

}  // namespace derp::tls
