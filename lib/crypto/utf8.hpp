// UTF-8 validity exactly as Go's unicode/utf8.DecodeRune judges it (no surrogates, no overlong forms, nothing past
// U+10FFFF). Go's JSON reader and writer replace every byte that does not start a valid sequence with U+FFFD, one
// replacement per byte; go_json_read/go_json_write copy that.
#pragma once

#include <cstddef>
#include <string_view>

namespace derp::crypto::utf8 {

// Length (1-4) of the valid UTF-8 sequence at the start of s, or 0 when s is empty or does not start with one.
std::size_t valid_sequence_length(std::string_view s);

}  // namespace derp::crypto::utf8
