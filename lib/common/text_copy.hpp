// The one rule for handing text to a caller's buffer (every char* + capacity output of the C API):
//   - *needed (when not null) gets the bytes the whole text takes, its NUL included, whatever happens;
//   - the text fits: it is copied with its NUL, DERP_OK;
//   - it does not: the longest prefix that fits and does not split a UTF-8 character is copied, NUL-terminated
//     (nothing when cap is 0), DERP_ERR_BUFFER_TOO_SMALL.
// So a buffer is never left unterminated, a fixed field may simply ignore the result (truncation is then its
// documented behaviour), and a size query passes cap 0.
#pragma once

#include <cstddef>
#include <string_view>

namespace derp {

int copy_text(std::string_view text, char* out, std::size_t cap, std::size_t* needed = nullptr) noexcept;

}  // namespace derp
