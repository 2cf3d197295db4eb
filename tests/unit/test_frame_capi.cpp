// The C API of include/derp/frame.h: round trips through derp_frame_encode/derp_frame_decode and the reader,
// argument errors, and the struct_size rule that keeps older callers working.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "derp/frame.h"
#include "support/testdata.hpp"

using derp::test::from_hex;
using derp::test::to_hex;

namespace {

using ByteVector = std::vector<std::uint8_t>;

derp_frame_fields new_fields(std::uint8_t type) {
  derp_frame_fields f;
  std::memset(&f, 0, sizeof f);
  f.struct_size = sizeof f;
  f.type = type;
  return f;
}

ByteVector encode_c(const derp_frame_fields& f, int* result) {
  std::size_t needed = 0;
  *result = derp_frame_encode(&f, nullptr, 0, &needed);
  if (*result != DERP_ERR_BUFFER_TOO_SMALL) return {};
  ByteVector out(needed);
  std::size_t written = 0;
  *result = derp_frame_encode(&f, out.data(), out.size(), &written);
  REQUIRE(written == needed);
  return out;
}

derp_frame frame_of(const ByteVector& bytes) {
  derp_frame frame;
  frame.type = bytes.at(0);
  frame.payload = bytes.data() + DERP_FRAME_HEADER_LEN;
  frame.payload_len = bytes.size() - DERP_FRAME_HEADER_LEN;
  return frame;
}

}  // namespace

TEST_CASE("frame C API: frame type names", "[frame]") {
  CHECK(std::string(derp_frame_type_name(DERP_FRAME_SERVER_KEY)) == "ServerKey");
  CHECK(std::string(derp_frame_type_name(DERP_FRAME_PEER_PRESENT)) == "PeerPresent");
  CHECK(std::string(derp_frame_type_name(DERP_FRAME_RESTARTING)) == "Restarting");
  CHECK(std::string(derp_frame_type_name(0x0B)) == "Unknown");
  CHECK(std::string(derp_frame_type_name(-1)) == "Unknown");
  CHECK(std::string(derp_frame_type_name(0x101)) == "Unknown");  // 0x01 in its low byte, but not a type
}

TEST_CASE("frame C API: encode and decode a SendPacket, the data points into the payload", "[frame]") {
  const ByteVector packet = {'h', 'e', 'l', 'l', 'o'};
  derp_frame_fields f = new_fields(DERP_FRAME_SEND_PACKET);
  std::memset(f.dst_key, 0xD0, sizeof f.dst_key);
  f.data = packet.data();
  f.data_len = packet.size();
  int r = 0;
  const ByteVector bytes = encode_c(f, &r);
  REQUIRE(r == DERP_OK);
  std::string d0_key;
  for (int i = 0; i < DERP_KEY_LEN; ++i) d0_key += "d0";
  CHECK(to_hex(bytes) == "0400000025" + d0_key + "68656c6c6f");

  const derp_frame frame = frame_of(bytes);
  derp_frame_fields back = new_fields(0);
  REQUIRE(derp_frame_decode(&frame, &back) == DERP_OK);
  CHECK(back.type == DERP_FRAME_SEND_PACKET);
  CHECK(std::memcmp(back.dst_key, f.dst_key, DERP_KEY_LEN) == 0);
  CHECK(back.data == frame.payload + DERP_KEY_LEN);
  CHECK(back.data_len == packet.size());
  CHECK(back.struct_size == sizeof back);
}

