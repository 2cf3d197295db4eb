// FrameReader: any split of the stream gives the same frames, whole frames are not copied, limits are enforced
// from the header alone, failures are sticky, and buffer memory is given back.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "derp/frame.h"
#include "frame/frame_reader.hpp"
#include "support/testdata.hpp"
#include "unit/test_frame_helpers.hpp"

using namespace derp::frame;
using namespace derp::frame::test;
using derp::test::from_hex;

namespace {

ByteVector sample_stream() {
  ByteVector s;
  const ByteVector packet = pattern_packet(1280);
  const ByteVector ping = from_hex("0102030405060708");
  for (const ByteVector& f :
       {encode_to_vector(ServerKeyFrame{.key = key_counting_from(1), .trailing = {}}),
        encode_to_vector(KeepAliveFrame{}),
        encode_to_vector(RecvPacketFrame{.src = key_counting_from(0x40), .packet = as_bytes(packet)}),
        encode_to_vector(PingFrame{.data = as_bytes(ping)}), frame_bytes(0x0C, ByteVector{1, 2, 3}),
        encode_to_vector(NotePreferredFrame{.preferred = 1})}) {
    s.insert(s.end(), f.begin(), f.end());
  }
  return s;
}

}  // namespace

TEST_CASE("frame reader: a frame fed whole is handed out without a copy", "[frame]") {
  const ByteVector packet = pattern_packet(100);
  const ByteVector stream = encode_to_vector(SendPacketFrame{.dst = key_counting_from(7), .packet = as_bytes(packet)});
  FrameReader reader;
  std::size_t used = 0;
  Frame frame;
  REQUIRE(reader.next(as_bytes(stream), &used, &frame) == 1);
  CHECK(used == stream.size());
  CHECK(frame.type == DERP_FRAME_SEND_PACKET);
  CHECK(frame.payload.data() == stream.data() + 5);
  CHECK(frame.payload.size() == 132);
  CHECK(reader.buffer_capacity() == 0);
}

TEST_CASE("frame reader: several whole frames in one input come out one per call, each zero-copy", "[frame]") {
  const ByteVector stream = sample_stream();
  FrameReader reader;
  Bytes rest = as_bytes(stream);
  int frames = 0;
  while (!rest.empty()) {
    std::size_t used = 0;
    Frame frame;
    REQUIRE(reader.next(rest, &used, &frame) == 1);
    CHECK(frame.payload.data() == rest.data() + 5);
    rest = rest.subspan(used);
    ++frames;
  }
  CHECK(frames == 6);
  CHECK(reader.buffer_capacity() == 0);
}

TEST_CASE("frame reader: one byte at a time and random splits give the same frames as whole", "[frame]") {
  const ByteVector stream = sample_stream();
  const ReadResult whole = read_whole(stream);
  REQUIRE(whole.error == 0);
  REQUIRE(whole.frames.size() == 6);
  CHECK(whole.frames[4].type == 0x0C);  // unknown types are yielded too
  CHECK(whole.frames[4].payload == ByteVector{1, 2, 3});
  const ReadResult bytewise = read_byte_by_byte(stream);
  CHECK(bytewise.error == 0);
  CHECK(bytewise.frames == whole.frames);
  CHECK(bytewise.consumed == stream.size());
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    const ReadResult split = read_random_pieces(stream, seed);
    CHECK(split.frames == whole.frames);
    CHECK(split.buffered_at_end == 0);
  }
}

TEST_CASE("frame reader: property: random valid frames of every type survive any split", "[frame]") {
  for (std::uint32_t seed = 1; seed <= 25; ++seed) {
    INFO("seed " << seed);
    RandomFrameWriter writer(seed);
    std::vector<ByteVector> frames;
    ByteVector stream;
    for (int i = 0; i < 60; ++i) {
      frames.push_back(writer.make());
      stream.insert(stream.end(), frames.back().begin(), frames.back().end());
    }
    const ReadResult result = read_random_pieces(stream, seed * 7919);
    REQUIRE(result.error == 0);
    REQUIRE(result.frames.size() == frames.size());
    CHECK(result.consumed == stream.size());
    CHECK(result.buffered_at_end == 0);
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const ReadFrame& got = result.frames[i];
      REQUIRE(frame_bytes(got.type, got.payload) == frames[i]);
      if (is_known_frame_type(got.type)) {
        ByteVector again;
        REQUIRE(reencode(got.type, as_bytes(got.payload), &again) == DERP_OK);
        CHECK(again == frames[i]);
      }
    }
  }
}

