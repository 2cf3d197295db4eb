// FrameReader's header filter: discarded frames are skipped unstored whatever the split, refused headers fail at
// once, and a slow big frame's buffer grows with what arrived rather than with what was announced.
#include <catch2/catch.hpp>

#include "derp/frame.h"
#include "frame/frame_reader.hpp"
#include "unit/test_frame_helpers.hpp"

using namespace derp::frame;
using namespace derp::frame::test;

namespace {

// Keeps Ping, discards type 0x7e up to 100,000 bytes, refuses everything else.
HeaderVerdict judge(const void*, const FrameHeader& h) {
  if (h.type == DERP_FRAME_PING) return HeaderVerdict::keep;
  if (h.type == 0x7e && h.payload_len <= 100000) return HeaderVerdict::discard;
  return HeaderVerdict::refuse;
}

struct Seen {
  std::vector<std::uint8_t> types;
  std::vector<bool> discarded;
  std::vector<std::uint32_t> lens;
  std::size_t max_capacity = 0;
  int error = 0;
};

Seen feed(const ByteVector& stream, std::size_t step) {
  FrameReader reader;
  reader.set_header_filter(&judge, nullptr);
  Seen seen;
  derp::Bytes in(stream);
  while (!in.empty()) {
    derp::Bytes piece = in.first(std::min(step, in.size()));
    in = in.subspan(piece.size());
    while (!piece.empty()) {
      std::size_t used = 0;
      Frame f;
      const int r = reader.next(piece, &used, &f);
      piece = piece.subspan(used);
      seen.max_capacity = std::max(seen.max_capacity, reader.buffer_capacity());
      if (r < 0) {
        seen.error = r;
        return seen;
      }
      if (r == 0) break;
      seen.types.push_back(f.type);
      seen.discarded.push_back(f.discarded);
      seen.lens.push_back(f.discarded ? f.discarded_len : static_cast<std::uint32_t>(f.payload.size()));
    }
  }
  return seen;
}

}  // namespace

TEST_CASE("frame reader filter: discarded frames are skipped unstored in any split", "[frame]") {
  ByteVector stream = frame_bytes(0x7e, ByteVector(90000, 0xaa));
  const ByteVector ping = frame_bytes(DERP_FRAME_PING, ByteVector(8, 1));
  stream.insert(stream.end(), ping.begin(), ping.end());
  const ByteVector empty_discard = frame_bytes(0x7e, {});
  stream.insert(stream.end(), empty_discard.begin(), empty_discard.end());
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{5}, std::size_t{4096}, stream.size()}) {
    CAPTURE(step);
    const Seen seen = feed(stream, step);
    CHECK(seen.error == 0);
    CHECK(seen.types == std::vector<std::uint8_t>{0x7e, DERP_FRAME_PING, 0x7e});
    CHECK(seen.discarded == std::vector<bool>{true, false, true});
    CHECK(seen.lens == std::vector<std::uint32_t>{90000, 8, 0});
    CHECK(seen.max_capacity <= 8);  // only the ping was ever stored
  }
}

TEST_CASE("frame reader filter: a refused header fails before any payload", "[frame]") {
  const ByteVector stream = frame_bytes(DERP_FRAME_SEND_PACKET, ByteVector(100, 0));
  for (std::size_t step : {std::size_t{1}, stream.size()}) {
    const Seen seen = feed(ByteVector(stream.begin(), stream.begin() + 5), step);
    CHECK(seen.error == DERP_ERR_FRAME_TYPE);
  }
  CHECK(feed(frame_bytes(0x7e, ByteVector(100001, 0)), 4096).error == DERP_ERR_FRAME_TYPE);
}

TEST_CASE("frame reader: a slow big frame's buffer follows the bytes that arrived", "[frame]") {
  const ByteVector packet = pattern_packet(DERP_MAX_PACKET_SIZE);
  const ByteVector big = encode_to_vector(SendPacketFrame{.dst = key_counting_from(3), .packet = as_bytes(packet)});
  FrameReader reader;
  std::size_t used = 0;
  Frame frame;
  REQUIRE(reader.next(derp::Bytes(big).first(1005), &used, &frame) == 0);
  CHECK(reader.buffer_capacity() == FrameReader::kInitialReserve);  // not the 64 KiB announced
  std::size_t off = 1005;
  while (off < big.size()) {
    const std::size_t n = std::min<std::size_t>(1000, big.size() - off);
    const int r = reader.next(derp::Bytes(big).subspan(off, n), &used, &frame);
    off += n;
    // Never more than twice what arrived (and never more than announced).
    CHECK(reader.buffer_capacity() <= std::max<std::size_t>(FrameReader::kInitialReserve, 2 * (off - 5)));
    CHECK(reader.buffer_capacity() <= big.size() - 5);
    if (r == 1) break;
    REQUIRE(r == 0);
  }
  CHECK(off == big.size());
  CHECK(frame.payload.size() == big.size() - 5);
  CHECK(to_vector(frame.payload) == ByteVector(big.begin() + 5, big.end()));
}
