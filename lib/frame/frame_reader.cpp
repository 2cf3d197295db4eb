#include "frame/frame_reader.hpp"

#include <algorithm>
#include <new>

namespace derp::frame {

int FrameReader::judge(const FrameHeader& h, HeaderVerdict* verdict) const {
  *verdict = filter_ != nullptr ? filter_(filter_ctx_, h) : HeaderVerdict::keep;
  if (*verdict == HeaderVerdict::refuse) return DERP_ERR_FRAME_TYPE;
  if (*verdict == HeaderVerdict::discard) return DERP_OK;  // stored nowhere: the filter bounds its length
  return check_payload_len(h.type, h.payload_len, max_frame_len_);
}

int FrameReader::next(Bytes in, std::size_t* consumed, Frame* frame) {
  *consumed = 0;
  if (error_ != 0) return DERP_ERR_FRAME_READER_FAILED;
  if (delivered_) release_delivered();

  // Skipping a discarded frame's payload: nothing is kept.
  if (discarding_) {
    const std::size_t take = std::min<std::size_t>(discard_left_, in.size());
    discard_left_ -= static_cast<std::uint32_t>(take);
    *consumed = take;
    if (discard_left_ > 0) return 0;
    discarding_ = false;
    *frame = Frame{pending_.type, {}, true, pending_.payload_len};
    pending_ = {};
    return 1;
  }

  // Fast path: nothing buffered and the whole frame is in the input, so the payload is a view into it.
  if (header_have_ == 0 && in.size() >= kHeaderLen) {
    const FrameHeader h = parse_header(in.data());
    HeaderVerdict verdict = HeaderVerdict::keep;
    if (const int r = judge(h, &verdict); r != DERP_OK) {
      *consumed = kHeaderLen;
      return fail(r);
    }
    if (in.size() - kHeaderLen >= h.payload_len) {
      *frame = verdict == HeaderVerdict::discard ? Frame{h.type, {}, true, h.payload_len}
                                                 : Frame{h.type, in.subspan(kHeaderLen, h.payload_len)};
      *consumed = kHeaderLen + h.payload_len;
      // The input ends at this frame's end: the flow paused, so a large buffer kept for split frames goes.
      if (*consumed == in.size() && payload_.capacity() > kRetainedCapacity) std::vector<std::uint8_t>().swap(payload_);
      return 1;
    }
  }

  // Slow path: collect the header, judge it before storing anything, then collect (or skip) the payload.
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
    HeaderVerdict verdict = HeaderVerdict::keep;
    if (const int r = judge(pending_, &verdict); r != DERP_OK) {
      *consumed = pos;
      return fail(r);
    }
    if (verdict == HeaderVerdict::discard) {
      discarding_ = true;
      discard_left_ = pending_.payload_len;
      header_have_ = 0;
      std::size_t skipped = 0;
      const int r = next(in.subspan(pos), &skipped, frame);
      *consumed = pos + skipped;
      return r;
    }
  }

  const std::size_t take = std::min<std::size_t>(pending_.payload_len - payload_.size(), in.size() - pos);
  if (!grow_for(take)) {
    *consumed = pos;
    return fail(DERP_ERR_NO_MEMORY);
  }
  payload_.insert(payload_.end(), in.begin() + static_cast<std::ptrdiff_t>(pos),
                  in.begin() + static_cast<std::ptrdiff_t>(pos + take));
  pos += take;
  *consumed = pos;
  if (payload_.size() < pending_.payload_len) return 0;

  *frame = Frame{pending_.type, Bytes(payload_.data(), payload_.size())};
  delivered_ = true;
  release_large_ = pos == in.size();  // nothing follows in this input: keep no large buffer past this frame
  return 1;
}

bool FrameReader::grow_for(std::size_t more) {
  const std::size_t need = payload_.size() + more;
  if (need <= payload_.capacity()) return true;
  const std::size_t announced = pending_.payload_len;
  std::size_t cap = std::max({need, payload_.capacity() * 2, std::min<std::size_t>(announced, kInitialReserve)});
  cap = std::min(cap, announced);
  try {
    payload_.reserve(cap);
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

void FrameReader::release_delivered() {
  delivered_ = false;
  header_have_ = 0;
  pending_ = {};
  payload_.clear();
  if (release_large_ && payload_.capacity() > kRetainedCapacity) std::vector<std::uint8_t>().swap(payload_);
  release_large_ = false;
}

void FrameReader::reset() {
  header_have_ = 0;
  pending_ = {};
  delivered_ = false;
  release_large_ = false;
  discarding_ = false;
  discard_left_ = 0;
  error_ = 0;
  std::vector<std::uint8_t>().swap(payload_);
}

int FrameReader::fail(int error) {
  error_ = error;
  return error;
}

}  // namespace derp::frame
