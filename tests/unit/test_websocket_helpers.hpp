// Helpers for the WebSocket tests and the seed writer: a raw frame builder independent of the stream's encoder
// (it can also build the malformed frames the encoder never makes), and a feeder that splits input.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/bytes.hpp"
#include "derp/common.h"
#include "http/websocket_stream.hpp"

namespace derp::http::test {

using ByteVector = std::vector<std::uint8_t>;

inline ByteVector bytes_of(std::string_view text) { return ByteVector(text.begin(), text.end()); }

// How a raw frame writes its payload length: the shortest form (RFC 6455 §5.2), or forced 16/64-bit forms
// (which are malformed for short payloads).
enum class LengthForm { shortest, force16, force64 };

struct RawFrame {
  bool fin = true;
  std::uint8_t rsv = 0;  // the three RSV bits, RSV1 highest
  std::uint8_t opcode = 0x2;
  bool masked = true;
  WsMaskKey key = {0x37, 0xFA, 0x21, 0x3D};
  LengthForm form = LengthForm::shortest;
  std::uint64_t announced_len = UINT64_MAX;  // UINT64_MAX: the payload's own size
};

// Builds one frame by hand, bit by bit from §5.2, so the tests do not check the encoder against itself.
inline ByteVector raw_frame(const RawFrame& f, const ByteVector& payload) {
  const std::uint64_t len = f.announced_len == UINT64_MAX ? payload.size() : f.announced_len;
  ByteVector out;
  out.push_back(static_cast<std::uint8_t>((f.fin ? 0x80 : 0) | ((f.rsv & 7) << 4) | (f.opcode & 0xF)));
  const std::uint8_t mask_bit = f.masked ? 0x80 : 0;
  if (f.form == LengthForm::shortest && len <= 125) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | len));
  } else if (f.form == LengthForm::force16 || (f.form == LengthForm::shortest && len <= 0xFFFF)) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | 126));
    out.push_back(static_cast<std::uint8_t>(len >> 8));
    out.push_back(static_cast<std::uint8_t>(len));
  } else {
    out.push_back(static_cast<std::uint8_t>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(len >> shift));
  }
  if (f.masked) out.insert(out.end(), f.key.begin(), f.key.end());
  for (std::size_t i = 0; i < payload.size(); ++i) {
    out.push_back(f.masked ? static_cast<std::uint8_t>(payload[i] ^ f.key[i % 4]) : payload[i]);
  }
  return out;
}

inline ByteVector concat(std::initializer_list<ByteVector> parts) {
  ByteVector out;
  for (const ByteVector& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A counting pattern, so misplaced or lost bytes show.
inline ByteVector pattern(std::size_t n, std::uint8_t start = 0) {
  ByteVector out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(start + i * 7 + (i >> 8));
  return out;
}

struct FeedOutcome {
  ByteVector stream;          // what the sink received, concatenated
  std::size_t sink_calls = 0;
  int result = 0;             // the first non-zero feed() result, or 0
  std::size_t consumed = 0;   // bytes taken in total
};

// Feeds wire to stream in pieces whose sizes next_piece() picks (it gets the bytes left and returns 1..left),
// stopping at the first non-zero result.
inline FeedOutcome feed_pieces(WebSocketStream& stream, const ByteVector& wire,
                               const std::function<std::size_t(std::size_t)>& next_piece) {
  FeedOutcome out;
  auto sink = [&](Bytes piece) {
    out.stream.insert(out.stream.end(), piece.begin(), piece.end());
    ++out.sink_calls;
    return DERP_OK;
  };
  std::size_t pos = 0;
  while (pos < wire.size()) {
    const std::size_t piece = next_piece(wire.size() - pos);
    std::size_t used = 0;
    out.result = stream.feed(Bytes(wire.data() + pos, piece), &used, sink);
    pos += used;
    out.consumed += used;
    if (out.result != 0) break;
  }
  return out;
}

inline FeedOutcome feed_whole(WebSocketStream& stream, const ByteVector& wire) {
  return feed_pieces(stream, wire, [](std::size_t left) { return left; });
}

inline FeedOutcome feed_bytewise(WebSocketStream& stream, const ByteVector& wire) {
  return feed_pieces(stream, wire, [](std::size_t) { return std::size_t{1}; });
}

}  // namespace derp::http::test
