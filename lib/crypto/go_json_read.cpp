#include "crypto/go_json_read.hpp"

#include <climits>
#include <new>

#include <nlohmann/json.hpp>

#include "crypto/utf8.hpp"
#include "derp/common.h"

namespace derp::crypto::gojson {

namespace {

using json = nlohmann::json;

// Go's scanner refuses nesting deeper than this (encoding/json scanner.go maxNestingDepth).
constexpr int kMaxDepth = 10000;

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// The 4 hex digits of a \u escape starting at text[pos] ("\uXXXX"), or -1 when it is not one.
long unicode_escape_at(std::string_view text, std::size_t pos) {
  if (pos + 6 > text.size() || text[pos] != '\\' || text[pos + 1] != 'u') return -1;
  long v = 0;
  for (std::size_t i = pos + 2; i < pos + 6; ++i) {
    if (!is_hex(text[i])) return -1;
    const char c = text[i];
    v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

bool is_high_surrogate(long v) { return v >= 0xD800 && v <= 0xDBFF; }
bool is_surrogate(long v) { return v >= 0xD800 && v <= 0xDFFF; }

// Rewrites what Go's decoder repairs but nlohmann refuses, keeping everything else byte for byte (see the header).
// Outside strings both parsers reject any non-ASCII byte and any backslash, and a replacement there stays an
// error, so the rewrite changes no accept/reject decision except the two repairs.
std::string coerce_like_go(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      const long v = unicode_escape_at(text, i);
      if (v < 0) {
        // Another escape: copy it whole so that the second byte of "\\" never starts an escape of its own.
        out += text.substr(i, 2);
        i += 2;
        continue;
      }
      if (is_high_surrogate(v)) {
        const long low = unicode_escape_at(text, i + 6);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          out += text.substr(i, 12);
          i += 12;
          continue;
        }
      }
      // Go's unquote: a surrogate that is not the first half of a pair decodes as U+FFFD (6 bytes consumed).
      out += is_surrogate(v) ? std::string_view("\\ufffd") : text.substr(i, 6);
      i += 6;
      continue;
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    const std::size_t n = utf8::valid_sequence_length(text.substr(i));
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD for this one byte, as Go's unquote does
      ++i;
    } else {
      out += text.substr(i, n);
      i += n;
    }
  }
  return out;
}

// Go 1.21+ encoding/json folds a key rune by rune with unicode.ToUpper(unicode.ToLower(r)). The folded form of the
// next rune of key when it is an ASCII letter or other ASCII byte, or 0 when the rune folds to something non-ASCII
// (and so can never match one of our ASCII field names).
char fold_next(std::string_view key, std::size_t* used) {
  const auto c = static_cast<unsigned char>(key[0]);
  if (c < 0x80) {
    *used = 1;
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : static_cast<char>(c);
  }
  struct Special {
    std::string_view utf8;
    char folded;
  };
  static constexpr Special kSpecials[] = {
      {"\xC4\xB0", 'I'},      // U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE: ToLower → 'i'
      {"\xC4\xB1", 'I'},      // U+0131 LATIN SMALL LETTER DOTLESS I: ToUpper → 'I'
      {"\xC5\xBF", 'S'},      // U+017F LATIN SMALL LETTER LONG S: ToUpper → 'S'
      {"\xE2\x84\xAA", 'K'},  // U+212A KELVIN SIGN: ToLower → 'k'
  };
  for (const Special& s : kSpecials) {
    if (key.substr(0, s.utf8.size()) == s.utf8) {
      *used = s.utf8.size();
      return s.folded;
    }
  }
  return 0;
}

// SAX handler that reports the members of the top-level object and skips everything nested below them.
class TopLevelObjectReader {
 public:
  explicit TopLevelObjectReader(const MemberHandler& on_member) : on_member_(on_member) {}

