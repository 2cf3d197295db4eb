#include "crypto/key_file.hpp"

#include "crypto/go_json_read.hpp"
#include "crypto/key_text.hpp"
#include "derp/common.h"

namespace derp::crypto {

namespace {
constexpr std::string_view kPrivateKeyField = "PrivateKey";
constexpr std::string_view kHead = "{\n\t\"PrivateKey\": \"";
constexpr std::string_view kTail = "\"\n}";
}  // namespace

std::string encode_key_file(const NodePrivate& key) {
  std::string text(kHead);
  text.resize(kHead.size() + kKeyTextLen);
  write_key_text(kPrivateTextPrefix, key.bytes(), text.data() + kHead.size());
  text += kTail;
  return text;
}

int decode_key_file(std::string_view json, NodePrivate* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  NodePrivate key;
  bool found = false;
  int key_error = DERP_OK;
  const int rc = gojson::read_object(json, [&](std::string_view name, const gojson::Value& value) {
    // Go checks the whole text's syntax first, then stops decoding at the first key text error: after one, only
    // the syntax still matters.
    if (key_error != DERP_OK || !gojson::key_matches(name, kPrivateKeyField)) return true;
    if (value.kind == gojson::Value::Kind::kNull) return true;  // leaves the field unset, as before
    if (value.kind != gojson::Value::Kind::kString) return false;
    key_error = parse_private(value.text, &key);
    found = key_error == DERP_OK;
    return true;
  });
  if (rc != DERP_OK) return rc;
  if (key_error != DERP_OK) return key_error;
  if (!found) return DERP_ERR_BAD_JSON;
  *out = key;
  return DERP_OK;
}

}  // namespace derp::crypto
