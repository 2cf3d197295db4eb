#include "support/go_ws_reader.hpp"

#include <utility>

namespace derp::test {

bool GoWsReader::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  return false;
}

bool GoWsReader::feed(Bytes in, std::vector<std::uint8_t>* stream) {
  if (!error_.empty()) return false;
  buffer_.insert(buffer_.end(), in.begin(), in.end());
  std::size_t at = 0;
  while (buffer_.size() - at >= 2) {
    const std::uint8_t* p = buffer_.data() + at;
    const std::size_t avail = buffer_.size() - at;
    const bool fin = (p[0] & 0x80) != 0;
    const std::uint8_t opcode = p[0] & 0x0F;
    const bool masked = (p[1] & 0x80) != 0;
    const std::uint8_t len7 = p[1] & 0x7F;
    std::size_t header = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
    if (avail < header) break;
    std::uint64_t len = len7;
    if (len7 == 126) len = (std::uint64_t{p[2]} << 8) | p[3];
    if (len7 == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    }
    if ((p[0] & 0x70) != 0) return fail("reserved bits set");
    if (masked != masked_) return fail(masked ? "masked frame from a server" : "unmasked frame from a client");
    const bool control = (opcode & 0x08) != 0;
    if (!control) {
      if (opcode == 0x1) return fail("text message");
      if (opcode != 0x0 && opcode != 0x2) return fail("unknown opcode");
      if (opcode == 0x2 && in_message_) return fail("new message inside a fragmented one");
      if (opcode == 0x0 && !in_message_) return fail("continuation without a message");
      // Go checks as it reads, so the limit is judged before the payload is all there.
      if (message_len_ + len > limit_) {
        return fail("read limited at " + std::to_string(limit_ + 1) + " bytes (a message of at least " +
                    std::to_string(message_len_ + len) + ")");
      }
    } else if (!fin || len > 125) {
      return fail("bad control frame");
    }
    if (avail - header < len) break;
    const std::uint8_t* key = p + header - 4;
    const std::uint8_t* payload = p + header;
    if (!control) {
      for (std::uint64_t i = 0; i < len; ++i) {
        stream->push_back(masked ? static_cast<std::uint8_t>(payload[i] ^ key[i & 3]) : payload[i]);
      }
      in_message_ = !fin;
      message_len_ += static_cast<std::size_t>(len);
      if (fin) {
        ++messages_;
        if (message_len_ > largest_) largest_ = message_len_;
        message_len_ = 0;
      }
    } else if (opcode == 0x8) {
      saw_close_ = true;
    }
    at += header + static_cast<std::size_t>(len);
  }
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(at));
  return true;
}

}  // namespace derp::test