  // A top-level null is an empty document; a member's null leaves its field as it was; nested nulls are skipped.
  bool null() {
    Value value;
    value.kind = Value::Kind::kNull;
    return depth_ == 0 || scalar(value);
  }
  bool boolean(bool v) {
    Value value;
    value.kind = Value::Kind::kBool;
    value.boolean = v;
    return scalar(value);
  }
  bool number_integer(json::number_integer_t v) {
    Value value;
    value.kind = v < 0 ? Value::Kind::kSigned : Value::Kind::kUnsigned;
    value.signed_number = v;
    value.unsigned_number = v < 0 ? 0 : static_cast<std::uint64_t>(v);
    return scalar(value);
  }
  bool number_unsigned(json::number_unsigned_t v) {
    Value value;
    value.kind = Value::Kind::kUnsigned;
    value.unsigned_number = v;
    return scalar(value);
  }
  bool number_float(json::number_float_t, const json::string_t&) {
    Value value;
    value.kind = Value::Kind::kFloat;
    return scalar(value);
  }
  bool string(json::string_t& v) {
    Value value;
    value.kind = Value::Kind::kString;
    value.text = v;
    return scalar(value);
  }
  bool binary(json::binary_t&) { return false; }  // never produced by the JSON text format

  bool start_object(std::size_t) { return open(Value::Kind::kObject); }
  bool start_array(std::size_t) {
    if (depth_ == 0) return false;  // a top-level array is not a struct
    return open(Value::Kind::kArray);
  }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    if (depth_ == 1) key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  bool scalar(const Value& value) {
    if (depth_ == 0) return false;  // a top-level number, string or bool is not a struct
    if (depth_ == 1) return on_member_(key_, value);
    return true;
  }
  bool open(Value::Kind kind) {
    if (depth_ == 1) {
      Value value;
      value.kind = kind;
      if (!on_member_(key_, value)) return false;
    }
    return ++depth_ <= kMaxDepth;
  }
  bool close() {
    --depth_;
    return true;
  }

  const MemberHandler& on_member_;
  int depth_ = 0;
  std::string key_;
};

}  // namespace

int read_object(std::string_view text, const MemberHandler& on_member) {
  // nlohmann skips a UTF-8 byte-order mark at the start; Go's scanner calls it an invalid character.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") return DERP_ERR_BAD_JSON;
  // nlohmann's lexer takes a NUL byte for the end of input, so `{"version":2}\0` would pass. Go's scanner refuses a
  // raw NUL anywhere: after the value ("invalid character '\x00' after top-level value") and inside a string (a
  // control character); escaped, as \u0000, it is still allowed.
  if (text.find('\0') != std::string_view::npos) return DERP_ERR_BAD_JSON;
  try {
    const std::string coerced = coerce_like_go(text);
    TopLevelObjectReader reader(on_member);
    const bool ok = json::sax_parse(coerced.begin(), coerced.end(), &reader, json::input_format_t::json,
                                    /*strict=*/true, /*ignore_comments=*/false);
    return ok ? DERP_OK : DERP_ERR_BAD_JSON;
  } catch (const std::bad_alloc&) {
    return DERP_ERR_NO_MEMORY;
  } catch (...) {
    return DERP_ERR_BAD_JSON;
  }
}

bool key_matches(std::string_view key, std::string_view name) {
  if (key == name) return true;  // Go prefers the exact name
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < key.size() && j < name.size()) {
    std::size_t used = 0;
    const char folded = fold_next(key.substr(i), &used);
    const char want = (name[j] >= 'a' && name[j] <= 'z') ? static_cast<char>(name[j] - 'a' + 'A') : name[j];
    if (folded == 0 || folded != want) return false;
    i += used;
    ++j;
  }
  return i == key.size() && j == name.size();
}

bool as_bool(const Value& value, bool* out) {
  if (value.kind == Value::Kind::kNull) return true;
  if (value.kind != Value::Kind::kBool) return false;
  *out = value.boolean;
  return true;
}

bool as_int64(const Value& value, std::int64_t* out) {
  if (value.kind == Value::Kind::kNull) return true;
  if (value.kind == Value::Kind::kSigned) {
    *out = value.signed_number;
    return true;
  }
  if (value.kind == Value::Kind::kUnsigned && value.unsigned_number <= static_cast<std::uint64_t>(INT64_MAX)) {
    *out = static_cast<std::int64_t>(value.unsigned_number);
    return true;
  }
  return false;
}

bool as_int(const Value& value, int* out) {
  if (value.kind == Value::Kind::kNull) return true;
  std::int64_t v = 0;
  if (!as_int64(value, &v) || v < INT_MIN || v > INT_MAX) return false;
  *out = static_cast<int>(v);
  return true;
}

bool as_string(const Value& value, std::string* out) {
  if (value.kind == Value::Kind::kNull) return true;
  if (value.kind != Value::Kind::kString) return false;
  out->assign(value.text);
  return true;
}

}  // namespace derp::crypto::gojson
