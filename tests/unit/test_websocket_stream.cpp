// The DERP-over-WebSocket data path (RFC 6455 §5, reference §1.4, §9.11): client-encoded frames decode on a
// server stream to the same byte stream whatever the split, and every protocol rule fails clearly.
#include <catch2/catch.hpp>

#include <wslay/wslay.h>

#include <cstring>
#include <random>

#include "derp/common.h"
#include "frame/frame_reader.hpp"
#include "http/websocket_stream.hpp"
#include "unit/test_websocket_helpers.hpp"

using namespace derp::http;
using namespace derp::http::test;
using derp::Bytes;
using derp::MutableBytes;

namespace {

ByteVector client_wire(const std::vector<ByteVector>& messages) {
  WebSocketStream client(WebSocketRole::client);
  ByteVector wire;
  for (const ByteVector& m : messages) REQUIRE(client.append_binary_frame(Bytes(m), &wire) == DERP_OK);
  return wire;
}

ByteVector joined(const std::vector<ByteVector>& messages) {
  ByteVector out;
  for (const ByteVector& m : messages) out.insert(out.end(), m.begin(), m.end());
  return out;
}

ByteVector pending(const WebSocketStream& s) {
  return ByteVector(s.pending_control().begin(), s.pending_control().end());
}

// A close frame as a server sends it (unmasked): 0x88, length, status, reason.
ByteVector server_close(std::uint16_t code) {
  return {0x88, 0x02, static_cast<std::uint8_t>(code >> 8), static_cast<std::uint8_t>(code)};
}

ByteVector close_body(std::uint16_t code, std::string_view reason = {}) {
  ByteVector body(2 + reason.size());
  derp::store_be16(body.data(), code);
  if (!reason.empty()) std::memcpy(body.data() + 2, reason.data(), reason.size());
  return body;
}

RawFrame masked(std::uint8_t opcode, bool fin = true) {
  RawFrame f;
  f.opcode = opcode;
  f.fin = fin;
  return f;
}

// Feeds wire whole into a fresh server stream and expects failure with error, nothing delivered, and a close
// frame with close_code queued.
void expect_server_failure(const ByteVector& wire, int error, std::uint16_t close_code) {
  WebSocketStream server(WebSocketRole::server);
  const FeedOutcome out = feed_whole(server, wire);
  CHECK(out.result == error);
  CHECK(server.state() == WebSocketState::failed);
  CHECK(server.error() == error);
  CHECK_FALSE(server.detail().empty());
  CHECK(pending(server) == server_close(close_code));
  CHECK(server.sent_close_code() == close_code);
  // Sticky: nothing more is taken.
  std::size_t used = 99;
  const ByteVector more = {0x82, 0x80, 0, 0, 0, 0};
  CHECK(server.feed(Bytes(more), &used, [](Bytes) { return DERP_OK; }) == error);
  CHECK(used == 0);
}

}  // namespace

TEST_CASE("websocket stream: client frames decode to the same bytes, whole, in random splits, byte by byte",
          "[websocket]") {
  // Sizes around every length form: 7-bit, 16-bit (126..65535) and 64-bit (65536 and up).
  std::vector<ByteVector> messages;
  std::uint8_t start = 0;
  for (std::size_t size : {0, 1, 5, 125, 126, 127, 1000, 4095, 4096, 4097, 65535, 65536, 70000}) {
    messages.push_back(pattern(size, start++));
  }
  const ByteVector wire = client_wire(messages);
  const ByteVector expected = joined(messages);

  SECTION("whole") {
    WebSocketStream server(WebSocketRole::server);
    const FeedOutcome out = feed_whole(server, wire);
    CHECK(out.result == 0);
    CHECK(out.consumed == wire.size());
    CHECK(out.stream == expected);
    CHECK(server.state() == WebSocketState::open);
    CHECK(server.pending_control().empty());
  }
  SECTION("random splits") {
    std::mt19937 rng(12345);
    for (int round = 0; round < 20; ++round) {
      WebSocketStream server(WebSocketRole::server);
      const FeedOutcome out = feed_pieces(server, wire, [&](std::size_t left) {
        return std::min<std::size_t>(left, 1 + rng() % 300);
      });
      CHECK(out.result == 0);
      CHECK(out.consumed == wire.size());
      CHECK(out.stream == expected);
    }
  }
  SECTION("one byte at a time") {
    WebSocketStream server(WebSocketRole::server);
    const FeedOutcome out = feed_bytewise(server, wire);
    CHECK(out.result == 0);
    CHECK(out.consumed == wire.size());
    CHECK(out.stream == expected);
  }
}

