// Writing JSON the way Go's encoding/json.Marshal does, so that the bytes we seal equal the bytes a Go peer seals
// (info_boxes.json compares plaintexts byte for byte). Only what the info structs need: strings, ints, bools.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace derp::crypto::gojson {

// Appends s as a JSON string literal with Go's escaping (encoding/json appendString with escapeHTML, as
// json.Marshal uses): \" \\ \b \f \n \r \t; other bytes < 0x20 and < > & as \u00xx (lowercase hex); U+2028 and
// U+2029 as \u2028 / \u2029; each byte that does not start valid UTF-8 as \ufffd. Everything else verbatim.
void append_string(std::string& out, std::string_view s);

// Builds one flat object: {"a":1,"b":true}. Members come out in the order they are added.
class ObjectWriter {
 public:
  ObjectWriter() : text_("{") {}
  void add_int(std::string_view name, std::int64_t value);
  void add_bool(std::string_view name, bool value);
  void add_string(std::string_view name, std::string_view value);
  std::string finish() &&;

 private:
  void add_name(std::string_view name);
  std::string text_;
  bool first_ = true;
};

}  // namespace derp::crypto::gojson
