// The derper key file (`derper -c`, reference §0; Tailscale cmd/derper/derper.go config):
// json.MarshalIndent(config{PrivateKey}, "", "\t"), i.e.
//   {
//   	"PrivateKey": "privkey:<64 hex>"
//   }
// with no newline at the end.
#pragma once

#include <string>
#include <string_view>

#include "crypto/node_key.hpp"

namespace derp::crypto {

// Exactly the bytes derper writes (93 of them).
std::string encode_key_file(const NodePrivate& key);

// Reads the file as Go's json.Unmarshal does (field name case-insensitive, unknown fields ignored, last duplicate
// wins). DERP_OK; DERP_ERR_BAD_JSON for malformed JSON, a non-string value, or no "PrivateKey" at all (Go would
// carry on with a zero key that cannot be used); the key text's own errors (DERP_ERR_KEY_PREFIX, _LENGTH, _HEX).
int decode_key_file(std::string_view json, NodePrivate* out);

}  // namespace derp::crypto
