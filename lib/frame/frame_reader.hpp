// Cuts a DERP byte stream into frames, whatever the split of the bytes: a TCP read, a TLS record or a WebSocket
// message may hold part of a frame or several (reference §1.4, §9.11). Pull-style, so it serves C as well: the
// caller offers bytes, the reader says how many it took and whether a frame is ready.
//
// Memory: a frame that arrives whole is never copied (its payload view points into the caller's input). Otherwise
// the reader buffers exactly that frame: the 5 header bytes, then the payload, reserved to the announced length
// only after the header passed the limits. A buffer grown past kRetainedCapacity is released once its frame has
// been handed out, so an idle connection does not keep the memory of its largest frame.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bytes.hpp"
#include "frame/header.hpp"
#include "frame/limits.hpp"

namespace derp::frame {

// One frame as read: the type byte (possibly unknown) and its payload.
struct Frame {
  std::uint8_t type = 0;
  Bytes payload;
};

class FrameReader {
 public:
  // Largest buffer kept between frames. A typical WireGuard packet frame (~1.3 KB) fits, so a connection that
  // sees split frames does not reallocate for each, while a 64 KiB or 1 MiB frame's buffer goes back at once.
  static constexpr std::size_t kRetainedCapacity = 4096;

  // max_frame_len bounds every frame's payload, known type or not (known types are also held to their own
  // protocol limit). The default fits a ServerInfo with a full 1 MiB box; a server can use e.g. 65536 + 64.
  explicit FrameReader(std::uint32_t max_frame_len = kDefaultMaxFrameLen) : max_frame_len_(max_frame_len) {}

  // Offers in. *consumed is how many bytes were taken. Returns
  //   1  a frame is in *frame, valid until the next call (and while `in` lives, if it points there);
  //   0  all of in was taken and the frame is not complete;
  //  <0  DERP_ERR_FRAME_TOO_LARGE (decided from the header alone) or DERP_ERR_NO_MEMORY. Sticky: later calls
  //      return DERP_ERR_FRAME_READER_FAILED, because a byte stream cannot be resynchronised.
  int next(Bytes in, std::size_t* consumed, Frame* frame);

  // Forgets any partial frame and failure and releases the buffer.
  void reset();

  bool failed() const { return error_ != 0; }
  std::uint32_t max_frame_len() const { return max_frame_len_; }
  // Bytes of an incomplete frame held (header and payload); 0 between frames.
  std::size_t buffered_bytes() const { return delivered_ ? 0 : header_have_ + payload_.size(); }
  // Memory the reader holds for payloads, for tests and per-connection accounting.
  std::size_t buffer_capacity() const { return payload_.capacity(); }

 private:
  int fail(int error);
  // After a buffered frame was handed out: forget it, and give back a large buffer.
  void release_delivered();

  std::uint32_t max_frame_len_;
  std::array<std::uint8_t, kHeaderLen> header_{};
  std::size_t header_have_ = 0;   // header bytes buffered; 5 once the header is in and accepted
  FrameHeader pending_{};         // the accepted header while its payload is being buffered
  std::vector<std::uint8_t> payload_;
  bool delivered_ = false;        // payload_ holds the frame returned by the last call
  int error_ = 0;
};

}  // namespace derp::frame