TEST_CASE("frame reader: a header over its type's limit is refused after 5 bytes, before any buffering", "[frame]") {
  const ByteVector header = from_hex("0400010021");  // SendPacket announcing 65536 + 33 bytes
  SECTION("fed as 5 bytes") {
    FrameReader reader;
    std::size_t used = 0;
    Frame frame;
    CHECK(reader.next(as_bytes(header), &used, &frame) == DERP_ERR_FRAME_TOO_LARGE);
    CHECK(used == 5);
    CHECK(reader.buffer_capacity() == 0);
    CHECK(reader.failed());
  }
  SECTION("fed one byte at a time: the 5th byte fails") {
    FrameReader reader;
    Frame frame;
    for (std::size_t i = 0; i < 4; ++i) {
      std::size_t used = 0;
      REQUIRE(reader.next(Bytes(header).subspan(i, 1), &used, &frame) == 0);
      CHECK(used == 1);
    }
    std::size_t used = 0;
    CHECK(reader.next(Bytes(header).subspan(4, 1), &used, &frame) == DERP_ERR_FRAME_TOO_LARGE);
    CHECK(reader.buffer_capacity() == 0);
  }
  SECTION("the same with a multi-megabyte claim and payload bytes after it") {
    ByteVector stream = from_hex("0500400000");  // RecvPacket announcing 4 MiB
    stream.resize(stream.size() + 1000, 0xAB);
    const ReadResult r = read_whole(stream);
    CHECK(r.error == DERP_ERR_FRAME_TOO_LARGE);
    CHECK(r.consumed == 5);
  }
}

TEST_CASE("frame reader: every known type is held to its protocol limit", "[frame]") {
  struct Case {
    std::uint8_t type;
    std::uint32_t limit;
  };
  const Case cases[] = {
      {DERP_FRAME_SERVER_KEY, 1024},
      {DERP_FRAME_CLIENT_INFO, 256 * 1024},
      {DERP_FRAME_SERVER_INFO, 24 + (1u << 20)},
      {DERP_FRAME_SEND_PACKET, 32 + 65536},
      {DERP_FRAME_RECV_PACKET, 32 + 65536},
      {DERP_FRAME_KEEP_ALIVE, 0},
      {DERP_FRAME_NOTE_PREFERRED, 1},
      {DERP_FRAME_FORWARD_PACKET, 64 + 65536},
      {DERP_FRAME_WATCH_CONNS, 0},
      {DERP_FRAME_CLOSE_PEER, 32},
      {DERP_FRAME_PING, 1000},
  };
  for (const Case& c : cases) {
    INFO(derp_frame_type_name(c.type));
    ByteVector header(5);
    derp::store_be32(header.data() + 1, c.limit + 1);
    header[0] = c.type;
    FrameReader over;
    std::size_t used = 0;
    Frame frame;
    CHECK(over.next(as_bytes(header), &used, &frame) == DERP_ERR_FRAME_TOO_LARGE);
    derp::store_be32(header.data() + 1, c.limit);
    FrameReader at_limit;
    const int r = at_limit.next(as_bytes(header), &used, &frame);
    CHECK(r == (c.limit == 0 ? 1 : 0));
    CHECK(used == 5);
  }
}

