// DERP over WebSocket against Go's per-message read limit (32 KiB; issue 13): our server and our client write the
// DERP byte stream in binary messages of at most 16 KiB, a frame spanning several, and a reader that applies Go's
// limit (support/go_ws_reader) takes a 64 KiB packet both ways. The server still writes without copying.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "frame/frame_reader.hpp"
#include "frame/frame_types.hpp"
#include "http/websocket_stream.hpp"
#include "support/client_harness.hpp"
#include "support/go_ws_reader.hpp"

using derp::Bytes;
using derp::http::kWsMaxDataMessage;
using derp::http::WebSocketRole;
using derp::http::WebSocketStream;
using namespace derp::test;

namespace {

ByteVec pattern(std::size_t n, std::uint8_t seed) {
  ByteVec v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 8));
  return v;
}

// The frames in a DERP byte stream.
std::vector<std::pair<std::uint8_t, ByteVec>> frames_of(const ByteVec& stream) {
  std::vector<std::pair<std::uint8_t, ByteVec>> out;
  derp::frame::FrameReader reader(2 * 1024 * 1024);
  Bytes in(stream);
  while (!in.empty()) {
    std::size_t used = 0;
    derp::frame::Frame f;
    const int r = reader.next(in, &used, &f);
    in = in.subspan(used);
    REQUIRE(r >= 0);
    if (r == 0) break;
    out.emplace_back(f.type, ByteVec(f.payload.begin(), f.payload.end()));
  }
  return out;
}

// The bytes after an HTTP head (the upgrade request or the 101).
ByteVec after_head(const ByteVec& wire) {
  const std::string text(wire.begin(), wire.end());
  const std::size_t end = text.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  return ByteVec(wire.begin() + static_cast<std::ptrdiff_t>(end + 4), wire.end());
}

// The packet payload of the first frame of `type` whose packet is `size` bytes long, or empty.
ByteVec packet_in(const ByteVec& stream, derp::frame::FrameType type, std::size_t size) {
  for (const auto& [t, payload] : frames_of(stream)) {
    if (t == derp::frame::type_byte(type) && payload.size() == 32 + size) {
      return ByteVec(payload.begin() + 32, payload.end());
    }
  }
  return {};
}

}  // namespace

TEST_CASE("websocket messages: how a run of bytes is cut into messages of at most 16 KiB", "[websocket]") {
  using derp::http::split_into_messages;
  CHECK(split_into_messages(0).count == 0);
  CHECK(split_into_messages(1).count == 1);
  CHECK(split_into_messages(1).first_len == 1);
  CHECK(split_into_messages(kWsMaxDataMessage).count == 1);
  CHECK(split_into_messages(kWsMaxDataMessage).first_len == kWsMaxDataMessage);
  CHECK(split_into_messages(kWsMaxDataMessage + 1).count == 2);
  CHECK(split_into_messages(kWsMaxDataMessage + 1).first_len == 1);
  // The largest RecvPacket: 5-byte header, 32-byte key, 64 KiB packet.
  CHECK(split_into_messages(5 + 32 + 65536).count == 5);
  CHECK(split_into_messages(5 + 32 + 65536).first_len == 37);

  const Bytes header = WebSocketStream::full_message_header();
  CHECK(ByteVec(header.begin(), header.end()) == ByteVec{0x82, 0x7e, 0x40, 0x00});

  for (const WebSocketRole role : {WebSocketRole::server, WebSocketRole::client}) {
    const WebSocketStream ws(role);
    for (const std::size_t len : {std::size_t{1}, std::size_t{125}, std::size_t{126}, kWsMaxDataMessage,
                                  kWsMaxDataMessage + 1, kWsMaxDataMessage + 126, std::size_t{65573}}) {
      INFO(len << (role == WebSocketRole::client ? " client" : " server"));
      const ByteVec payload = pattern(len, 3);
      ByteVec wire;
      REQUIRE(ws.append_binary_messages(Bytes(payload), &wire) == DERP_OK);
      CHECK(wire.size() == len + ws.message_overhead(len));
      GoWsReader reader(role == WebSocketRole::client);
      ByteVec stream;
      REQUIRE(reader.feed(Bytes(wire), &stream));
      CHECK(stream == payload);
      CHECK(reader.messages() == split_into_messages(len).count);
      CHECK(reader.largest_message() <= kWsMaxDataMessage);
      CHECK(reader.buffered() == 0);
    }
  }
}

TEST_CASE("websocket messages: the Go-limit reader refuses what Go refuses", "[websocket]") {
  // A control for the tests below: one message over 32 KiB fails, whether sent whole or in fragments.
  const WebSocketStream server(WebSocketRole::server);
  ByteVec ok, too_big;
  REQUIRE(server.append_binary_frame(Bytes(pattern(GoWsReader::kGoReadLimit, 1)), &ok) == DERP_OK);
  REQUIRE(server.append_binary_frame(Bytes(pattern(GoWsReader::kGoReadLimit + 1, 1)), &too_big) == DERP_OK);
  ByteVec stream;
  GoWsReader a(false);
  CHECK(a.feed(Bytes(ok), &stream));
  GoWsReader b(false);
  CHECK_FALSE(b.feed(Bytes(too_big), &stream));
  CHECK(b.error().find("read limited at 32769 bytes") != std::string::npos);
  // Two fragments of 16385 bytes make one 32770-byte message.
  ByteVec fragmented = {0x02, 0x7e, 0x40, 0x01};
  const ByteVec half = pattern(16385, 2);
  fragmented.insert(fragmented.end(), half.begin(), half.end());
  fragmented.insert(fragmented.end(), {0x80, 0x7e, 0x40, 0x01});
  fragmented.insert(fragmented.end(), half.begin(), half.end());
  GoWsReader c(false);
  CHECK_FALSE(c.feed(Bytes(fragmented), &stream));
  // What the old writer did with the largest packet: one message per frame.
  ByteVec old_style;
  REQUIRE(server.append_binary_frame(Bytes(pattern(5 + 32 + 65536, 4)), &old_style) == DERP_OK);
  GoWsReader d(false);
  CHECK_FALSE(d.feed(Bytes(old_style), &stream));
}