TEST_CASE("frame C API: every frame type round-trips through the fields struct", "[frame]") {
  const ByteVector box(48, 0xB0), ping = from_hex("0102030405060708"), text = {'o', 'k'}, extra = {9, 9};
  std::vector<derp_frame_fields> all;
  auto add = [&](std::uint8_t type, auto&& set) {
    derp_frame_fields f = new_fields(type);
    set(f);
    all.push_back(f);
  };
  add(DERP_FRAME_SERVER_KEY, [&](derp_frame_fields& f) {
    std::memset(f.key, 0x07, DERP_KEY_LEN);
    f.trailing = extra.data();
    f.trailing_len = extra.size();
  });
  add(DERP_FRAME_CLIENT_INFO, [&](derp_frame_fields& f) {
    std::memset(f.key, 0x64, DERP_KEY_LEN);
    std::memset(f.nonce, 0x01, DERP_NONCE_LEN);
    f.data = box.data();
    f.data_len = box.size();
  });
  add(DERP_FRAME_SERVER_INFO, [&](derp_frame_fields& f) {
    std::memset(f.nonce, 0xFF, DERP_NONCE_LEN);
    f.data = box.data();
    f.data_len = box.size();
  });
  add(DERP_FRAME_RECV_PACKET, [&](derp_frame_fields& f) {
    std::memset(f.src_key, 0x58, DERP_KEY_LEN);
    f.data = box.data();
    f.data_len = box.size();
  });
  add(DERP_FRAME_KEEP_ALIVE, [](derp_frame_fields&) {});
  add(DERP_FRAME_NOTE_PREFERRED, [](derp_frame_fields& f) { f.preferred = 1; });
  add(DERP_FRAME_PEER_GONE, [](derp_frame_fields& f) {
    std::memset(f.key, 0x11, DERP_KEY_LEN);
    f.has_reason = 1;
    f.reason = DERP_PEER_GONE_NOT_HERE;
  });
  add(DERP_FRAME_PEER_GONE, [](derp_frame_fields& f) { std::memset(f.key, 0x12, DERP_KEY_LEN); });
  add(DERP_FRAME_PEER_PRESENT, [](derp_frame_fields& f) {
    std::memset(f.key, 0x13, DERP_KEY_LEN);
    f.has_endpoint = 1;
    REQUIRE(derp_addr_parse("192.0.2.1:41641", &f.endpoint) == DERP_OK);
    f.has_flags = 1;
    f.flags = DERP_PEER_PRESENT_REGULAR;
  });
  add(DERP_FRAME_FORWARD_PACKET, [&](derp_frame_fields& f) {
    std::memset(f.src_key, 0xAD, DERP_KEY_LEN);
    std::memset(f.dst_key, 0x64, DERP_KEY_LEN);
    f.data = text.data();
    f.data_len = text.size();
  });
  add(DERP_FRAME_WATCH_CONNS, [](derp_frame_fields&) {});
  add(DERP_FRAME_CLOSE_PEER, [](derp_frame_fields& f) { std::memset(f.key, 0x58, DERP_KEY_LEN); });
  add(DERP_FRAME_PING, [&](derp_frame_fields& f) {
    f.data = ping.data();
    f.data_len = ping.size();
  });
  add(DERP_FRAME_PONG, [&](derp_frame_fields& f) {
    f.data = ping.data();
    f.data_len = ping.size();
  });
  add(DERP_FRAME_HEALTH, [&](derp_frame_fields& f) {
    f.data = text.data();
    f.data_len = text.size();
  });
  add(DERP_FRAME_RESTARTING, [](derp_frame_fields& f) {
    f.reconnect_in_ms = 5000;
    f.try_for_ms = 10000;
  });

  for (const derp_frame_fields& f : all) {
    INFO(derp_frame_type_name(f.type));
    int r = 0;
    const ByteVector bytes = encode_c(f, &r);
    REQUIRE(r == DERP_OK);
    const derp_frame frame = frame_of(bytes);
    derp_frame_fields back = new_fields(0);
    REQUIRE(derp_frame_decode(&frame, &back) == DERP_OK);
    CHECK(back.type == f.type);
    CHECK(std::memcmp(back.key, f.key, DERP_KEY_LEN) == 0);
    CHECK(std::memcmp(back.src_key, f.src_key, DERP_KEY_LEN) == 0);
    CHECK(std::memcmp(back.dst_key, f.dst_key, DERP_KEY_LEN) == 0);
    CHECK(std::memcmp(back.nonce, f.nonce, DERP_NONCE_LEN) == 0);
    CHECK(back.data_len == f.data_len);
    if (f.data_len != 0) CHECK(std::memcmp(back.data, f.data, f.data_len) == 0);
    CHECK(back.trailing_len == f.trailing_len);
    CHECK(back.has_reason == f.has_reason);
    CHECK(back.reason == f.reason);
    CHECK(back.preferred == f.preferred);
    CHECK(back.has_endpoint == f.has_endpoint);
    CHECK(back.endpoint.family == f.endpoint.family);
    CHECK(back.endpoint.port == f.endpoint.port);
    CHECK(back.has_flags == f.has_flags);
    CHECK(back.flags == f.flags);
    CHECK(back.reconnect_in_ms == f.reconnect_in_ms);
    CHECK(back.try_for_ms == f.try_for_ms);
    // And the decoded struct encodes back to the same bytes.
    int again_result = 0;
    CHECK(encode_c(back, &again_result) == bytes);
    CHECK(again_result == DERP_OK);
  }
}

