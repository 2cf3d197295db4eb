#include "crypto/go_json_write.hpp"

#include "crypto/utf8.hpp"

namespace derp::crypto::gojson {

void append_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      switch (b) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (b < 0x20 || b == '<' || b == '>' || b == '&') {
            out += "\\u00";
            out.push_back(kHex[b >> 4]);
            out.push_back(kHex[b & 15]);
          } else {
            out.push_back(static_cast<char>(b));
          }
      }
      ++i;
      continue;
    }
    const std::size_t n = utf8::valid_sequence_length(s.substr(i));
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    const std::string_view seq = s.substr(i, n);
    if (seq == "\xE2\x80\xA8") {
      out += "\\u2028";
    } else if (seq == "\xE2\x80\xA9") {
      out += "\\u2029";
    } else {
      out += seq;
    }
    i += n;
  }
  out.push_back('"');
}

void ObjectWriter::add_name(std::string_view name) {
  if (!first_) text_.push_back(',');
  first_ = false;
  append_string(text_, name);
  text_.push_back(':');
}

void ObjectWriter::add_int(std::string_view name, std::int64_t value) {
  add_name(name);
  text_ += std::to_string(value);
}

void ObjectWriter::add_bool(std::string_view name, bool value) {
  add_name(name);
  text_ += value ? "true" : "false";
}

void ObjectWriter::add_string(std::string_view name, std::string_view value) {
  add_name(name);
  append_string(text_, value);
}

std::string ObjectWriter::finish() && {
  text_.push_back('}');
  return std::move(text_);
}

}  // namespace derp::crypto::gojson