TEST_CASE("websocket stream: a large message is handed on in pieces, never held whole", "[websocket]") {
  const ByteVector message = pattern(64 * 1024);
  const ByteVector wire = client_wire({message});
  WebSocketStream server(WebSocketRole::server);
  std::size_t largest_piece = 0;
  ByteVector got;
  std::size_t used = 0;
  // Fed in two halves: the first half's payload comes out before the second half arrives.
  const std::size_t half = wire.size() / 2;
  auto sink = [&](Bytes piece) {
    largest_piece = std::max(largest_piece, piece.size());
    got.insert(got.end(), piece.begin(), piece.end());
    return DERP_OK;
  };
  REQUIRE(server.feed(Bytes(wire.data(), half), &used, sink) == 0);
  CHECK(used == half);
  CHECK(got.size() == half - 14);  // all of the payload that arrived, behind the 14-byte header
  REQUIRE(server.feed(Bytes(wire.data() + half, wire.size() - half), &used, sink) == 0);
  CHECK(got == message);
  CHECK(largest_piece <= 4096);  // wslay's buffer: pieces, not a reassembled message
}

TEST_CASE("websocket stream: fragmented messages reassemble, with control frames between fragments", "[websocket]") {
  const ByteVector a = pattern(10, 1);
  const ByteVector b = pattern(300, 2);
  const ByteVector c = pattern(3, 3);
  const ByteVector ping_data = bytes_of("are you there");
  const ByteVector wire = concat({
      raw_frame(masked(0x2, false), a),
      raw_frame(masked(0x9), ping_data),
      raw_frame(masked(0x0, false), b),
      raw_frame(masked(0x0, false), {}),  // an empty fragment is allowed
      raw_frame(masked(0xA), bytes_of("unsolicited")),
      raw_frame(masked(0x0, true), c),
      raw_frame(masked(0x2), a),  // a new message may start after the final fragment
  });
  const ByteVector expected = concat({a, b, c, a});
  for (bool bytewise : {false, true}) {
    WebSocketStream server(WebSocketRole::server);
    const FeedOutcome out = bytewise ? feed_bytewise(server, wire) : feed_whole(server, wire);
    CHECK(out.result == 0);
    CHECK(out.stream == expected);
    // The ping got a pong with the same data; the unsolicited pong got nothing.
    CHECK(pending(server) == concat({{0x8A, static_cast<std::uint8_t>(ping_data.size())}, ping_data}));
  }
}

TEST_CASE("websocket stream: message boundaries mean nothing to the DERP frames inside", "[websocket]") {
  // Reference §9.11: a DERP frame may be split across messages, and one message may hold several frames.
  const ByteVector keep_alive = {0x06, 0x00, 0x00, 0x00, 0x00};
  ByteVector ping_frame = {0x12, 0x00, 0x00, 0x00, 0x08};
  const ByteVector ping_data = pattern(8, 0x40);
  ping_frame.insert(ping_frame.end(), ping_data.begin(), ping_data.end());
  const ByteVector derp_stream = concat({ping_frame, keep_alive, ping_frame});

  const std::vector<std::vector<ByteVector>> layouts = {
      {derp_stream},                                                          // all three frames in one message
      {ByteVector(derp_stream.begin(), derp_stream.begin() + 7),               // frame 1 split across two messages
       ByteVector(derp_stream.begin() + 7, derp_stream.end())},
      {ByteVector(derp_stream.begin(), derp_stream.begin() + 13),
       ByteVector(derp_stream.begin() + 13, derp_stream.begin() + 15), ByteVector(),
       ByteVector(derp_stream.begin() + 15, derp_stream.end())},
  };
  for (const auto& layout : layouts) {
    WebSocketStream server(WebSocketRole::server);
    const FeedOutcome out = feed_whole(server, client_wire(layout));
    REQUIRE(out.result == 0);
    CHECK(out.stream == derp_stream);
    // The DERP reader sees the same three frames whatever the layout.
    derp::frame::FrameReader reader;
    Bytes rest(out.stream);
    std::vector<std::uint8_t> types;
    while (true) {
      std::size_t used = 0;
      derp::frame::Frame frame;
      const int r = reader.next(rest, &used, &frame);
      rest = rest.subspan(used);
      if (r != 1) break;
      types.push_back(frame.type);
    }
    CHECK(types == std::vector<std::uint8_t>{0x12, 0x06, 0x12});
  }
}

