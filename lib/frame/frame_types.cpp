#include "frame/frame_types.hpp"

namespace derp::frame {

bool is_known_frame_type(std::uint8_t type) {
  switch (type) {
#define DERP_FRAME_TYPE_KNOWN_CASE_(c_name, cxx_name, value) case (value):
    DERP_FRAME_TYPE_MAP(DERP_FRAME_TYPE_KNOWN_CASE_)
#undef DERP_FRAME_TYPE_KNOWN_CASE_
    return true;
    default:
      return false;
  }
}

const char* frame_type_name(std::uint8_t type) {
  switch (type) {
#define DERP_FRAME_TYPE_NAME_CASE_(c_name, cxx_name, value) \
  case (value):                                             \
    return #cxx_name;
    DERP_FRAME_TYPE_MAP(DERP_FRAME_TYPE_NAME_CASE_)
#undef DERP_FRAME_TYPE_NAME_CASE_
    default:
      return "Unknown";
  }
}

}  // namespace derp::frame
