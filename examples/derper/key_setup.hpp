// The server's identity, as derper keeps it (reference §0, §7): the -c key file, created with a fresh key on
// first start, or a throw-away key in -dev mode without -c. derp-client's --key-file uses the same file form.
#pragma once

#include <string>

#include "crypto/node_key.hpp"

namespace derper {

// The -c path derper uses when none is given: /var/lib/derper/derper.key for root; "" (an error) otherwise.
std::string default_key_path();

// Reads the key file at `path`, or, when it does not exist, creates it with mode 0600 and a fresh key. *created
// says which. false with *error when the file is unreadable, malformed or cannot be written, or when its directory
// does not exist (never created here: a mistyped path should not leave directories behind).
bool load_or_create_key(const std::string& path, derp::crypto::NodePrivate* key, bool* created, std::string* error);

// Creates the directory of `path` (and its parents) when missing, as derper does for its key file; *made says
// whether it did. false with *error when it cannot.
bool ensure_key_directory(const std::string& path, bool* made, std::string* error);

}  // namespace derper