TEST_CASE("websocket stream: ping gets a pong with the same data, a ping flood keeps one pending pong",
          "[websocket]") {
  WebSocketStream server(WebSocketRole::server);
  const ByteVector data = pattern(125, 9);  // the largest control payload
  FeedOutcome out = feed_bytewise(server, raw_frame(masked(0x9), data));
  REQUIRE(out.result == 0);
  CHECK(out.stream.empty());
  const ByteVector pong = concat({{0x8A, 125}, data});
  CHECK(pending(server) == pong);

  // The host starts writing the pong: it stays. Newer pings then replace only the pong not yet started.
  server.consume_control(3);
  for (std::uint8_t i = 0; i < 50; ++i) {
    REQUIRE(feed_whole(server, raw_frame(masked(0x9), {i, i})).result == 0);
  }
  const ByteVector newest = {0x8A, 0x02, 49, 49};
  CHECK(pending(server) == concat({ByteVector(pong.begin() + 3, pong.end()), newest}));
  server.consume_control(server.pending_control().size());
  CHECK(server.pending_control().empty());

  // A client's pong is masked; unmasked it holds the ping's data.
  WebSocketStream client(WebSocketRole::client);
  RawFrame unmasked_ping = masked(0x9);
  unmasked_ping.masked = false;
  REQUIRE(feed_whole(client, raw_frame(unmasked_ping, bytes_of("hi"))).result == 0);
  ByteVector client_pong = pending(client);
  REQUIRE(client_pong.size() == 2 + 4 + 2);
  CHECK(client_pong[0] == 0x8A);
  CHECK(client_pong[1] == (0x80 | 2));
  WsMaskKey key{client_pong[2], client_pong[3], client_pong[4], client_pong[5]};
  WebSocketStream::apply_mask(key, MutableBytes(client_pong.data() + 6, 2));
  CHECK(ByteVector(client_pong.begin() + 6, client_pong.end()) == bytes_of("hi"));
}

TEST_CASE("websocket stream: text message fails with 1003", "[websocket]") {
  expect_server_failure(raw_frame(masked(0x1), bytes_of("{\"hello\":1}")), DERP_ERR_WS_TEXT_MESSAGE, 1003);
}

TEST_CASE("websocket stream: masking rules (RFC 6455 §5.1)", "[websocket]") {
  RawFrame unmasked = masked(0x2);
  unmasked.masked = false;
  SECTION("a server refuses an unmasked frame") {
    expect_server_failure(raw_frame(unmasked, pattern(20)), DERP_ERR_WS_PROTOCOL, 1002);
  }
  SECTION("a client refuses a masked frame") {
    WebSocketStream client(WebSocketRole::client);
    const FeedOutcome out = feed_whole(client, raw_frame(masked(0x2), pattern(20)));
    CHECK(out.result == DERP_ERR_WS_PROTOCOL);
    CHECK(out.stream.empty());
    // The client's close frame is masked: 0x88, 0x80|2, key, masked status.
    const ByteVector close = pending(client);
    REQUIRE(close.size() == 8);
    CHECK(close[0] == 0x88);
    CHECK(close[1] == 0x82);
    CHECK(client.sent_close_code() == 1002);
  }
  SECTION("a client takes unmasked frames") {
    WebSocketStream client(WebSocketRole::client);
    const FeedOutcome out = feed_bytewise(client, raw_frame(unmasked, pattern(20)));
    CHECK(out.result == 0);
    CHECK(out.stream == pattern(20));
  }
}

