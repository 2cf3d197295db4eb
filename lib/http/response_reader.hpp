// One HTTP/1.1 response as a client reads it: the head (bounded), then the body by Content-Length, chunked
// transfer coding, or until the server closes (RFC 9112 §6.3), keeping at most max_body bytes of it — a caller
// that wants only the start of a body (derper reads 4 KiB of an admission answer) is done once it has them.
// Sans-IO: bytes in, any split; the caller says when the stream ended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "http/head_reader.hpp"

namespace derp::http {

class ResponseReader {
 public:
  enum class State : std::uint8_t { NeedMore, Done, Error };

  explicit ResponseReader(std::size_t max_head = HeadReader::kDefaultMaxHeadBytes, std::size_t max_body = 4096);

  State feed(Bytes in);
  // The server closed the stream: a close-delimited body ends here; anything else unfinished is an error.
  State finish_eof();

  State state() const { return state_; }
  int status() const { return status_; }
  // The body (decoded from chunks), at most max_body bytes; complete only when truncated() is false.
  const std::string& body() const { return body_; }
  bool truncated() const { return truncated_; }
  // Why the state is Error, for logs.
  const std::string& error() const { return error_; }

 private:
  enum class Body : std::uint8_t { Length, Chunked, UntilClose };
  enum class Chunk : std::uint8_t { SizeLine, Data, DataEnd, Trailer };
  State fail(std::string why);
  State on_head(std::string_view head);
  State on_body_bytes(std::string_view in);
  void take(std::string_view data);  // body data: keep up to max_body; beyond it Done, truncated

  HeadReader head_;
  std::size_t max_body_;
  State state_ = State::NeedMore;
  int status_ = 0;
  Body body_kind_ = Body::UntilClose;
  std::uint64_t remaining_ = 0;  // Length: body bytes still to come; Chunked: of the current chunk
  Chunk chunk_ = Chunk::SizeLine;
  std::string line_;  // a chunk size or trailer line being collected (bounded)
  std::string body_;
  bool truncated_ = false;
  std::string error_;
};

}  // namespace derp::http