TEST_CASE("websocket messages: a 64 KiB packet both ways between our client and server cores", "[websocket]") {
  ClientWorld w;
  auto o = client_options(test_client_private(1));
  o.websocket = true;
  Link& ws = w.dial(o, /*record_wire=*/true);
  Link& plain = w.dial(2);
  REQUIRE(ws.client->phase() == derp::client::ClientPhase::Running);

  const ByteVec up = pattern(65536, 5);
  const ByteVec down = pattern(65536, 6);
  REQUIRE(ws.client->send_packet(plain.client->public_key(), Bytes(up), w.now()) == DERP_OK);
  REQUIRE(plain.client->send_packet(ws.client->public_key(), Bytes(down), w.now()) == DERP_OK);
  w.pump();
  REQUIRE(plain.events.packets.size() == 1);
  CHECK(plain.events.packets[0].payload == up);
  REQUIRE(ws.events.packets.size() == 1);
  CHECK(ws.events.packets[0].payload == down);

  // Every message each way within Go's limit, and within our 16 KiB.
  GoWsReader to_server(/*masked=*/true);
  GoWsReader to_client(/*masked=*/false);
  ByteVec client_stream, server_stream;
  INFO(to_server.error() << to_client.error());
  REQUIRE(to_server.feed(Bytes(after_head(ws.wire_to_server)), &client_stream));
  REQUIRE(to_client.feed(Bytes(after_head(ws.wire_to_client)), &server_stream));
  CHECK(to_server.largest_message() <= kWsMaxDataMessage);
  CHECK(to_client.largest_message() <= kWsMaxDataMessage);
  CHECK(to_server.messages() >= 5);  // the 64 KiB SendPacket alone takes five
  CHECK(to_client.messages() >= 5);
  CHECK(packet_in(client_stream, derp::frame::FrameType::SendPacket, up.size()) == up);
  CHECK(packet_in(server_stream, derp::frame::FrameType::RecvPacket, down.size()) == down);
}

TEST_CASE("websocket messages: the server cuts a frame into messages without copying it", "[websocket][server]") {
  ClientWorld w;
  auto o = client_options(test_client_private(1));
  o.websocket = true;
  Link& ws = w.dial(o);
  Link& plain = w.dial(2);
  const ByteVec down = pattern(65536, 8);
  REQUIRE(plain.client->send_packet(ws.client->public_key(), Bytes(down), w.now()) == DERP_OK);
  // Move only the plain client's bytes: the packet then waits in the WebSocket connection's output.
  const Bytes out = plain.client->pending_output();
  const ByteVec copy(out.begin(), out.end());
  plain.client->output_written(copy.size(), w.now());
  plain.server_conn->receive(Bytes(copy), w.now());
  w.server().drain_ready([](derp::server::Connection&) {});
  derp::server::Connection& conn = *ws.server_conn;
  REQUIRE(conn.output_size() == 5 + 32 + 65536 + 2 + 4 * 4);  // first message's 2-byte header + four 4-byte ones

  // Nine views: the first message (header in the buffer's headroom + 37 bytes), then four times the shared
  // header and 16 KiB that lie one after the other in the same buffer.
  Bytes views[16];
  REQUIRE(conn.output(views) == 9);
  CHECK(views[0].size() == 2 + 37);
  const Bytes shared = WebSocketStream::full_message_header();
  for (std::size_t m = 0; m < 4; ++m) {
    CHECK(views[1 + 2 * m].data() == shared.data());
    CHECK(views[2 + 2 * m].size() == kWsMaxDataMessage);
    const Bytes before = views[2 * m];
    CHECK(views[2 + 2 * m].data() == before.data() + before.size());  // no copy: the next bytes of one buffer
  }

  // Written in odd pieces through few views at a time, the bytes still arrive whole and in order.
  ByteVec wire;
  while (conn.output_size() > 0) {
    Bytes few[3];
    const std::size_t n = conn.output(few);
    REQUIRE(n > 0);
    std::size_t budget = 5001;
    std::size_t took = 0;
    for (std::size_t i = 0; i < n && budget > 0; ++i) {
      const std::size_t k = std::min(budget, few[i].size());
      wire.insert(wire.end(), few[i].begin(), few[i].begin() + static_cast<std::ptrdiff_t>(k));
      budget -= k;
      took += k;
      if (k < few[i].size()) break;
    }
    conn.output_written(took, w.now());
  }
  GoWsReader reader(false);
  ByteVec stream;
  INFO(reader.error());
  REQUIRE(reader.feed(Bytes(wire), &stream));
  CHECK(reader.messages() == 5);
  CHECK(packet_in(stream, derp::frame::FrameType::RecvPacket, down.size()) == down);
  REQUIRE(ws.client->receive(Bytes(wire), w.now()) == DERP_OK);
  REQUIRE(ws.events.packets.size() == 1);
  CHECK(ws.events.packets[0].payload == down);
}