TEST_CASE("websocket stream: oversized messages fail before their payload is taken", "[websocket]") {
  const std::uint64_t bound = 1000;
  SECTION("one frame over the bound") {
    WebSocketStream server(WebSocketRole::server, bound);
    RawFrame f = masked(0x2);
    f.announced_len = bound + 1;
    // Only the header and the first payload byte exist: the error must not wait for the rest.
    ByteVector wire = raw_frame(f, pattern(1));
    const std::size_t header_len = wire.size() - 1;
    wire.resize(wire.size() + 5000, 0xEE);
    const FeedOutcome out = feed_bytewise(server, wire);
    CHECK(out.result == DERP_ERR_WS_TOO_LARGE);
    CHECK(out.stream.empty());
    CHECK(out.consumed <= header_len + 1);  // wslay shows a header with its first payload byte
    CHECK(pending(server) == server_close(1009));
  }
  SECTION("a 64-bit length far over the bound") {
    RawFrame f = masked(0x2);
    f.announced_len = (std::uint64_t{1} << 62);
    expect_server_failure(raw_frame(f, pattern(1)), DERP_ERR_WS_TOO_LARGE, 1009);
  }
  SECTION("fragments that add up to more than the bound") {
    WebSocketStream server(WebSocketRole::server, bound);
    const ByteVector wire = concat({raw_frame(masked(0x2, false), pattern(600)), raw_frame(masked(0x0), pattern(401))});
    const FeedOutcome out = feed_whole(server, wire);
    CHECK(out.result == DERP_ERR_WS_TOO_LARGE);
    CHECK(out.stream == pattern(600));
  }
  SECTION("exactly the bound is fine, and the next message starts afresh") {
    WebSocketStream server(WebSocketRole::server, bound);
    const ByteVector wire = concat({raw_frame(masked(0x2, false), pattern(600)), raw_frame(masked(0x0), pattern(400)),
                                    raw_frame(masked(0x2), pattern(1000))});
    const FeedOutcome out = feed_whole(server, wire);
    CHECK(out.result == 0);
    CHECK(out.stream.size() == 2000);
  }
}

TEST_CASE("websocket stream: close 1000 and 1001 are a clean end of stream", "[websocket]") {
  for (std::uint16_t code : {std::uint16_t{1000}, std::uint16_t{1001}}) {
    WebSocketStream server(WebSocketRole::server);
    const ByteVector trailing = {0x82, 0x81, 1, 2, 3, 4, 5};
    const ByteVector close = raw_frame(masked(0x8), close_body(code, "bye"));
    const ByteVector wire = concat({client_wire({pattern(50)}), close, trailing});
    const FeedOutcome out = feed_whole(server, wire);
    CHECK(out.result == 1);
    CHECK(out.stream == pattern(50));
    // Nothing after the close frame is taken (§5.5.1: nothing may follow it).
    CHECK(out.consumed == wire.size() - trailing.size());
    CHECK(server.state() == WebSocketState::closed);
    CHECK(server.error() == DERP_OK);
    CHECK(server.peer_close_code() == code);
    CHECK(server.detail().find("bye") != std::string::npos);
    // Our reply echoes the status.
    CHECK(pending(server) == server_close(code));
    CHECK_FALSE(server.can_send());
    derp::http::WsHeaderBytes header{};
    CHECK(server.write_binary_header(10, header) == 0);
    std::size_t used = 9;
    CHECK(server.feed(Bytes(trailing), &used, [](Bytes) { return DERP_OK; }) == 1);
    CHECK(used == 0);
  }
}

