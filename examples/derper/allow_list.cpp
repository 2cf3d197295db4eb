#include "allow_list.hpp"

#include <fstream>

#include "crypto/key_text.hpp"
#include "derp/common.h"

namespace derper {

namespace {
std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}
}  // namespace

bool AllowList::load(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read the allow list " + path;
    return false;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    derp::crypto::NodePublic key;
    if (const int rc = derp::crypto::parse_public(line, &key); rc != DERP_OK) {
      *error = path + ":" + std::to_string(number) + ": " + derp_strerror(rc);
      return false;
    }
    keys_.insert(key.bytes());
  }
  return true;
}

}  // namespace derper
