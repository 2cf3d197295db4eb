#include "frame/frame_reader.hpp"

#include <algorithm>
#include <new>

namespace derp::frame {

int FrameReader::next(Bytes in, std::size_t* consumed, Frame* frame) {
  *consumed = 0;
  if (error_ != 0) return DERP_ERR_FRAME_READER_FAILED;
  if (delivered_) release_delivered();

  // Fast path: nothing buffered and the whole frame is in the input, so the payload is a view into it.
  if (header_have_ == 0 && in.size() >= kHeaderLen) {
    const FrameHeader h = parse_header(in.data());
    if (const int r = check_payload_len(h.type, h.payload_len, max_frame_len_); r != DERP_OK) {
      *consumed = kHeaderLen;
      return fail(r);
    }
    if (in.size() - kHeaderLen >= h.payload_len) {
      *frame = Frame{h.type, in.subspan(kHeaderLen, h.payload_len)};
      *consumed = kHeaderLen + h.payload_len;
      return 1;
    }
  }

  // Slow path: collect the header, judge it before reserving anything, then collect the payload.
  std::size_t pos = 0;
  if (header_have_ < kHeaderLen) {
    const std::size_t take = std::min(kHeaderLen - header_have_, in.size());
    std::copy_n(in.data(), take, header_.data() + header_have_);
    header_have_ += take;
    pos = take;
    if (header_have_ < kHeaderLen) {
      *consumed = pos;
      return 0;
    }
    pending_ = parse_header(header_.data());
    if (const int r = check_payload_len(pending_.type, pending_.payload_len, max_frame_len_); r != DERP_OK) {
      *consumed = pos;
      return fail(r);
    }
    try {
      payload_.reserve(pending_.payload_len);
    } catch (const std::bad_alloc&) {
      *consumed = pos;
      return fail(DERP_ERR_NO_MEMORY);
    }
  }

  const std::size_t take = std::min<std::size_t>(pending_.payload_len - payload_.size(), in.size() - pos);
  payload_.insert(payload_.end(), in.begin() + static_cast<std::ptrdiff_t>(pos),
                  in.begin() + static_cast<std::ptrdiff_t>(pos + take));
  pos += take;
  *consumed = pos;
  if (payload_.size() < pending_.payload_len) return 0;

  *frame = Frame{pending_.type, Bytes(payload_.data(), payload_.size())};
  delivered_ = true;
  return 1;
}

void FrameReader::release_delivered() {
  delivered_ = false;
  header_have_ = 0;
  pending_ = {};
  payload_.clear();
  if (payload_.capacity() > kRetainedCapacity) std::vector<std::uint8_t>().swap(payload_);
}

void FrameReader::reset() {
  header_have_ = 0;
  pending_ = {};
  delivered_ = false;
  error_ = 0;
  std::vector<std::uint8_t>().swap(payload_);
}

int FrameReader::fail(int error) {
  error_ = error;
  return error;
}

}  // namespace derp::frame
