// Decoding by type byte: picks the typed decoder for a frame's type and hands the decoded message to a visitor.
// Generated from DERP_FRAME_TYPE_MAP, so a new frame type needs a <CxxName>Frame struct, decode() and encode().
#pragma once

#include <cstdint>

#include "common/bytes.hpp"
#include "derp/frame.h"
#include "frame/decode.hpp"
#include "frame/messages.hpp"

namespace derp::frame {

// Decodes payload as a frame of this type; on success calls fn(const <CxxName>Frame&). Returns the decoder's
// result, or DERP_ERR_FRAME_TYPE for a type not in the list (which callers normally skip).
template <class Visitor>
int decode_and_visit(std::uint8_t type, Bytes payload, Visitor&& fn) {
  switch (type) {
#define DERP_FRAME_DECODE_CASE_(c_name, cxx_name, value) \
  case (value): {                                        \
    cxx_name##Frame msg;                                 \
    const int result = decode(payload, &msg);            \
    if (result == DERP_OK) fn(msg);                      \
    return result;                                       \
  }
    DERP_FRAME_TYPE_MAP(DERP_FRAME_DECODE_CASE_)
#undef DERP_FRAME_DECODE_CASE_
    default:
      return DERP_ERR_FRAME_TYPE;
  }
}

}  // namespace derp::frame
