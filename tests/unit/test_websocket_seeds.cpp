// Writes the fuzz seed corpus tests/fuzz/seeds/websocket/ with the client-role encoder (and the raw frame builder
// for the fragments and pings the encoder never makes). Hidden (tag [.]); run it by hand after changing framing:
//   DERP_WRITE_WEBSOCKET_SEEDS=tests/fuzz/seeds/websocket build/tests/derp_unit_tests "[websocket-seeds]"
// Seeds stay small: libFuzzer sizes its inputs by the largest seed.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "unit/test_websocket_helpers.hpp"

using namespace derp::http;
using namespace derp::http::test;
using derp::Bytes;

namespace {

ByteVector encode_messages(WebSocketStream& client, const std::vector<ByteVector>& messages) {
  ByteVector wire;
  for (const ByteVector& m : messages) REQUIRE(client.append_binary_frame(Bytes(m), &wire) == DERP_OK);
  return wire;
}

ByteVector take_control(WebSocketStream& s) {
  ByteVector out(s.pending_control().begin(), s.pending_control().end());
  s.consume_control(out.size());
  return out;
}

// What a DERP client writes: a ClientInfo-shaped frame, two SendPackets and a NotePreferred, as raw DERP bytes.
ByteVector derp_client_bytes() {
  ByteVector out = {0x02, 0x00, 0x00, 0x00, 0x68};
  const ByteVector body = pattern(0x68, 0x10);
  out.insert(out.end(), body.begin(), body.end());
  for (int i = 0; i < 2; ++i) {
    const ByteVector send = {0x04, 0x00, 0x00, 0x00, 0x40};
    out.insert(out.end(), send.begin(), send.end());
    const ByteVector key_and_packet = pattern(0x40, static_cast<std::uint8_t>(0x80 + i));
    out.insert(out.end(), key_and_packet.begin(), key_and_packet.end());
  }
  const ByteVector preferred = {0x07, 0x00, 0x00, 0x00, 0x01, 0x01};
  out.insert(out.end(), preferred.begin(), preferred.end());
  return out;
}

std::map<std::string, ByteVector> seed_streams() {
  std::map<std::string, ByteVector> seeds;
  const ByteVector derp = derp_client_bytes();
  {
    // One DERP write per message, then a clean close.
    WebSocketStream client(WebSocketRole::client);
    ByteVector wire = encode_messages(client, {derp});
    REQUIRE(client.close(kWsCloseNormal) == DERP_OK);
    const ByteVector close = take_control(client);
    wire.insert(wire.end(), close.begin(), close.end());
    seeds["session_close_1000"] = wire;
  }
  {
    // The same bytes cut across messages at odd places (reference §9.11), with an empty message among them.
    WebSocketStream client(WebSocketRole::client);
    seeds["derp_split_across_messages"] = encode_messages(
        client, {ByteVector(derp.begin(), derp.begin() + 3), ByteVector(derp.begin() + 3, derp.begin() + 120),
                 ByteVector(), ByteVector(derp.begin() + 120, derp.end())});
  }
  {
    // Every length form: 7-bit, 16-bit, and a 64-bit one cut short (a whole one would be 64 KiB).
    WebSocketStream client(WebSocketRole::client);
    ByteVector wire = encode_messages(client, {pattern(0), pattern(125), pattern(126), pattern(300)});
    const ByteVector long_frame = encode_messages(client, {pattern(70000)});
    wire.insert(wire.end(), long_frame.begin(), long_frame.begin() + 600);
    seeds["length_forms"] = wire;
  }
  {
    // How our writers send a DERP frame over 16 KiB (Go reads at most 32 KiB per message): a short first message,
    // then full 16 KiB ones, the frame spanning them. Cut short after the second header, to keep the seed small.
    WebSocketStream client(WebSocketRole::client);
    ByteVector frame = {0x04, 0x00, 0x00, 0x40, 0x30};  // SendPacket: key + 16400 bytes
    const ByteVector body = pattern(32 + 16400, 0x21);
    frame.insert(frame.end(), body.begin(), body.end());
    ByteVector wire;
    REQUIRE(client.append_binary_messages(Bytes(frame), &wire) == DERP_OK);
    wire.resize(600);
    seeds["derp_frame_spanning_16k_messages"] = wire;
  }
  {
    // A ping, answered by the client's encoder with a pong; then the client going away with a reason.
    WebSocketStream client(WebSocketRole::client);
    RawFrame ping;
    ping.opcode = 0x9;
    ping.masked = false;
    std::size_t used = 0;
    REQUIRE(client.feed(Bytes(raw_frame(ping, bytes_of("ping!"))), &used, [](Bytes) { return DERP_OK; }) == 0);
    ByteVector wire = take_control(client);
    const ByteVector message = encode_messages(client, {pattern(40)});
    wire.insert(wire.end(), message.begin(), message.end());
    REQUIRE(client.close(kWsCloseGoingAway, "bye") == DERP_OK);
    const ByteVector close = take_control(client);
    wire.insert(wire.end(), close.begin(), close.end());
    seeds["pong_then_going_away"] = wire;
  }
  {
    // A fragmented message with a ping between its fragments (raw frames: the encoder never fragments).
    RawFrame first;
    first.fin = false;
    RawFrame middle = first;
    middle.opcode = 0x0;
    RawFrame last = middle;
    last.fin = true;
    RawFrame ping;
    ping.opcode = 0x9;
    seeds["fragmented_with_ping"] = concat({raw_frame(first, pattern(10)), raw_frame(ping, bytes_of("p")),
                                            raw_frame(middle, pattern(200)), raw_frame(last, pattern(5))});
  }
  {
    // Failures the server must report: a text message, and a close with a status that may not be sent.
    RawFrame text;
    text.opcode = 0x1;
    seeds["text_message"] = raw_frame(text, bytes_of("{}"));
    RawFrame close;
    close.opcode = 0x8;
    seeds["close_4000_reason"] = raw_frame(close, ByteVector{0x0F, 0xA0, 'g', 'o', 'n', 'e'});
  }
  return seeds;
}

}  // namespace

TEST_CASE("websocket seeds: write the fuzz corpus", "[.][websocket-seeds]") {
  const char* dir = std::getenv("DERP_WRITE_WEBSOCKET_SEEDS");
  if (dir == nullptr) {
    WARN("set DERP_WRITE_WEBSOCKET_SEEDS to the seed folder");
    return;
  }
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : seed_streams()) {
    std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
  }
}

TEST_CASE("websocket seeds: each seed reads on a server as intended", "[websocket]") {
  const std::map<std::string, int> expected = {
      {"session_close_1000", 1},           {"derp_split_across_messages", 0}, {"length_forms", 0},
      {"pong_then_going_away", 1},         {"fragmented_with_ping", 0}, {"derp_frame_spanning_16k_messages", 0},
      {"text_message", DERP_ERR_WS_TEXT_MESSAGE}, {"close_4000_reason", DERP_ERR_WS_CLOSED},
  };
  const auto seeds = seed_streams();
  REQUIRE(seeds.size() == expected.size());
  for (const auto& [name, bytes] : seeds) {
    INFO(name);
    WebSocketStream server(WebSocketRole::server);
    const FeedOutcome out = feed_whole(server, bytes);
    CHECK(out.result == expected.at(name));
    if (name == "session_close_1000" || name == "derp_split_across_messages") CHECK(out.stream == derp_client_bytes());
  }
}
