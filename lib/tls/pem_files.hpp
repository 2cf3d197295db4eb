// Certificate and key files: derper's manual-mode names (<certdir>/<hostname>.crt and .key, reference §7),
// reading and parsing them with errors that name the file, and writing generated ones.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

namespace derp::tls {

// The hostname reduced to [A-Za-z0-9.-], as derper does before using it as a file name (so "../x" cannot
// escape certdir and an IPv6 address loses its colons).
std::string certificate_file_stem(std::string_view hostname);

struct ManualCertPaths {
  std::filesystem::path cert;  // <certdir>/<stem>.crt: PEM certificate chain, leaf first
  std::filesystem::path key;   // <certdir>/<stem>.key: PEM private key
};
ManualCertPaths manual_cert_paths(const std::filesystem::path& certdir, std::string_view hostname);

// The whole file into *out. DERP_OK, or DERP_ERR_TLS_CONFIG with "cannot read <path>: <reason>".
int read_text_file(const std::filesystem::path& path, std::string* out, std::string* detail);

// Writes through a temporary file and a rename, so a crash never leaves half a key behind. private_to_owner
// gives mode 0600 (keys); otherwise 0644. DERP_OK or DERP_ERR_TLS_CONFIG naming the path.
int write_text_file(const std::filesystem::path& path, std::string_view content, bool private_to_owner,
                    std::string* detail);

// Appends every certificate of a PEM (or single DER) text to *chain. `source` names it in errors. With
// allow_unparsable, a bundle where only some certificates fail still loads (system CA stores carry a few that
// mbedTLS cannot read); at least one must load either way. DERP_OK or DERP_ERR_TLS_CONFIG.
int parse_certificates(std::string_view text, std::string_view source, bool allow_unparsable, mbedtls_x509_crt* chain,
                       std::string* detail);

// An unencrypted PEM private key (PKCS#8, SEC 1 or PKCS#1). DERP_OK or DERP_ERR_TLS_CONFIG naming `source`.
int parse_private_key(std::string_view text, std::string_view source, mbedtls_pk_context* key, std::string* detail);

}  // namespace derp::tls
