// C entry points of include/derp/frame.h: argument checks, the struct_size rule, and lib/frame underneath.
#include "derp/frame.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>

#include "capi/guard.hpp"
#include "frame/fields.hpp"
#include "frame/frame_reader.hpp"
#include "frame/frame_types.hpp"
#include "frame/header.hpp"

struct derp_frame_reader {
  explicit derp_frame_reader(std::uint32_t max_frame_len) : reader(max_frame_len) {}
  derp::frame::FrameReader reader;
};

namespace {

using derp::Bytes;
using derp::MutableBytes;

// A caller's derp_frame_fields must at least reach past `type`; everything after it is optional by struct_size.
constexpr std::size_t kMinFieldsSize = offsetof(derp_frame_fields, type) + sizeof(derp_frame_fields::type);
constexpr std::size_t kMinReaderOptionsSize =
    offsetof(derp_frame_reader_options, max_frame_len) + sizeof(derp_frame_reader_options::max_frame_len);

// Copies the bytes of `from` after struct_size that also exist in a caller struct of caller_size bytes: newer
// fields never touch an older caller's memory.
template <class Struct>
void copy_known_prefix(const Struct& from, Struct* to, std::size_t caller_size) {
  const std::size_t begin = sizeof(std::size_t);
  const std::size_t end = std::min(caller_size, sizeof(Struct));
  if (end > begin) {
    std::memcpy(reinterpret_cast<unsigned char*>(to) + begin, reinterpret_cast<const unsigned char*>(&from) + begin,
                end - begin);
  }
}

bool bad_span(const void* p, std::size_t len) { return p == nullptr && len != 0; }

}  // namespace

extern "C" {

const char* derp_frame_type_name(int type) {
  if (type < 0 || type > 0xFF) return "Unknown";
  return derp::frame::frame_type_name(static_cast<std::uint8_t>(type));
}

int derp_frame_decode(const derp_frame* frame, derp_frame_fields* out) {
  return derp::capi::guarded([&]() -> int {
    if (frame == nullptr || out == nullptr || bad_span(frame->payload, frame->payload_len)) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    const std::size_t caller_size = out->struct_size;
    if (caller_size < kMinFieldsSize) return DERP_ERR_INVALID_ARGUMENT;
    derp_frame_fields decoded{};
    const int result = derp::frame::decode_fields(frame->type, Bytes(frame->payload, frame->payload_len), &decoded);
    if (result != DERP_OK) return result;
    copy_known_prefix(decoded, out, caller_size);
    return DERP_OK;
  });
}

int derp_frame_encode(const derp_frame_fields* fields, uint8_t* out, size_t cap, size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    if (fields == nullptr || out_len == nullptr || bad_span(out, cap)) return DERP_ERR_INVALID_ARGUMENT;
    *out_len = 0;
    if (fields->struct_size < kMinFieldsSize) return DERP_ERR_INVALID_ARGUMENT;
    derp_frame_fields full{};  // fields an older caller does not have stay zero
    full.struct_size = sizeof full;
    copy_known_prefix(*fields, &full, fields->struct_size);
    return derp::frame::encode_fields(full, MutableBytes(out, cap), out_len);
  });
}

int derp_frame_encode_header(uint8_t type, size_t payload_len, uint8_t* out, size_t cap) {
  return derp::capi::guarded([&]() -> int {
    if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    return derp::frame::encode_header(type, payload_len, MutableBytes(out, cap));
  });
}

int derp_frame_reader_options_init(derp_frame_reader_options* opts, size_t struct_size) {
  return derp::capi::guarded([&]() -> int {
    if (opts == nullptr || struct_size < kMinReaderOptionsSize) return DERP_ERR_INVALID_ARGUMENT;
    derp_frame_reader_options defaults{};
    defaults.max_frame_len = derp::frame::kDefaultMaxFrameLen;
    copy_known_prefix(defaults, opts, struct_size);
    opts->struct_size = struct_size;
    return DERP_OK;
  });
}

int derp_frame_reader_new(const derp_frame_reader_options* opts, derp_frame_reader** out) {
  return derp::capi::guarded([&]() -> int {
    if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    derp_frame_reader_options chosen{};
    chosen.struct_size = sizeof chosen;
    chosen.max_frame_len = derp::frame::kDefaultMaxFrameLen;
    if (opts != nullptr) {
      if (opts->struct_size < kMinReaderOptionsSize) return DERP_ERR_INVALID_ARGUMENT;
      copy_known_prefix(*opts, &chosen, opts->struct_size);
    }
    if (chosen.max_frame_len == 0) return DERP_ERR_INVALID_ARGUMENT;
    *out = new derp_frame_reader(chosen.max_frame_len);
    return DERP_OK;
  });
}

void derp_frame_reader_free(derp_frame_reader* reader) { delete reader; }

int derp_frame_reader_next(derp_frame_reader* reader, const uint8_t* in, size_t in_len, size_t* consumed,
                           derp_frame* frame) {
  return derp::capi::guarded([&]() -> int {
    if (reader == nullptr || consumed == nullptr || frame == nullptr || bad_span(in, in_len)) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    derp::frame::Frame next;
    const int result = reader->reader.next(Bytes(in, in_len), consumed, &next);
    if (result == 1) {
      frame->type = next.type;
      frame->payload = next.payload.data();
      frame->payload_len = next.payload.size();
    }
    return result;
  });
}

int derp_frame_reader_reset(derp_frame_reader* reader) {
  return derp::capi::guarded([&]() -> int {
    if (reader == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    reader->reader.reset();
    return DERP_OK;
  });
}

}  // extern "C"
