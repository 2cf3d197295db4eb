#include "frame/header.hpp"

#include "frame/limits.hpp"

namespace derp::frame {

FrameHeader parse_header(const std::uint8_t* p) { return FrameHeader{p[0], load_be32(p + 1)}; }

void write_header(std::uint8_t* out, std::uint8_t type, std::uint32_t payload_len) {
  out[0] = type;
  store_be32(out + 1, payload_len);
}

int check_payload_len(std::uint8_t type, std::uint64_t payload_len, std::uint32_t max_frame_len) {
  if (payload_len > max_frame_len || payload_len > max_payload_len(type)) return DERP_ERR_FRAME_TOO_LARGE;
  return DERP_OK;
}

int encode_header(std::uint8_t type, std::uint64_t payload_len, MutableBytes out) {
  if (const int r = check_payload_len(type, payload_len, UINT32_MAX); r != DERP_OK) return r;
  if (out.size() < kHeaderLen) return DERP_ERR_BUFFER_TOO_SMALL;
  write_header(out.data(), type, static_cast<std::uint32_t>(payload_len));
  return DERP_OK;
}

}  // namespace derp::frame
