// Cuts a DERP byte stream into frames, whatever the split of the bytes: a TCP read, a TLS record or a WebSocket
// message may hold part of a frame or several (reference §1.4, §9.11). Pull-style, so it serves C as well: the
// caller offers bytes, the reader says how many it took and whether a frame is ready.
//
// Memory: a frame that arrives whole is never copied (its payload view points into the caller's input). Otherwise
// the reader buffers exactly that frame: the 5 header bytes, then the payload, only after the header passed the
// limits. The buffer grows with the bytes that actually arrived (at most twice them, and at first up to
// kInitialReserve), never to an announced length alone: a peer that announces a big frame and sends it slowly
// pins only what it sent. A buffer grown past kRetainedCapacity is kept only while frames come back to back (more
// bytes followed the frame in the same input: a bulk flow of 16 KiB packets splits one at the end of nearly every
// read and reuses the buffer instead of allocating for each) and released once an input ends at a frame boundary,
// which is where a connection that goes idle stops, so an idle connection does not keep the memory of its largest
// frame. While a frame is incomplete the whole buffer counts in held_bytes().
//
// A header filter (optional) judges each header before any payload byte: keep (buffer and hand out), discard (the
// payload is skipped as it streams past and never stored; the frame is handed out empty with `discarded` set), or
// refuse (DERP_ERR_FRAME_TYPE). Tailscale's server reads frames it does not handle this way
// (derpserver.go handleUnknownFrame: io.CopyN to io.Discard).
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
  // The header filter said discard: payload is empty and discarded_len bytes were skipped.
  bool discarded = false;
  std::uint32_t discarded_len = 0;
};

enum class HeaderVerdict : std::uint8_t { keep, discard, refuse };
// Called with each header; ctx is the pointer given to set_header_filter. Must not call back into the reader.
using HeaderFilter = HeaderVerdict (*)(const void* ctx, const FrameHeader& header);

class FrameReader {
 public:
  // Largest buffer kept between frames. A typical WireGuard packet frame (~1.3 KB) fits, so a connection that
  // sees split frames does not reallocate for each, while a 64 KiB or 1 MiB frame's buffer goes back at once.
  static constexpr std::size_t kRetainedCapacity = 4096;
  // The most reserved for a payload before its bytes arrive: a frame this small (every packet of a typical MTU)
  // is reserved once, a larger one grows as it comes in.
  static constexpr std::size_t kInitialReserve = 16384;

  // max_frame_len bounds every frame's payload, known type or not (known types are also held to their own
  // protocol limit). The default fits a ServerInfo with a full 1 MiB box; a server can use e.g. 65536 + 64.
  explicit FrameReader(std::uint32_t max_frame_len = kDefaultMaxFrameLen) : max_frame_len_(max_frame_len) {}

  // Offers in. *consumed is how many bytes were taken. Returns
  //   1  a frame is in *frame, valid until the next call (and while `in` lives, if it points there);
  //   0  all of in was taken and the frame is not complete;
  //  <0  DERP_ERR_FRAME_TOO_LARGE (decided from the header alone), DERP_ERR_FRAME_TYPE (the filter refused the
  //      header) or DERP_ERR_NO_MEMORY. Sticky: later calls return DERP_ERR_FRAME_READER_FAILED, because a byte
  //      stream cannot be resynchronised.
  // A discarded frame's length is held to the filter's own bound (the filter refuses what it will not skip), not
  // to max_frame_len or the type's limit: nothing of it is stored.
  int next(Bytes in, std::size_t* consumed, Frame* frame);

  // Sets (or, with nullptr, clears) the header filter; takes effect at the next header.
  void set_header_filter(HeaderFilter filter, const void* ctx) {
    filter_ = filter;
    filter_ctx_ = ctx;
  }

  // Forgets any partial frame and failure and releases the buffer.
  void reset();

  bool failed() const { return error_ != 0; }
  std::uint32_t max_frame_len() const { return max_frame_len_; }
  // Bytes of an incomplete frame held (header and payload); 0 between frames and while discarding.
  std::size_t buffered_bytes() const { return delivered_ ? 0 : header_have_ + payload_.size(); }
  // Memory held for an incomplete frame: the header bytes and the payload buffer's capacity (the figure a server
  // budgets); 0 between frames, except a small retained buffer (<= kRetainedCapacity).
  std::size_t held_bytes() const { return (delivered_ ? 0 : header_have_) + payload_.capacity(); }
  // Memory the reader holds for payloads, for tests and per-connection accounting.
  std::size_t buffer_capacity() const { return payload_.capacity(); }

 private:
  int fail(int error);
  // After a buffered frame was handed out: forget it, and give back a large buffer.
  void release_delivered();
  // The verdict on h: the filter's, with the length limits applied to kept frames.
  int judge(const FrameHeader& h, HeaderVerdict* verdict) const;
  // Makes room for `more` payload bytes: growth follows what arrived, capped at the announced length.
  bool grow_for(std::size_t more);

  std::uint32_t max_frame_len_;
  std::array<std::uint8_t, kHeaderLen> header_{};
  std::size_t header_have_ = 0;   // header bytes buffered; 5 once the header is in and accepted
  FrameHeader pending_{};         // the accepted header while its payload is being buffered
  std::vector<std::uint8_t> payload_;
  bool delivered_ = false;        // payload_ holds the frame returned by the last call
  bool release_large_ = false;    // that frame ended its input: a buffer over kRetainedCapacity goes with it
  std::uint32_t discard_left_ = 0;  // payload bytes of a discarded frame still to skip
  bool discarding_ = false;
  HeaderFilter filter_ = nullptr;
  const void* filter_ctx_ = nullptr;
  int error_ = 0;
};

}  // namespace derp::frame