TEST_CASE("frame C API: argument and protocol errors", "[frame]") {
  derp_frame_fields f = new_fields(DERP_FRAME_PING);
  std::uint8_t out[64];
  std::size_t len = 99;
  CHECK(derp_frame_encode(nullptr, out, sizeof out, &len) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_frame_encode(&f, out, sizeof out, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_frame_encode(&f, nullptr, 10, &len) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_frame_encode(&f, out, sizeof out, &len) == DERP_ERR_FRAME_SIZE);  // a Ping needs 8 data bytes
  f.data_len = 8;  // with a NULL pointer
  CHECK(derp_frame_encode(&f, out, sizeof out, &len) == DERP_ERR_INVALID_ARGUMENT);
  f.type = 0x0B;
  f.data_len = 0;
  CHECK(derp_frame_encode(&f, out, sizeof out, &len) == DERP_ERR_FRAME_TYPE);
  f.struct_size = 0;
  CHECK(derp_frame_encode(&f, out, sizeof out, &len) == DERP_ERR_INVALID_ARGUMENT);

  // Forgetting has_reason is caught rather than silently dropping the reason.
  derp_frame_fields gone = new_fields(DERP_FRAME_PEER_GONE);
  gone.reason = DERP_PEER_GONE_NOT_HERE;
  CHECK(derp_frame_encode(&gone, out, sizeof out, &len) == DERP_ERR_INVALID_ARGUMENT);
  derp_frame_fields present = new_fields(DERP_FRAME_PEER_PRESENT);
  present.flags = DERP_PEER_PRESENT_REGULAR;
  CHECK(derp_frame_encode(&present, out, sizeof out, &len) == DERP_ERR_INVALID_ARGUMENT);

  const ByteVector big(DERP_MAX_PACKET_SIZE + 1);
  derp_frame_fields send = new_fields(DERP_FRAME_SEND_PACKET);
  send.data = big.data();
  send.data_len = big.size();
  CHECK(derp_frame_encode(&send, nullptr, 0, &len) == DERP_ERR_FRAME_TOO_LARGE);
  send.data_len = DERP_MAX_PACKET_SIZE;
  CHECK(derp_frame_encode(&send, nullptr, 0, &len) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(len == 5 + 32 + DERP_MAX_PACKET_SIZE);

  derp_frame_fields d = new_fields(0);
  const std::uint8_t payload[2] = {1, 1};
  derp_frame frame{DERP_FRAME_NOTE_PREFERRED, payload, 2};
  CHECK(derp_frame_decode(nullptr, &d) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_frame_decode(&frame, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_frame_decode(&frame, &d) == DERP_ERR_FRAME_TOO_LARGE);
  frame.payload_len = 0;
  CHECK(derp_frame_decode(&frame, &d) == DERP_ERR_FRAME_SIZE);
  frame.payload = nullptr;
  frame.payload_len = 1;
  CHECK(derp_frame_decode(&frame, &d) == DERP_ERR_INVALID_ARGUMENT);
  frame = derp_frame{0x0E, payload, 2};
  CHECK(derp_frame_decode(&frame, &d) == DERP_ERR_FRAME_TYPE);
  ByteVector bad_magic(40, 0);
  std::memcpy(bad_magic.data(), "DERP", 4);  // the first 4 bytes of the magic only
  frame = derp_frame{DERP_FRAME_SERVER_KEY, bad_magic.data(), 40};
  CHECK(derp_frame_decode(&frame, &d) == DERP_ERR_FRAME_BAD_MAGIC);
  d.struct_size = offsetof(derp_frame_fields, type);  // too small to hold even the type
  frame = derp_frame{DERP_FRAME_KEEP_ALIVE, nullptr, 0};
  CHECK(derp_frame_decode(&frame, &d) == DERP_ERR_INVALID_ARGUMENT);

  std::uint8_t header[5];
  CHECK(derp_frame_encode_header(DERP_FRAME_PING, 8, header, sizeof header) == DERP_OK);
  CHECK(to_hex(header, 5) == "1200000008");
  CHECK(derp_frame_encode_header(DERP_FRAME_PING, 1001, header, sizeof header) == DERP_ERR_FRAME_TOO_LARGE);
  CHECK(derp_frame_encode_header(DERP_FRAME_PING, 8, header, 4) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(derp_frame_encode_header(DERP_FRAME_PING, 8, nullptr, 5) == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("frame C API: struct_size: an older, shorter struct gets only its prefix written and read", "[frame]") {
  // An "older caller" whose struct ends before nonce: type and the three keys only.
  const std::size_t old_size = offsetof(derp_frame_fields, nonce);
  const ByteVector packet(100, 0x42);
  derp_frame_fields full = new_fields(DERP_FRAME_FORWARD_PACKET);
  std::memset(full.src_key, 0xAA, DERP_KEY_LEN);
  std::memset(full.dst_key, 0xBB, DERP_KEY_LEN);
  full.data = packet.data();
  full.data_len = packet.size();
  int r = 0;
  const std::vector<std::uint8_t> bytes = encode_c(full, &r);
  REQUIRE(r == DERP_OK);
  const derp_frame frame = frame_of(bytes);

  SECTION("decode writes nothing past struct_size") {
    std::vector<unsigned char> memory(sizeof(derp_frame_fields), 0xEE);
    auto* old = reinterpret_cast<derp_frame_fields*>(memory.data());
    old->struct_size = old_size;
    REQUIRE(derp_frame_decode(&frame, old) == DERP_OK);
    CHECK(old->struct_size == old_size);
    CHECK(old->type == DERP_FRAME_FORWARD_PACKET);
    CHECK(old->src_key[0] == 0xAA);
    CHECK(old->dst_key[31] == 0xBB);
    for (std::size_t i = old_size; i < memory.size(); ++i) {
      INFO(i);
      REQUIRE(memory[i] == 0xEE);
    }
  }
  SECTION("encode reads nothing past struct_size; missing fields count as zero") {
    // Exactly old_size bytes, so reading further would be caught by AddressSanitizer.
    std::vector<unsigned char> memory(old_size);
    derp_frame_fields close = new_fields(DERP_FRAME_CLOSE_PEER);
    std::memset(close.key, 0x58, DERP_KEY_LEN);
    std::memcpy(memory.data(), &close, old_size);
    auto* old = reinterpret_cast<derp_frame_fields*>(memory.data());
    old->struct_size = old_size;
    std::uint8_t out[128];
    std::size_t len = 0;
    REQUIRE(derp_frame_encode(old, out, sizeof out, &len) == DERP_OK);
    CHECK(len == 5 + 32);
    CHECK(to_hex(out, 5) == "1100000020");
    // A ForwardPacket from an old struct has no packet (data lies past its end): an empty packet.
    full.struct_size = old_size;
    REQUIRE(derp_frame_encode(&full, out, sizeof out, &len) == DERP_OK);
    CHECK(len == 5 + 64);
  }
  SECTION("reader options: init fills only what fits") {
    derp_frame_reader_options opts;
    std::memset(&opts, 0xEE, sizeof opts);
    REQUIRE(derp_frame_reader_options_init(&opts, sizeof opts) == DERP_OK);
    CHECK(opts.struct_size == sizeof opts);
    CHECK(opts.max_frame_len == DERP_FRAME_DEFAULT_MAX_LEN);
    CHECK(derp_frame_reader_options_init(&opts, sizeof(std::size_t)) == DERP_ERR_INVALID_ARGUMENT);
    CHECK(derp_frame_reader_options_init(nullptr, sizeof opts) == DERP_ERR_INVALID_ARGUMENT);
  }
}

TEST_CASE("frame C API: the reader splits a stream, zero-copy when whole, sticky on error", "[frame]") {
  derp_frame_reader_options opts;
  REQUIRE(derp_frame_reader_options_init(&opts, sizeof opts) == DERP_OK);
  opts.max_frame_len = 65536 + 64;
  derp_frame_reader* reader = nullptr;
  REQUIRE(derp_frame_reader_new(&opts, &reader) == DERP_OK);
  REQUIRE(reader != nullptr);

  const ByteVector stream = from_hex("0600000000" "070000000101" "12000000080102030405060708");
  std::size_t used = 0;
  derp_frame frame{};
  REQUIRE(derp_frame_reader_next(reader, stream.data(), stream.size(), &used, &frame) == 1);
  CHECK(frame.type == DERP_FRAME_KEEP_ALIVE);
  CHECK(used == 5);
  std::size_t pos = used;
  REQUIRE(derp_frame_reader_next(reader, stream.data() + pos, stream.size() - pos, &used, &frame) == 1);
  CHECK(frame.type == DERP_FRAME_NOTE_PREFERRED);
  CHECK(frame.payload == stream.data() + pos + 5);  // points into the input
  pos += used;
  // The Ping, one byte at a time.
  int result = 0;
  while (pos < stream.size()) {
    result = derp_frame_reader_next(reader, stream.data() + pos, 1, &used, &frame);
    REQUIRE(result >= 0);
    pos += used;
  }
  REQUIRE(result == 1);
  CHECK(frame.type == DERP_FRAME_PING);
  CHECK(frame.payload_len == 8);
  derp_frame_fields fields;
  fields.struct_size = sizeof fields;
  REQUIRE(derp_frame_decode(&frame, &fields) == DERP_OK);
  CHECK(to_hex(fields.data, fields.data_len) == "0102030405060708");

  // A frame over the configured maximum fails, and stays failed until reset.
  const ByteVector oversize = from_hex("1400010041");  // Health announcing 65537 + 64 bytes
  CHECK(derp_frame_reader_next(reader, oversize.data(), oversize.size(), &used, &frame) == DERP_ERR_FRAME_TOO_LARGE);
  CHECK(derp_frame_reader_next(reader, stream.data(), stream.size(), &used, &frame) == DERP_ERR_FRAME_READER_FAILED);
  REQUIRE(derp_frame_reader_reset(reader) == DERP_OK);
  CHECK(derp_frame_reader_next(reader, stream.data(), stream.size(), &used, &frame) == 1);
  CHECK(derp_frame_reader_next(reader, nullptr, 0, &used, &frame) == 0);

  CHECK(derp_frame_reader_next(nullptr, stream.data(), stream.size(), &used, &frame) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_frame_reader_next(reader, nullptr, 3, &used, &frame) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_frame_reader_next(reader, stream.data(), stream.size(), nullptr, &frame) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_frame_reader_next(reader, stream.data(), stream.size(), &used, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_frame_reader_reset(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  derp_frame_reader_free(reader);
  derp_frame_reader_free(nullptr);

  derp_frame_reader* defaults = nullptr;
  REQUIRE(derp_frame_reader_new(nullptr, &defaults) == DERP_OK);
  derp_frame_reader_free(defaults);
  opts.max_frame_len = 0;
  CHECK(derp_frame_reader_new(&opts, &defaults) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_frame_reader_new(nullptr, nullptr) == DERP_ERR_INVALID_ARGUMENT);
}
