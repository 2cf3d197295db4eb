// Walks the attributes of a STUN message one at a time (RFC 8489 §14): type (2), length (2), value, padding to a
// multiple of 4. The padding's contents are never looked at (RFC 5769's samples pad with 0x20).
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.hpp"
#include "stun/constants.hpp"

namespace derp::stun {

struct Attribute {
  std::uint16_t type = 0;
  Bytes value;             // the value without padding, inside the message
  std::size_t offset = 0;  // where the attribute's 4-byte header starts, from the start of the message
};

class AttributeReader {
 public:
  // Walks message[begin, message.size()). The caller passes the message cut at the end it wants walked (the
  // header's declared length, or the whole datagram when copying Tailscale's request check).
  explicit AttributeReader(Bytes message, std::size_t begin = kHeaderSize) : message_(message), position_(begin) {}

  // 1 with *out filled; 0 at the end; DERP_ERR_TRUNCATED when 1-3 bytes are left over or a value and its padding
  // run past the end.
  int next(Attribute* out);

 private:
  Bytes message_;
  std::size_t position_;
};

}  // namespace derp::stun
