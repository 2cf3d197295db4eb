// -verify-clients with -allow-list: the node keys this server admits (reference §4.10). derper asks the local
// tailscaled whether a key is a known peer; a plain list gives the same control without one.
#pragma once

#include <set>
#include <string>

#include "crypto/node_key.hpp"

namespace derper {

class AllowList {
 public:
  // One "nodekey:<64 hex>" per line; blank lines and lines starting with # are skipped. false with *error naming
  // the line when one is not a key.
  bool load(const std::string& path, std::string* error);
  bool admits(const derp::crypto::NodePublic& key) const { return keys_.count(key.bytes()) != 0; }
  std::size_t size() const { return keys_.size(); }

 private:
  std::set<derp::crypto::KeyBytes> keys_;
};

}  // namespace derper
