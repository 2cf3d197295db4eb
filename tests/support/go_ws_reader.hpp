// A WebSocket reader that applies the limit Go's WebSocket library applies to every message by default, written
// independently of lib/http so that it can judge our writers: nhooyr.io/websocket (now github.com/coder/websocket),
// which Tailscale's derphttp client and derper use through net/wsconn, reads at most 32768 bytes of one message
// (it reads 32768 + 1, and a longer message fails with "read limited at 32769 bytes" and close status 1009).
// Fed the bytes of one direction (after the HTTP upgrade) in any split, it unmasks binary messages (fragments
// joined), returns their payload as one byte stream, skips control frames, and fails at the first message over
// the limit or the first frame that breaks RFC 6455's basic rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.hpp"

namespace derp::test {

class GoWsReader {
 public:
  static constexpr std::size_t kGoReadLimit = 32768;

  // masked: the frames come from a client (RFC 6455 §5.1: a client masks, a server does not).
  explicit GoWsReader(bool masked, std::size_t limit = kGoReadLimit) : masked_(masked), limit_(limit) {}

  // Appends the data bytes of every whole frame now available to *stream. false once a rule is broken (for
  // good; error() says which).
  bool feed(Bytes in, std::vector<std::uint8_t>* stream);

  const std::string& error() const { return error_; }
  std::size_t messages() const { return messages_; }          // data messages completed
  std::size_t largest_message() const { return largest_; }    // the largest completed message's payload
  bool saw_close() const { return saw_close_; }
  std::size_t buffered() const { return buffer_.size(); }     // bytes of an incomplete frame

 private:
  bool fail(std::string why);

  bool masked_;
  std::size_t limit_;
  std::vector<std::uint8_t> buffer_;
  bool in_message_ = false;
  std::size_t message_len_ = 0;
  std::size_t messages_ = 0;
  std::size_t largest_ = 0;
  bool saw_close_ = false;
  std::string error_;
};

}  // namespace derp::test
