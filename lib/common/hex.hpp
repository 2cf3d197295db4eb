// Lowercase hex, the form keys (reference §0) and certificate pins (sha256-raw:) are written in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace derp {

// Writes 2 * len lowercase hex digits to out (no NUL).
void write_hex(const std::uint8_t* data, std::size_t len, char* out);

// Reads exactly 2 * len hex digits of either case (Go's hex decoder accepts both) into out. false on any other
// character or length; out may then hold a partial result, which a caller handling secrets must wipe.
bool read_hex(std::string_view text, std::uint8_t* out, std::size_t len);

}  // namespace derp