TEST_CASE("frame reader: the generic maximum bounds unknown and unbounded types", "[frame]") {
  const std::uint32_t server_max = 65536 + 64;
  for (std::uint8_t type : {std::uint8_t{0x0B}, std::uint8_t{0x7F}, std::uint8_t{DERP_FRAME_HEALTH},
                            std::uint8_t{DERP_FRAME_PEER_PRESENT}, std::uint8_t{DERP_FRAME_PONG}}) {
    INFO(int{type});
    ByteVector header(5);
    header[0] = type;
    derp::store_be32(header.data() + 1, server_max + 1);
    FrameReader reader(server_max);
    std::size_t used = 0;
    Frame frame;
    CHECK(reader.next(as_bytes(header), &used, &frame) == DERP_ERR_FRAME_TOO_LARGE);
    CHECK(reader.buffer_capacity() == 0);

    // Exactly the maximum is accepted and yielded.
    const ByteVector at_max = frame_bytes(type, ByteVector(server_max, 0x11));
    const ReadResult ok = read_random_pieces(at_max, 5, server_max);
    CHECK(ok.error == 0);
    CHECK(ok.frames.size() == 1);
  }
  // The default maximum: 1 MiB + 64.
  ByteVector header = from_hex("7f00000000");
  derp::store_be32(header.data() + 1, DERP_FRAME_DEFAULT_MAX_LEN + 1);
  CHECK(read_whole(header).error == DERP_ERR_FRAME_TOO_LARGE);
  derp::store_be32(header.data() + 1, DERP_FRAME_DEFAULT_MAX_LEN);
  CHECK(read_whole(header).error == 0);
  // A generic maximum below a type's own limit wins: a server reader refuses a ServerInfo with a 1 MiB box.
  const ByteVector big_info(24 + 100000);
  const ByteVector info_frame = frame_bytes(DERP_FRAME_SERVER_INFO, big_info);
  CHECK(read_whole(info_frame, server_max).error == DERP_ERR_FRAME_TOO_LARGE);
  CHECK(read_whole(info_frame).error == 0);
}

TEST_CASE("frame reader: failures are sticky until reset", "[frame]") {
  FrameReader reader;
  std::size_t used = 0;
  Frame frame;
  const ByteVector garbage = from_hex("ffffffffff");  // unknown type claiming 4 GiB
  REQUIRE(reader.next(as_bytes(garbage), &used, &frame) == DERP_ERR_FRAME_TOO_LARGE);
  const ByteVector good = encode_to_vector(KeepAliveFrame{});
  for (int i = 0; i < 3; ++i) {
    CHECK(reader.next(as_bytes(good), &used, &frame) == DERP_ERR_FRAME_READER_FAILED);
    CHECK(used == 0);
  }
  reader.reset();
  CHECK_FALSE(reader.failed());
  CHECK(reader.next(as_bytes(good), &used, &frame) == 1);
  CHECK(frame.type == DERP_FRAME_KEEP_ALIVE);
}

TEST_CASE("frame reader: garbage either reads as frames or fails cleanly, the same way in any split", "[frame]") {
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    ByteVector garbage(rng() % 300);
    for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
    // Small lengths now and then, so some garbage parses as frames.
    if (garbage.size() >= 5 && round % 2 == 0) {
      garbage[1] = garbage[2] = garbage[3] = 0;
      garbage[4] = static_cast<std::uint8_t>(rng() % 40);
    }
    const ReadResult whole = read_whole(garbage);
    const ReadResult bytewise = read_byte_by_byte(garbage);
    const ReadResult split = read_random_pieces(garbage, static_cast<std::uint32_t>(round));
    CHECK(bytewise.frames == whole.frames);
    CHECK(bytewise.error == whole.error);
    CHECK(split.frames == whole.frames);
    CHECK(split.error == whole.error);
    CHECK((whole.error == 0 || whole.error == DERP_ERR_FRAME_TOO_LARGE));
  }
}

TEST_CASE("frame reader: partial frames are buffered exactly, empty input is harmless", "[frame]") {
  const ByteVector packet = pattern_packet(3000);
  const ByteVector stream = encode_to_vector(RecvPacketFrame{.src = key_counting_from(1), .packet = as_bytes(packet)});
  FrameReader reader;
  std::size_t used = 0;
  Frame frame;
  CHECK(reader.next(Bytes{}, &used, &frame) == 0);
  CHECK(used == 0);
  CHECK(reader.next(Bytes(stream).first(3), &used, &frame) == 0);
  CHECK(reader.buffered_bytes() == 3);
  CHECK(reader.buffer_capacity() == 0);  // nothing reserved before the header is complete
  CHECK(reader.next(Bytes(stream).subspan(3, 10), &used, &frame) == 0);
  CHECK(reader.buffered_bytes() == 13);
  CHECK(reader.buffer_capacity() == 3032);  // exactly the announced payload
  CHECK(reader.next(Bytes(stream).subspan(13), &used, &frame) == 1);
  CHECK(used == stream.size() - 13);
  CHECK(frame.payload.size() == 3032);
  CHECK(to_vector(frame.payload) == ByteVector(stream.begin() + 5, stream.end()));
  CHECK(reader.buffered_bytes() == 0);

  SECTION("a zero-length frame whose header is split") {
    const ByteVector keep_alive = encode_to_vector(KeepAliveFrame{});
    CHECK(reader.next(Bytes(keep_alive).first(2), &used, &frame) == 0);
    CHECK(reader.next(Bytes(keep_alive).subspan(2), &used, &frame) == 1);
    CHECK(used == 3);
    CHECK(frame.type == DERP_FRAME_KEEP_ALIVE);
    CHECK(frame.payload.empty());
  }
}

