// An HTTP/1.1 response read by a client (response_reader.hpp).
#include "http/response_reader.hpp"

#include <algorithm>
#include <charconv>

#include "derp/common.h"
#include "http/head.hpp"

namespace derp::http {

namespace {
constexpr std::size_t kMaxLine = 1024;  // a chunk-size line (extensions included) or a trailer line

bool parse_decimal(std::string_view text, std::uint64_t* out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out, 10);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
}  // namespace

ResponseReader::ResponseReader(std::size_t max_head, std::size_t max_body) : head_(max_head), max_body_(max_body) {}

ResponseReader::State ResponseReader::fail(std::string why) {
  state_ = State::Error;
  error_ = std::move(why);
  return state_;
}

ResponseReader::State ResponseReader::feed(Bytes in) {
  std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  while (state_ == State::NeedMore && !text.empty()) {
    if (!head_.complete()) {
      std::size_t used = 0;
      const int r = head_.feed(text, &used);
      text.remove_prefix(used);
      if (r < 0) return fail("response head too large");
      if (r == 0) return state_;
      if (on_head(head_.head()) != State::NeedMore) return state_;
      continue;
    }
    on_body_bytes(text);
    break;
  }
  return state_;
}

ResponseReader::State ResponseReader::finish_eof() {
  if (state_ != State::NeedMore) return state_;
  if (head_.complete() && body_kind_ == Body::UntilClose) {
    state_ = State::Done;
    return state_;
  }
  return fail(head_.complete() ? "the body ended early" : "the connection closed before a response");
}

ResponseReader::State ResponseReader::on_head(std::string_view head) {
  ResponseHead h;
  if (parse_response_head(head, &h) != DERP_OK) return fail("malformed response head");
  status_ = h.status;
  if (status_ >= 100 && status_ < 200) return fail("informational responses are not expected here");
  if (h.headers.has_token("Transfer-Encoding", "chunked")) {
    body_kind_ = Body::Chunked;
  } else if (const auto len = h.headers.find("Content-Length")) {
    if (!parse_decimal(*len, &remaining_)) return fail("bad Content-Length");
    body_kind_ = Body::Length;
    if (remaining_ == 0 || status_ == 204 || status_ == 304) state_ = State::Done;
  } else if (status_ == 204 || status_ == 304) {
    state_ = State::Done;
  } else {
    body_kind_ = Body::UntilClose;
  }
  return state_;
}

void ResponseReader::take(std::string_view data) {
  const std::size_t room = max_body_ - body_.size();
  body_.append(data.substr(0, std::min(room, data.size())));
  if (data.size() > room) {  // the caller's limit: the rest is never read
    truncated_ = true;
    state_ = State::Done;
  }
}

ResponseReader::State ResponseReader::on_body_bytes(std::string_view in) {
  while (state_ == State::NeedMore && !in.empty()) {
    switch (body_kind_) {
      case Body::UntilClose:
        take(in);
        return state_;
      case Body::Length: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
        take(in.substr(0, n));
        remaining_ -= n;
        in.remove_prefix(n);
        if (state_ == State::NeedMore && remaining_ == 0) state_ = State::Done;
        if (state_ == State::NeedMore && body_.size() == max_body_) {  // more is coming that we will not keep
          truncated_ = true;
          state_ = State::Done;
        }
        return state_;
      }
      case Body::Chunked:
        switch (chunk_) {
          case Chunk::SizeLine:
          case Chunk::Trailer: {
            const std::size_t nl = in.find('\n');
            const std::string_view piece = in.substr(0, nl);
            if (line_.size() + piece.size() > kMaxLine) return fail("chunk line too long");
            line_.append(piece);
            if (nl == std::string_view::npos) return state_;
            in.remove_prefix(nl + 1);
            const std::string_view line = trim(line_);
            if (chunk_ == Chunk::Trailer) {
              if (line.empty()) state_ = State::Done;  // the blank line after the trailers
              line_.clear();
              break;
            }
            const std::string_view size_text = trim(line.substr(0, line.find(';')));
            std::uint64_t size = 0;
            const auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
            if (size_text.empty() || ec != std::errc() || end != size_text.data() + size_text.size()) {
              return fail("bad chunk size");
            }
            line_.clear();
            remaining_ = size;
            chunk_ = size == 0 ? Chunk::Trailer : Chunk::Data;
            break;
          }
          case Chunk::Data: {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
            take(in.substr(0, n));
            remaining_ -= n;
            in.remove_prefix(n);
            if (state_ == State::NeedMore && body_.size() == max_body_ && remaining_ > 0) {
              truncated_ = true;
              state_ = State::Done;
            }
            if (remaining_ == 0) chunk_ = Chunk::DataEnd;
            break;
          }
          case Chunk::DataEnd: {
            // The CRLF after a chunk's data.
            const std::size_t nl = in.find('\n');
            if (nl == std::string_view::npos) {
              if (!trim(in).empty()) return fail("chunk data not followed by CRLF");
              return state_;
            }
            if (!trim(in.substr(0, nl)).empty()) return fail("chunk data not followed by CRLF");
            in.remove_prefix(nl + 1);
            chunk_ = Chunk::SizeLine;
            break;
          }
        }
        break;
    }
  }
  return state_;
}

}  // namespace derp::http
