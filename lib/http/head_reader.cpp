#include "http/head_reader.hpp"

#include <algorithm>

#include "derp/common.h"
#include "http/head.hpp"

namespace derp::http {

int HeadReader::feed(std::string_view in, std::size_t* consumed) {
  *consumed = 0;
  if (complete_) return 1;
  const std::size_t before = buffer_.size();
  const std::size_t room = max_head_bytes_ - before;
  buffer_.append(in.substr(0, std::min(room, in.size())));
  // The terminator ("\n\r\n" at most 3 bytes) may straddle the previous piece: look again from 3 bytes back.
  const std::size_t end = find_head_end(buffer_, before >= 3 ? before - 3 : 0);
  if (end != 0) {
    buffer_.resize(end);
    *consumed = end - before;
    complete_ = true;
    return 1;
  }
  *consumed = buffer_.size() - before;
  if (buffer_.size() >= max_head_bytes_) return DERP_ERR_HTTP_HEAD_TOO_LARGE;
  return 0;
}

void HeadReader::reset() {
  std::string().swap(buffer_);
  complete_ = false;
}

}  // namespace derp::http