TEST_CASE("websocket stream: other closes end the stream with an error and the peer's code", "[websocket]") {
  SECTION("status 4000") {
    WebSocketStream server(WebSocketRole::server);
    CHECK(feed_bytewise(server, raw_frame(masked(0x8), close_body(4000, "a\nb"))).result == DERP_ERR_WS_CLOSED);
    CHECK(server.state() == WebSocketState::closed);
    CHECK(std::string_view(websocket_state_name(server.state())) == "closed");
    CHECK(server.detail() == "peer closed with status 4000: a?b");
    CHECK(server.peer_close_code() == 4000);
    CHECK(server.error() == DERP_ERR_WS_CLOSED);
    CHECK(pending(server) == server_close(4000));
  }
  SECTION("no status: 1005, answered with an empty close") {
    WebSocketStream server(WebSocketRole::server);
    CHECK(feed_whole(server, raw_frame(masked(0x8), {})).result == DERP_ERR_WS_CLOSED);
    CHECK(server.peer_close_code() == 1005);
    CHECK(pending(server) == ByteVector{0x88, 0x00});
  }
  SECTION("malformed close frames") {
    expect_server_failure(raw_frame(masked(0x8), {0x03}), DERP_ERR_WS_PROTOCOL, 1002);
    expect_server_failure(raw_frame(masked(0x8), close_body(1005)), DERP_ERR_WS_PROTOCOL, 1002);
    expect_server_failure(raw_frame(masked(0x8), close_body(999)), DERP_ERR_WS_PROTOCOL, 1002);
    expect_server_failure(raw_frame(masked(0x8), close_body(1000, "\xC3\x28")), DERP_ERR_WS_PROTOCOL, 1007);
  }
}