TEST_CASE("frame reader: a large buffered frame's memory is released after it is handed out", "[frame]") {
  const ByteVector packet = pattern_packet(kMaxPacketSize);
  const ByteVector big = encode_to_vector(SendPacketFrame{.dst = key_counting_from(3), .packet = as_bytes(packet)});
  const ByteVector small_packet = pattern_packet(1000);
  const ByteVector small =
      encode_to_vector(SendPacketFrame{.dst = key_counting_from(3), .packet = as_bytes(small_packet)});
  FrameReader reader;
  std::size_t used = 0;
  Frame frame;
  REQUIRE(reader.next(Bytes(big).first(1000), &used, &frame) == 0);
  REQUIRE(reader.next(Bytes(big).subspan(1000), &used, &frame) == 1);
  CHECK(reader.buffer_capacity() >= kMaxPacketSize);  // still backing the frame just returned
  CHECK(frame.payload.size() == 32 + kMaxPacketSize);
  // The next call (here: the first half of a small frame) lets go of the big buffer.
  REQUIRE(reader.next(Bytes(small).first(100), &used, &frame) == 0);
  CHECK(reader.buffer_capacity() <= FrameReader::kRetainedCapacity);
  REQUIRE(reader.next(Bytes(small).subspan(100), &used, &frame) == 1);
  const std::size_t small_capacity = reader.buffer_capacity();
  CHECK(small_capacity <= FrameReader::kRetainedCapacity);
  // A small buffer is kept for the next split frame, and an idle reader holds at most that.
  REQUIRE(reader.next(Bytes(small).first(100), &used, &frame) == 0);
  CHECK(reader.buffer_capacity() == small_capacity);
  reader.reset();
  CHECK(reader.buffer_capacity() == 0);
}

TEST_CASE("frame reader: a large buffer is reused while split frames come back to back, released at a pause",
          "[frame]") {
  const ByteVector packet = pattern_packet(16384);
  const ByteVector one = encode_to_vector(SendPacketFrame{.dst = key_counting_from(3), .packet = as_bytes(packet)});
  // A bulk flow as reads bring it: each input ends inside a frame, so every frame but the first is split.
  ByteVector stream;
  for (int i = 0; i < 6; ++i) stream.insert(stream.end(), one.begin(), one.end());
  FrameReader reader;
  Frame frame;
  std::size_t frames = 0;
  std::size_t capacity_after_first = 0;
  const std::size_t read_len = one.size() + 1000;  // not a multiple of the frame length
  for (std::size_t at = 0; at < stream.size();) {
    Bytes in = Bytes(stream).subspan(at, std::min(read_len, stream.size() - at));
    at += in.size();
    while (!in.empty()) {
      std::size_t used = 0;
      const int r = reader.next(in, &used, &frame);
      REQUIRE(r >= 0);
      in = in.subspan(used);
      if (r == 1) {
        CHECK(frame.payload.size() == 32 + packet.size());
        CHECK(std::equal(packet.begin(), packet.end(), frame.payload.begin() + 32));
        ++frames;
        if (frames == 2) capacity_after_first = reader.buffer_capacity();
        if (frames > 2 && at < stream.size()) CHECK(reader.buffer_capacity() == capacity_after_first);
      }
    }
  }
  CHECK(frames == 6);
  CHECK(capacity_after_first >= one.size() - 5);
  // The last input ended at a frame boundary: the flow paused and the large buffer is gone at the next input.
  const ByteVector small_packet = pattern_packet(100);
  const ByteVector small =
      encode_to_vector(SendPacketFrame{.dst = key_counting_from(3), .packet = as_bytes(small_packet)});
  std::size_t used = 0;
  REQUIRE(reader.next(Bytes(small).first(10), &used, &frame) == 0);
  CHECK(reader.buffer_capacity() <= FrameReader::kRetainedCapacity);
}
