// Fuzz target: the DERP frame reader and every typed decoder. The input is a byte stream as a peer might send it.
//  1. Read it whole, then again in pieces whose sizes come from the input itself: both must give the same frames
//     and the same error (a split never changes the meaning of a stream).
//  2. Decode every frame with the decoder for its type; whatever decodes must re-encode to the identical bytes.
//  3. For a quarter of the inputs, with a header filter (as a server uses it): odd types up to 70,000 bytes are
//     discarded, type 0xFF refused; a discarded frame must come out empty with its length, in any split.
// Any disagreement aborts.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "derp/common.h"
#include "frame/dispatch.hpp"
#include "frame/encode.hpp"
#include "frame/frame_reader.hpp"
#include "frame/header.hpp"

namespace {

using derp::Bytes;
using derp::frame::Frame;
using derp::frame::FrameReader;

struct Copied {
  std::uint8_t type;
  std::vector<std::uint8_t> payload;
  bool discarded = false;
  std::uint32_t discarded_len = 0;
  bool operator==(const Copied&) const = default;
};

derp::frame::HeaderVerdict fuzz_filter(const void*, const derp::frame::FrameHeader& h) {
  if (h.type == 0xFF) return derp::frame::HeaderVerdict::refuse;
  if ((h.type & 1) != 0 && h.payload_len <= 70000) return derp::frame::HeaderVerdict::discard;
  return derp::frame::HeaderVerdict::keep;
}

struct Outcome {
  std::vector<Copied> frames;
  int error = 0;
};

// Piece sizes: 1..64 bytes, picked by walking the input itself, so the fuzzer steers the splits too.
Outcome read_stream(const std::uint8_t* data, std::size_t size, bool split, std::uint32_t max_frame_len,
                    bool filtered) {
  Outcome out;
  FrameReader reader(max_frame_len);
  if (filtered) reader.set_header_filter(&fuzz_filter, nullptr);
  std::size_t pos = 0;
  std::size_t walk = 0;
  while (pos < size) {
    std::size_t piece = size - pos;
    if (split) {
      piece = std::min<std::size_t>(piece, 1 + data[walk % size] % 64);
      walk += 7;
    }
    Bytes in(data + pos, piece);
    while (true) {
      std::size_t used = 0;
      Frame frame;
      const int r = reader.next(in, &used, &frame);
      if (used > in.size()) std::abort();
      in = in.subspan(used);
      pos += used;
      if (r == 1) {
        if (frame.payload.size() > max_frame_len) std::abort();
        if (frame.discarded && (!filtered || !frame.payload.empty() || (frame.type & 1) == 0)) std::abort();
        out.frames.push_back(Copied{frame.type, std::vector<std::uint8_t>(frame.payload.begin(), frame.payload.end()),
                                    frame.discarded, frame.discarded_len});
        if (filtered && reader.held_bytes() > std::max<std::size_t>(FrameReader::kRetainedCapacity, 2 * size)) {
          std::abort();  // never more memory than twice the input
        }
        continue;
      }
      if (r < 0) {
        if (r != DERP_ERR_FRAME_TOO_LARGE && !(filtered && r == DERP_ERR_FRAME_TYPE)) std::abort();
        std::size_t again_used = 1;
        if (reader.next(in, &again_used, &frame) != DERP_ERR_FRAME_READER_FAILED || again_used != 0) std::abort();
        out.error = r;
        return out;
      }
      if (!in.empty()) std::abort();  // 0 means everything was taken
      break;
    }
  }
  return out;
}

template <class Msg>
void check_reencodes(const Msg& msg, const Copied& frame) {
  std::vector<std::uint8_t> out(derp::frame::kHeaderLen + frame.payload.size());
  std::size_t written = 0;
  if (derp::frame::encode(msg, derp::MutableBytes(out), &written) != DERP_OK) std::abort();
  if (written != out.size()) std::abort();
  if (out[0] != frame.type) std::abort();
  if (derp::load_be32(out.data() + 1) != frame.payload.size()) std::abort();
  if (!frame.payload.empty() &&
      std::memcmp(out.data() + derp::frame::kHeaderLen, frame.payload.data(), frame.payload.size()) != 0) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Half the inputs read as a server would (65536 + 64), the rest with the default limit.
  const std::uint32_t max_frame_len =
      (size > 0 && (data[size - 1] & 1) != 0) ? 65536 + 64 : derp::frame::kDefaultMaxFrameLen;
  const bool filtered = size > 0 && (data[size - 1] & 6) == 6;
  const Outcome whole = read_stream(data, size, false, max_frame_len, filtered);
  const Outcome split = read_stream(data, size, true, max_frame_len, filtered);
  if (!(whole.frames == split.frames) || whole.error != split.error) std::abort();

  for (const Copied& frame : whole.frames) {
    if (frame.discarded) continue;
    const int r = derp::frame::decode_and_visit(frame.type, Bytes(frame.payload.data(), frame.payload.size()),
                                                [&](const auto& msg) { check_reencodes(msg, frame); });
    if (r > 0) std::abort();
  }
  return 0;
}