TEST_CASE("websocket stream: our close() and the peer's reply", "[websocket]") {
  WebSocketStream server(WebSocketRole::server);
  CHECK(server.close(1000, std::string(124, 'x')) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(server.close(1005) == DERP_ERR_INVALID_ARGUMENT);
  REQUIRE(server.close(1001, "restarting") == DERP_OK);
  CHECK(server.state() == WebSocketState::closing);
  CHECK(pending(server) == concat({{0x88, 12}, close_body(1001, "restarting")}));
  CHECK(server.close(1000) == DERP_ERR_WS_NOT_OPEN);
  std::vector<std::uint8_t> out;
  CHECK(server.append_binary_frame(Bytes(pattern(3)), &out) == DERP_ERR_WS_NOT_OPEN);
  server.consume_control(server.pending_control().size());

  // Data still arriving before the peer's close is delivered; its ping is not answered after our close.
  const ByteVector wire = concat({client_wire({pattern(7)}), raw_frame(masked(0x9), {1}),
                                  raw_frame(masked(0x8), close_body(1001))});
  const FeedOutcome result = feed_whole(server, wire);
  CHECK(result.result == 1);
  CHECK(result.stream == pattern(7));
  CHECK(server.state() == WebSocketState::closed);
  CHECK(server.pending_control().empty());  // the close was ours; no second one
}

TEST_CASE("websocket stream: frame rules wslay and the stream enforce", "[websocket]") {
  SECTION("reserved bits") {
    RawFrame f = masked(0x2);
    f.rsv = 4;  // RSV1, as permessage-deflate would set it
    expect_server_failure(raw_frame(f, pattern(5)), DERP_ERR_WS_PROTOCOL, 1002);
  }
  SECTION("unknown opcodes") {
    expect_server_failure(raw_frame(masked(0x3), pattern(5)), DERP_ERR_WS_PROTOCOL, 1002);
    expect_server_failure(raw_frame(masked(0xB), pattern(5)), DERP_ERR_WS_PROTOCOL, 1002);
  }
  SECTION("control frame over 125 bytes") {
    expect_server_failure(raw_frame(masked(0x9), pattern(126)), DERP_ERR_WS_PROTOCOL, 1002);
  }
  SECTION("fragmented control frame") {
    expect_server_failure(raw_frame(masked(0x9, false), pattern(4)), DERP_ERR_WS_PROTOCOL, 1002);
  }
  SECTION("length not in its shortest form") {
    RawFrame f16 = masked(0x2);
    f16.form = LengthForm::force16;
    expect_server_failure(raw_frame(f16, pattern(100)), DERP_ERR_WS_PROTOCOL, 1002);
    RawFrame f64 = masked(0x2);
    f64.form = LengthForm::force64;
    expect_server_failure(raw_frame(f64, pattern(1000)), DERP_ERR_WS_PROTOCOL, 1002);
  }
  SECTION("64-bit length with its top bit set") {
    RawFrame f = masked(0x2);
    f.announced_len = std::uint64_t{1} << 63;
    expect_server_failure(raw_frame(f, {}), DERP_ERR_WS_PROTOCOL, 1002);
  }
  SECTION("continuation without a message") {
    expect_server_failure(raw_frame(masked(0x0), pattern(5)), DERP_ERR_WS_PROTOCOL, 1002);
  }
  SECTION("new message inside a fragmented one") {
    expect_server_failure(concat({raw_frame(masked(0x2, false), pattern(5)), raw_frame(masked(0x2), pattern(5))}),
                          DERP_ERR_WS_PROTOCOL, 1002);
  }
}

TEST_CASE("websocket stream: extended lengths both ways", "[websocket]") {
  struct Case {
    std::uint64_t len;
    std::size_t server_header;  // unmasked
  };
  const Case cases[] = {{0, 2}, {125, 2}, {126, 4}, {65535, 4}, {65536, 10}, {70000, 10}};
  for (const Case& c : cases) {
    INFO("payload " << c.len);
    WebSocketStream server(WebSocketRole::server);
    WebSocketStream client(WebSocketRole::client);
    WsHeaderBytes header{};
    REQUIRE(server.write_binary_header(c.len, header) == c.server_header);
    CHECK(header[0] == 0x82);
    CHECK((header[1] & 0x80) == 0);
    if (c.len == 126 || c.len == 65535) CHECK(header[1] == 126);
    if (c.len >= 65536) CHECK(header[1] == 127);
    WsMaskKey key{};
    REQUIRE(client.write_binary_header(c.len, header, &key) == c.server_header + 4);
    CHECK((header[1] & 0x80) != 0);
    CHECK(std::equal(key.begin(), key.end(), header.begin() + static_cast<std::ptrdiff_t>(c.server_header)));
    CHECK(client.write_binary_header(c.len, header, nullptr) == 0);  // a client must get the key

    // Server → client: header in front of data the server already holds, no copy of the payload into a frame.
    const ByteVector payload = pattern(static_cast<std::size_t>(c.len), 5);
    const std::size_t hlen = server.write_binary_header(c.len, header);
    ByteVector wire(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(hlen));
    wire.insert(wire.end(), payload.begin(), payload.end());
    const FeedOutcome to_client = feed_pieces(client, wire, [](std::size_t left) {
      return std::min<std::size_t>(left, 333);
    });
    CHECK(to_client.result == 0);
    CHECK(to_client.stream == payload);

    // Client → server: header, then the payload masked in place with the header's key.
    ByteVector masked_payload = payload;
    const std::size_t chlen = client.write_binary_header(c.len, header, &key);
    WebSocketStream::apply_mask(key, MutableBytes(masked_payload));
    ByteVector cwire(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(chlen));
    cwire.insert(cwire.end(), masked_payload.begin(), masked_payload.end());
    const FeedOutcome to_server = feed_whole(server, cwire);
    CHECK(to_server.result == 0);
    CHECK(to_server.stream == payload);
  }
  WebSocketStream server(WebSocketRole::server);
  WsHeaderBytes header{};
  CHECK(server.write_binary_header(std::uint64_t{1} << 63, header) == 0);  // §5.2: the top bit must be 0
}

TEST_CASE("websocket stream: masking in pieces equals masking whole", "[websocket]") {
  const WsMaskKey key = {0xDE, 0xAD, 0xBE, 0xEF};
  const ByteVector data = pattern(1001);
  ByteVector whole = data;
  WebSocketStream::apply_mask(key, MutableBytes(whole));
  ByteVector pieces = data;
  std::size_t at = 0;
  for (std::size_t n : {1, 2, 3, 500, 495}) {
    WebSocketStream::apply_mask(key, MutableBytes(pieces.data() + at, n), at);
    at += n;
  }
  CHECK(pieces == whole);
  WebSocketStream::apply_mask(key, MutableBytes(whole));
  CHECK(whole == data);
}

TEST_CASE("websocket stream: a refusing sink stops feed, and the stream carries on afterwards", "[websocket]") {
  const ByteVector wire = client_wire({pattern(100), pattern(100, 1)});
  WebSocketStream server(WebSocketRole::server);
  int calls = 0;
  std::size_t used = 0;
  const int r = server.feed(Bytes(wire), &used, [&](Bytes) { return ++calls == 1 ? DERP_ERR_FRAME_TOO_LARGE : 0; });
  CHECK(r == DERP_ERR_FRAME_TOO_LARGE);
  CHECK(used < wire.size());
  CHECK(server.state() == WebSocketState::open);
  // The rest of the input continues where it stopped.
  ByteVector rest;
  const int r2 = server.feed(Bytes(wire.data() + used, wire.size() - used), &used, [&](Bytes piece) {
    rest.insert(rest.end(), piece.begin(), piece.end());
    return DERP_OK;
  });
  CHECK(r2 == 0);
  CHECK(rest.size() == 200 - 1);  // the refused piece was the first payload byte of the first frame
}

// wslay's own sender is an independent encoder: our headers must match the frames it writes byte for byte.
namespace {
struct WslayEncoder {
  ByteVector out;
  WsMaskKey key{};
  static ssize_t send(const std::uint8_t* data, std::size_t len, int, void* user) {
    auto* self = static_cast<WslayEncoder*>(user);
    self->out.insert(self->out.end(), data, data + len);
    return static_cast<ssize_t>(len);
  }
  static ssize_t recv(std::uint8_t*, std::size_t, int, void*) { return -1; }
  static int genmask(std::uint8_t* buf, std::size_t len, void* user) {
    std::memcpy(buf, static_cast<WslayEncoder*>(user)->key.data(), len);
    return 0;
  }
  ByteVector frame(const ByteVector& payload, bool masked) {
    wslay_frame_callbacks callbacks{&send, &recv, &genmask};
    wslay_frame_context_ptr ctx = nullptr;
    REQUIRE(wslay_frame_context_init(&ctx, &callbacks, this) == 0);
    wslay_frame_iocb iocb{};
    iocb.fin = 1;
    iocb.opcode = WSLAY_BINARY_FRAME;
    iocb.mask = masked ? 1 : 0;
    iocb.payload_length = payload.size();
    iocb.data = payload.data();
    iocb.data_length = payload.size();
    out.clear();
    const ssize_t r = wslay_frame_send(ctx, &iocb);
    wslay_frame_context_free(ctx);
    REQUIRE(r == static_cast<ssize_t>(payload.size()));
    return out;
  }
};
}  // namespace

TEST_CASE("websocket stream: frames match wslay's encoder", "[websocket]") {
  for (std::size_t len : {0, 1, 125, 126, 127, 65535, 65536, 65537}) {
    INFO("payload " << len);
    const ByteVector payload = pattern(len, 3);
    WslayEncoder wslay;
    ByteVector ours;
    WebSocketStream server(WebSocketRole::server);
    REQUIRE(server.append_binary_frame(Bytes(payload), &ours) == DERP_OK);
    CHECK(ours == wslay.frame(payload, false));

    // The client's key is random: hand the same one to wslay.
    WebSocketStream client(WebSocketRole::client);
    ours.clear();
    REQUIRE(client.append_binary_frame(Bytes(payload), &ours) == DERP_OK);
    const std::size_t key_at = len <= 125 ? 2 : len <= 65535 ? 4 : 10;
    std::memcpy(wslay.key.data(), ours.data() + key_at, wslay.key.size());
    CHECK(ours == wslay.frame(payload, true));
  }
}
