// The 5-byte frame header: type, then the payload length as a big-endian uint32 (derp/derp.go writeFrameHeader).
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.hpp"
#include "derp/frame.h"

namespace derp::frame {

inline constexpr std::size_t kHeaderLen = DERP_FRAME_HEADER_LEN;

struct FrameHeader {
  std::uint8_t type = 0;
  std::uint32_t payload_len = 0;
};

// Reads a header from 5 bytes at p. Any bytes form a header; whether its length is acceptable is the caller's call
// (check_payload_len).
FrameHeader parse_header(const std::uint8_t* p);

// Writes 5 bytes at out.
void write_header(std::uint8_t* out, std::uint8_t type, std::uint32_t payload_len);

// DERP_OK, or DERP_ERR_FRAME_TOO_LARGE when payload_len exceeds max_frame_len or the type's protocol limit.
int check_payload_len(std::uint8_t type, std::uint64_t payload_len, std::uint32_t max_frame_len);

// Writes the header of a frame of this type with payload_len bytes of payload into out (at least 5 bytes), after
// checking the type's protocol limit. DERP_OK, DERP_ERR_FRAME_TOO_LARGE or DERP_ERR_BUFFER_TOO_SMALL.
int encode_header(std::uint8_t type, std::uint64_t payload_len, MutableBytes out);

}  // namespace derp::frame
