#include "tls/pem_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <mbedtls/platform_util.h>

#include "derp/common.h"
#include "tls/tls_error.hpp"

namespace derp::tls {

namespace {
int config_error(std::string* detail, std::string text) {
  if (detail) *detail = std::move(text);
  return DERP_ERR_TLS_CONFIG;
}
}  // namespace

std::string certificate_file_stem(std::string_view hostname) {
  std::string stem;
  for (const char c : hostname) {
    const bool letter_or_digit = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (letter_or_digit || c == '.' || c == '-') stem += c;
  }
  return stem;
}

ManualCertPaths manual_cert_paths(const std::filesystem::path& certdir, std::string_view hostname) {
  const std::string stem = certificate_file_stem(hostname);
  return ManualCertPaths{certdir / (stem + ".crt"), certdir / (stem + ".key")};
}

int read_text_file(const std::filesystem::path& path, std::string* out, std::string* detail) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return config_error(detail, "cannot read " + path.string() + ": " + std::strerror(errno));
  std::string text;
  char chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, file)) > 0) text.append(chunk, n);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return config_error(detail, "cannot read " + path.string() + ": read error");
  *out = std::move(text);
  return DERP_OK;
}

int write_text_file(const std::filesystem::path& path, std::string_view content, bool private_to_owner,
                    std::string* detail) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  const mode_t mode = private_to_owner ? 0600 : 0644;
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return config_error(detail, "cannot write " + temporary.string() + ": " + std::strerror(errno));
  // O_CREAT's mode applies only to a new file; a leftover temporary keeps its old mode unless we set it.
  bool ok = ::fchmod(fd, mode) == 0;
  for (std::size_t done = 0; ok && done < content.size();) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  const int saved_errno = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok || std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(ok ? errno : saved_errno);
    ::unlink(temporary.c_str());
    return config_error(detail, "cannot write " + path.string() + ": " + reason);
  }
  return DERP_OK;
}

int parse_certificates(std::string_view text, std::string_view source, bool allow_unparsable, mbedtls_x509_crt* chain,
                       std::string* detail) {
  // mbedTLS takes PEM only with the terminating NUL counted in the length.
  const std::string nul_terminated(text);
  const int rc = mbedtls_x509_crt_parse(chain, reinterpret_cast<const unsigned char*>(nul_terminated.c_str()),
                                        nul_terminated.size() + 1);
  if (rc < 0) {
    return config_error(detail, "no usable certificate in " + std::string(source) + ": " + mbedtls_error_text(rc));
  }
  if (rc > 0 && !allow_unparsable) {
    return config_error(detail,
                        std::to_string(rc) + " certificate(s) in " + std::string(source) + " could not be parsed");
  }
  return DERP_OK;
}

int parse_private_key(std::string_view text, std::string_view source, mbedtls_pk_context* key, std::string* detail) {
  std::string nul_terminated(text);
  const int rc = mbedtls_pk_parse_key(key, reinterpret_cast<const unsigned char*>(nul_terminated.c_str()),
                                      nul_terminated.size() + 1, /*pwd=*/nullptr, 0);
  mbedtls_platform_zeroize(nul_terminated.data(), nul_terminated.size());
  if (rc != 0) {
    return config_error(detail, "no usable private key in " + std::string(source) + ": " + mbedtls_error_text(rc));
  }
  return DERP_OK;
}

}  // namespace derp::tls
