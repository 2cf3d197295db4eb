#include "key_setup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "crypto/key_file.hpp"
#include "derp/common.h"

namespace derper {

std::string default_key_path() { return geteuid() == 0 ? "/var/lib/derper/derper.key" : ""; }

namespace {

bool create_key_file(const std::string& path, derp::crypto::NodePrivate* key, std::string* error) {
  if (derp::crypto::generate_private(key) != DERP_OK) {
    *error = "cannot generate a key (libsodium failed)";
    return false;
  }
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    *error = "cannot create " + path + ": the directory " + parent.string() +
             (std::filesystem::exists(parent, ec) ? " is not a directory" : " does not exist (create it first)");
    return false;
  }
  // O_EXCL: never overwrite a key another process wrote meanwhile; 0600: the file holds a secret.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  const std::string text = derp::crypto::encode_key_file(*key);
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    ::unlink(path.c_str());
    return false;
  }
  return true;
}

}  // namespace

bool ensure_key_directory(const std::string& path, bool* made, std::string* error) {
  *made = false;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (parent.empty() || std::filesystem::is_directory(parent, ec)) return true;
  *made = std::filesystem::create_directories(parent, ec);
  if (ec) {
    *error = "cannot create the directory " + parent.string() + " for the key file: " + ec.message();
    return false;
  }
  return true;
}

bool load_or_create_key(const std::string& path, derp::crypto::NodePrivate* key, bool* created, std::string* error) {
  *created = false;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) {
      *error = "cannot look at " + path + ": " + ec.message();
      return false;
    }
    *created = true;
    return create_key_file(path, key, error);
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf())) {
    *error = "cannot read " + path;
    return false;
  }
  const int rc = derp::crypto::decode_key_file(text.str(), key);
  if (rc != DERP_OK) {
    *error = path + " is not a derper key file: " + derp_strerror(rc);
    return false;
  }
  return true;
}

}  // namespace derper
