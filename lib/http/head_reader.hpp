// Collects an HTTP head that arrives in pieces, bounded, and leaves every byte after it to the caller: in DERP the
// first frame often shares a packet with the head (fast start, or the 101 followed by the ServerKey frame).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace derp::http {

class HeadReader {
 public:
  static constexpr std::size_t kDefaultMaxHeadBytes = 8192;

  explicit HeadReader(std::size_t max_head_bytes = kDefaultMaxHeadBytes) : max_head_bytes_(max_head_bytes) {}

  // Takes bytes up to the end of the head; *consumed says how many. Returns 1 when the head is complete (head()
  // is valid, and in[*consumed..] is the first data after it), 0 when it needs more, or
  // DERP_ERR_HTTP_HEAD_TOO_LARGE when max_head_bytes arrive without the blank line.
  int feed(std::string_view in, std::size_t* consumed);

  std::string_view head() const { return complete_ ? std::string_view(buffer_) : std::string_view{}; }
  bool complete() const { return complete_; }
  // Bytes held so far (the partial head, or the whole one once complete).
  std::size_t buffered() const { return buffer_.size(); }
  // Forget the head and release its memory (a long-lived connection should not keep it).
  void reset();

 private:
  std::string buffer_;
  std::size_t max_head_bytes_;
  bool complete_ = false;
};

}  // namespace derp::http
