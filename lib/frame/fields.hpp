// The C API's one-struct view of a frame (derp_frame_fields) to and from the typed messages. The struct_size
// prefix rule is the C wrapper's business (capi/frame.cpp); here the struct is always the full, current one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.hpp"
#include "derp/frame.h"

namespace derp::frame {

// Decodes payload by type into *out, which is wholly rewritten on success (unused fields zero, struct_size =
// sizeof). Errors as decode() plus DERP_ERR_FRAME_TYPE for an unknown type; *out is untouched then.
int decode_fields(std::uint8_t type, Bytes payload, derp_frame_fields* out);

// Encodes the frame fields describe (fields of other types are ignored). Errors as encode() plus
// DERP_ERR_FRAME_TYPE and DERP_ERR_INVALID_ARGUMENT (a NULL pointer with a non-zero length).
int encode_fields(const derp_frame_fields& fields, MutableBytes out, std::size_t* written);

}  // namespace derp::frame
