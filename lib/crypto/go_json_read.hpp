// Reading a JSON object the way Go's encoding/json.Unmarshal fills a struct, so that we accept and reject what a
// Go peer does (reference §3 and §9.5):
//   - members are applied in document order, so a repeated key's last value wins;
//   - a key selects a field by exact name, else case-insensitively with Go's folding (ASCII letters, plus the
//     four non-ASCII runes that fold onto ASCII ones: U+0130 İ, U+0131 ı, U+017F ſ, U+212A Kelvin sign);
//   - unknown keys are skipped whatever their value; null leaves a field as it was (the as_* conversions accept it
//     and change nothing; a handler that must tell null apart sees Kind::kNull, as Go's Unmarshaler types do); a
//     top-level null is an empty document; any other top-level value than an object is an error;
//   - inside strings, each byte that is not valid UTF-8 becomes U+FFFD and a lone UTF-16 surrogate escape becomes
//     U+FFFD (Go coerces both; nlohmann would refuse them);
//   - a leading byte-order mark is an error, a raw NUL byte anywhere is an error (a trailing one included), and
//     nesting deeper than 10000 is an error (Go's limits).
// The syntax check itself is nlohmann's SAX parser, which allows exactly RFC 8259 like Go's scanner.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace derp::crypto::gojson {

// The value of one member of the top-level object. Objects and arrays are reported by kind only: no field of ours
// takes one, so they are either skipped (unknown key) or a type error.
struct Value {
  enum class Kind { kBool, kSigned, kUnsigned, kFloat, kString, kObject, kArray, kNull };
  Kind kind = Kind::kBool;
  bool boolean = false;
  std::int64_t signed_number = 0;     // kSigned: an integer literal below zero
  std::uint64_t unsigned_number = 0;  // kUnsigned: an integer literal, zero or above
  std::string_view text;              // kString: the decoded string (valid UTF-8)
};

// Called once per member of the top-level object, in document order. Returns false to reject the whole
// document (a known field with a value of the wrong type).
using MemberHandler = std::function<bool(std::string_view key, const Value& value)>;

// DERP_OK, DERP_ERR_BAD_JSON (malformed, not an object, or rejected by the handler), DERP_ERR_NO_MEMORY. Never throws.
int read_object(std::string_view text, const MemberHandler& on_member);

// Whether a member key selects the field called name (ASCII), as Go matches it.
bool key_matches(std::string_view key, std::string_view name);

// Go's conversions into a field of each type; null succeeds and leaves *out as it was. False for a wrong type: a string for an int, 2.0 or 1e3 for an int
// (Go parses integers with strconv.ParseInt), an integer outside the field's range, a number for a bool, ...
bool as_bool(const Value& value, bool* out);
bool as_int64(const Value& value, std::int64_t* out);
bool as_int(const Value& value, int* out);  // Go's int is 64-bit; ours is narrower and refuses the rest
bool as_string(const Value& value, std::string* out);

}  // namespace derp::crypto::gojson
