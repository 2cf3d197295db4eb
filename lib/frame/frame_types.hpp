// DERP frame types for C++: generated from DERP_FRAME_TYPE_MAP in include/derp/frame.h, where each type's payload
// layout and history is documented (once).
#pragma once

#include <array>
#include <cstdint>

#include "derp/frame.h"

namespace derp::frame {

enum class FrameType : std::uint8_t {
#define DERP_FRAME_TYPE_CXX_ENUM_(c_name, cxx_name, value) cxx_name = (value),
  DERP_FRAME_TYPE_MAP(DERP_FRAME_TYPE_CXX_ENUM_)
#undef DERP_FRAME_TYPE_CXX_ENUM_
};

// The frame's type byte as it travels.
constexpr std::uint8_t type_byte(FrameType type) { return static_cast<std::uint8_t>(type); }

// True for the values listed in DERP_FRAME_TYPE_MAP.
bool is_known_frame_type(std::uint8_t type);

// "ServerKey", "SendPacket", ...; "Unknown" for other values. Static storage.
const char* frame_type_name(std::uint8_t type);

// Keys and nonces are copied out of the payload: 32 and 24 bytes are cheap, and a fixed array is simpler to hold
// than a view with a fixed extent.
using Key = std::array<std::uint8_t, DERP_KEY_LEN>;
using Nonce = std::array<std::uint8_t, DERP_NONCE_LEN>;

}  // namespace derp::frame
