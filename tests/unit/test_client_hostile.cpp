// The client core against a hostile or broken server: each bad stream ends the connection with a clear error,
// exactly one on_closed, in every split of the bytes, and never a crash or an unbounded buffer.
#include <catch2/catch.hpp>

#include <string>

#include "client/connection.hpp"
#include "crypto/box.hpp"
#include "crypto/sealed_info.hpp"
#include "http/websocket_handshake.hpp"
#include "http/websocket_stream.hpp"
#include "support/client_harness.hpp"

using derp::Bytes;
using derp::kSecond;
using derp::client::ClientConnection;
using derp::client::ClientOptions;
using derp::client::ClientPhase;
using derp::frame::FrameType;
using namespace derp::test;

namespace {

struct Outcome {
  int rc = DERP_OK;
  int close_error = 1;
  int closed = 0;
  std::string detail;
  ClientPhase phase = ClientPhase::Upgrade;
  bool connected = false;
};

// Feeds a server stream to a fresh client in pieces of `piece` bytes (0 = whole), then EOF if asked.
Outcome run(const ByteVec& server_bytes, std::size_t piece, bool eof = false,
            ClientOptions options = client_options(test_client_private(1))) {
  RecordingEvents ev;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(options, &ev, 0, &c) == DERP_OK);
  Outcome o;
  o.rc = feed(*c, server_bytes, 1, piece);
  if (eof) c->receive_eof(2);
  o.close_error = ev.close_error;
  o.closed = ev.closed;
  o.detail = ev.close_detail;
  o.phase = c->phase();
  o.connected = ev.connected == 1;
  if (ev.closed > 0) {
    CHECK(ev.log.back() == "closed");
    CHECK(o.detail == c->close_detail());
    CHECK(ev.close_error == c->close_error());
  }
  return o;
}

// The same stream must give the same verdict whatever the split.
void expect_failure(const ByteVec& bytes, int error, const std::string& detail_part, bool eof = false,
                    ClientOptions options = client_options(test_client_private(1))) {
  for (std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{64}}) {
    INFO("piece " << piece);
    const Outcome o = run(bytes, piece, eof, options);
    CHECK(o.closed == 1);
    CHECK(o.close_error == error);
    CHECK(o.phase == ClientPhase::Closed);
    CHECK(o.detail.find(detail_part) != std::string::npos);
    if (!eof) CHECK(o.rc == error);
  }
}

const derp::crypto::NodePublic& server_pub() {
  static const auto pub = public_of(test_server_private());
  return pub;
}

ByteVec good_greeting() { return concat({bytes_of_text(kHttp101), server_key_frame(server_pub())}); }

}  // namespace

TEST_CASE("client hostile: a good stream in every split connects", "[client][hostile]") {
  const auto client_pub = public_of(test_client_private(1));
  derp::crypto::ServerInfo info;
  info.version = 2;
  const ByteVec stream = concat({good_greeting(), server_info_frame(test_server_private(), client_pub, info),
                                 recv_packet_frame(server_pub(), {1, 2, 3})});
  for (std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{100}}) {
    const Outcome o = run(stream, piece);
    CHECK(o.connected);
    CHECK(o.phase == ClientPhase::Running);
    CHECK(o.closed == 0);
  }
}

TEST_CASE("client hostile: refused or broken upgrades", "[client][hostile]") {
  expect_failure(bytes_of_text("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), DERP_ERR_UPGRADE_REFUSED,
                 "\"HTTP/1.1 404 Not Found\"");
  expect_failure(bytes_of_text("HTTP/1.1 426 Upgrade Required\r\n\r\nDERP requires connection upgrade"),
                 DERP_ERR_UPGRADE_REFUSED, "426");
  // A status line with control bytes is cleaned before it reaches the log sentence.
  const Outcome o = run(bytes_of_text("HTTP/1.1 500 \x1b[31mred\r\n\r\n"), 0);
  CHECK(o.close_error == DERP_ERR_UPGRADE_REFUSED);
  CHECK(o.detail.find('\x1b') == std::string::npos);
  // Not HTTP at all.
  expect_failure(bytes_of_text("\x16\x03\x01 this is TLS or junk\r\n\r\n"), DERP_ERR_HTTP_MALFORMED, "malformed");
  ByteVec garbage(300);
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<std::uint8_t>(i * 97 + 5);
  garbage.push_back('\n');
  garbage.push_back('\n');
  const Outcome g = run(garbage, 0);
  CHECK(g.closed == 1);
  CHECK(g.close_error == DERP_ERR_HTTP_MALFORMED);
}

TEST_CASE("client hostile: an endless HTTP head stops at 8 KiB", "[client][hostile]") {
  ByteVec endless = bytes_of_text("HTTP/1.1 101 Switching Protocols\r\n");
  while (endless.size() < 20000) {
    const ByteVec line = bytes_of_text("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    endless.insert(endless.end(), line.begin(), line.end());
  }
  expect_failure(endless, DERP_ERR_HTTP_HEAD_TOO_LARGE, "8192");
}

TEST_CASE("client hostile: bad greetings", "[client][hostile]") {
  // Wrong magic.
  ByteVec bad_magic = server_key_frame(server_pub());
  bad_magic[5] ^= 0xff;
  expect_failure(concat({bytes_of_text(kHttp101), bad_magic}), DERP_ERR_FRAME_BAD_MAGIC, "magic");
  // Too short for magic + key.
  expect_failure(concat({bytes_of_text(kHttp101), frame_bytes(FrameType::ServerKey, ByteVec(39, 0x44))}),
                 DERP_ERR_FRAME_SIZE, "ServerKey");
  // Not a ServerKey frame first: judged from the type byte, before any payload is buffered.
  expect_failure(concat({bytes_of_text(kHttp101), frame_bytes(FrameType::KeepAlive, {})}), DERP_ERR_PROTOCOL,
                 "KeepAlive");
  expect_failure(concat({bytes_of_text(kHttp101), ByteVec{0x05, 0x00, 0x0f, 0xff, 0xff}}), DERP_ERR_PROTOCOL,
                 "RecvPacket");
  // A ServerKey header announcing more than 1 KiB fails from the header.
  expect_failure(concat({bytes_of_text(kHttp101), ByteVec{0x01, 0x00, 0x00, 0x04, 0x01}}), DERP_ERR_FRAME_TOO_LARGE,
                 "1024");
  // Not the key we expected.
  auto o = client_options(test_client_private(1));
  o.expected_server_key = public_of(test_client_private(9));
  expect_failure(good_greeting(), DERP_ERR_SERVER_KEY_MISMATCH, "expected", false, o);
  o.expected_server_key = server_pub();
  CHECK(run(good_greeting(), 1, false, o).connected);
}

TEST_CASE("client hostile: fast start accepts a frame first or a 101 anyway", "[client][hostile]") {
  auto o = client_options(test_client_private(1));
  o.fast_start = true;
  CHECK(run(server_key_frame(server_pub()), 1, false, o).connected);
  CHECK(run(good_greeting(), 1, false, o).connected);
  // Anything else first is neither: refused at the first byte.
  expect_failure(frame_bytes(FrameType::ServerInfo, ByteVec(60, 1)), DERP_ERR_PROTOCOL, "first byte", false, o);
}

TEST_CASE("client hostile: a ServerInfo that does not open closes with the box or JSON error", "[client][hostile]") {
  const auto client_pub = public_of(test_client_private(1));
  derp::crypto::ServerInfo info;
  info.version = 2;
  // Sealed by another key.
  expect_failure(concat({good_greeting(), server_info_frame(test_client_private(7), client_pub, info)}),
                 DERP_ERR_BOX_OPEN, "ServerInfo");
  // Corrupted in transit.
  ByteVec corrupt = server_info_frame(test_server_private(), client_pub, info);
  corrupt.back() ^= 1;
  expect_failure(concat({good_greeting(), corrupt}), DERP_ERR_BOX_OPEN, "ServerInfo");
  // Opens, but is not JSON.
  ByteVec sealed;
  const std::string text = "{\"version\":";
  REQUIRE(derp::crypto::seal(test_server_private(), client_pub,
                             Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                             &sealed) == DERP_OK);
  expect_failure(concat({good_greeting(), frame_bytes(FrameType::ServerInfo, sealed)}), DERP_ERR_BAD_JSON,
                 "ServerInfo");
  // Shorter than nonce + tag.
  expect_failure(concat({good_greeting(), frame_bytes(FrameType::ServerInfo, ByteVec(20, 0))}), DERP_ERR_MALFORMED,
                 "ServerInfo");
}

TEST_CASE("client hostile: huge frame headers fail from the header alone", "[client][hostile]") {
  // 0x7fffffff bytes announced: the verdict comes with the 5th header byte, nothing of the payload is awaited.
  for (std::uint8_t type : {std::uint8_t{0x05}, std::uint8_t{0x03}, std::uint8_t{0x14}, std::uint8_t{0x42}}) {
    INFO("type " << int(type));
    const ByteVec header = {type, 0x7f, 0xff, 0xff, 0xff};
    expect_failure(concat({good_greeting(), header}), DERP_ERR_FRAME_TOO_LARGE, "2147483647");
  }
  // A RecvPacket just over the protocol limit (32 + 65536) likewise.
  expect_failure(concat({good_greeting(), ByteVec{0x05, 0x00, 0x01, 0x00, 0x21}}), DERP_ERR_FRAME_TOO_LARGE,
                 "65568");
}

TEST_CASE("client hostile: malformed frames after the handshake", "[client][hostile]") {
  expect_failure(concat({good_greeting(), frame_bytes(FrameType::RecvPacket, ByteVec(31, 1))}), DERP_ERR_FRAME_SIZE,
                 "RecvPacket");
  expect_failure(concat({good_greeting(), frame_bytes(FrameType::Ping, ByteVec(3, 1))}), DERP_ERR_FRAME_SIZE, "Ping");
  expect_failure(concat({good_greeting(), frame_bytes(FrameType::Pong, ByteVec(7, 1))}), DERP_ERR_FRAME_SIZE, "Pong");
  expect_failure(concat({good_greeting(), frame_bytes(FrameType::PeerGone, ByteVec(5, 1))}), DERP_ERR_FRAME_SIZE,
                 "PeerGone");
  expect_failure(concat({good_greeting(), frame_bytes(FrameType::PeerPresent, ByteVec(31, 1))}), DERP_ERR_FRAME_SIZE,
                 "PeerPresent");
  expect_failure(concat({good_greeting(), frame_bytes(FrameType::Restarting, ByteVec(4, 1))}), DERP_ERR_FRAME_SIZE,
                 "Restarting");
  expect_failure(concat({good_greeting(), frame_bytes(FrameType::KeepAlive, ByteVec(1, 0))}),
                 DERP_ERR_FRAME_TOO_LARGE, "KeepAlive");
}

TEST_CASE("client hostile: every PeerGone and PeerPresent form is read", "[client][hostile]") {
  RecordingEvents ev;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(client_options(test_client_private(1)), &ev, 0, &c) == DERP_OK);
  REQUIRE(feed(*c, good_greeting(), 0) == DERP_OK);
  const auto peer = public_of(test_client_private(5));
  ByteVec key(peer.bytes().begin(), peer.bytes().end());
  auto with = [&](std::initializer_list<std::uint8_t> tail) {
    ByteVec p = key;
    p.insert(p.end(), tail);
    return p;
  };
  REQUIRE(feed(*c, frame_bytes(FrameType::PeerGone, key), 0) == DERP_OK);             // old 32-byte form
  REQUIRE(feed(*c, frame_bytes(FrameType::PeerGone, with({0x01})), 0) == DERP_OK);   // NotHere
  REQUIRE(feed(*c, frame_bytes(FrameType::PeerGone, with({0x00, 0x77})), 0) == DERP_OK);  // future bytes
  REQUIRE(ev.gone.size() == 3);
  CHECK(ev.gone[0] == std::make_pair(peer, std::uint8_t{DERP_PEER_GONE_DISCONNECTED}));
  CHECK(ev.gone[1] == std::make_pair(peer, std::uint8_t{DERP_PEER_GONE_NOT_HERE}));
  CHECK(ev.gone[2].second == DERP_PEER_GONE_DISCONNECTED);

  const ByteVec endpoint = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1, 0xa2, 0xa9};
  ByteVec p50 = key;
  p50.insert(p50.end(), endpoint.begin(), endpoint.end());
  ByteVec p51 = p50;
  p51.push_back(DERP_PEER_PRESENT_NOT_IDEAL);
  ByteVec p40 = with({1, 2, 3, 4, 5, 6, 7, 8});  // an incomplete endpoint: ignored
  for (const ByteVec& p : {key, p40, p50, p51}) REQUIRE(feed(*c, frame_bytes(FrameType::PeerPresent, p), 0) == DERP_OK);
  REQUIRE(ev.present.size() == 4);
  CHECK(ev.present[0].peer == peer);
  CHECK(ev.present[0].endpoint.family == DERP_AF_NONE);
  CHECK(ev.present[0].flags == 0);
  CHECK(ev.present[1].endpoint.family == DERP_AF_NONE);
  CHECK(ev.present[2].endpoint.family == DERP_AF_INET);
  CHECK(ev.present[2].endpoint.ip[0] == 192);
  CHECK(ev.present[2].endpoint.ip[3] == 1);
  CHECK(ev.present[2].endpoint.port == 41641);
  CHECK(ev.present[2].flags == 0);
  CHECK(ev.present[3].flags == DERP_PEER_PRESENT_NOT_IDEAL);
  CHECK(c->phase() == ClientPhase::Running);
}

TEST_CASE("client hostile: a stalled server — handshake and idle timeouts", "[client][hostile]") {
  RecordingEvents ev;
  auto o = client_options(test_client_private(1));
  o.handshake_timeout = 10 * kSecond;
  o.idle_timeout = 120 * kSecond;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, 100, &c) == DERP_OK);
  CHECK(c->deadline() == 100 + 10 * kSecond);
  c->tick(100 + 10 * kSecond - 1);
  CHECK(ev.closed == 0);
  c->tick(100 + 10 * kSecond);
  CHECK(ev.closed == 1);
  CHECK(ev.close_error == DERP_ERR_TIMEOUT);
  CHECK(ev.close_detail.find("upgrade") != std::string::npos);

  // The 101 arrived, the ServerKey frame never does (the deadline does not move with the bytes).
  RecordingEvents ev2;
  REQUIRE(ClientConnection::create(o, &ev2, 0, &c) == DERP_OK);
  REQUIRE(feed(*c, bytes_of_text(kHttp101), 5 * kSecond) == DERP_OK);
  REQUIRE(feed(*c, ByteVec{0x01, 0x00}, 9 * kSecond) == DERP_OK);
  c->tick(10 * kSecond);
  CHECK(ev2.close_error == DERP_ERR_TIMEOUT);
  CHECK(ev2.close_detail.find("ServerKey") != std::string::npos);

  // Connected, then silence: every byte moves the idle deadline, 120 s of nothing ends it.
  RecordingEvents ev3;
  REQUIRE(ClientConnection::create(o, &ev3, 0, &c) == DERP_OK);
  REQUIRE(feed(*c, good_greeting(), 1 * kSecond) == DERP_OK);
  CHECK(c->deadline() == 121 * kSecond);
  REQUIRE(feed(*c, frame_bytes(FrameType::KeepAlive, {}), 100 * kSecond) == DERP_OK);
  CHECK(c->deadline() == 220 * kSecond);
  c->tick(219 * kSecond);
  CHECK(ev3.closed == 0);
  c->tick(220 * kSecond);
  CHECK(ev3.close_error == DERP_ERR_TIMEOUT);
  CHECK(c->deadline() == derp::kNever);
}

TEST_CASE("client hostile: truncated streams then EOF", "[client][hostile]") {
  expect_failure(bytes_of_text("HTTP/1.1 101 Switching"), DERP_ERR_PEER_CLOSED, "HTTP answer", true);
  expect_failure({}, DERP_ERR_PEER_CLOSED, "before answering", true);
  const ByteVec greeting = good_greeting();
  expect_failure(ByteVec(greeting.begin(), greeting.end() - 10), DERP_ERR_PEER_CLOSED, "ServerKey", true);
  const ByteVec packet = recv_packet_frame(server_pub(), ByteVec(1000, 3));
  expect_failure(concat({greeting, ByteVec(packet.begin(), packet.begin() + 500)}), DERP_ERR_PEER_CLOSED,
                 "incomplete frame", true);
  expect_failure(greeting, DERP_ERR_PEER_CLOSED, "closed", true);
}

TEST_CASE("client hostile: WebSocket upgrades and streams gone wrong", "[client][hostile]") {
  auto o = client_options(test_client_private(1));
  o.websocket = true;
  // A 101 whose accept value is not derived from our key.
  expect_failure(bytes_of_text(derp::http::websocket_upgrade_response("dGhlIHNhbXBsZSBub25jZQ==")),
                 DERP_ERR_WS_HANDSHAKE, "Sec-WebSocket-Accept", false, o);
  // A plain DERP 101 to a WebSocket request.
  expect_failure(bytes_of_text(kHttp101), DERP_ERR_WS_HANDSHAKE, "WebSocket", false, o);

  // With a correct handshake (the key is read from the client's request): a text message is refused.
  RecordingEvents ev;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, 0, &c) == DERP_OK);
  const ByteVec request = take_output(*c, 0);
  const std::string text(request.begin(), request.end());
  const std::size_t at = text.find("Sec-WebSocket-Key: ");
  REQUIRE(at != std::string::npos);
  const std::string key = text.substr(at + 19, derp::http::kWebSocketKeyTextLen);
  derp::http::WebSocketStream server_ws(derp::http::WebSocketRole::server);
  ByteVec stream = bytes_of_text(derp::http::websocket_upgrade_response(key));
  REQUIRE(server_ws.append_binary_frame(Bytes(server_key_frame(server_pub())), &stream) == DERP_OK);
  REQUIRE(feed(*c, stream, 0, 3) == DERP_OK);
  REQUIRE(c->connected());
  CHECK(take_output(*c, 0).size() > 100);  // the ClientInfo frame, in a masked binary message
  const ByteVec text_message = {0x81, 0x02, 'h', 'i'};
  CHECK(c->receive(Bytes(text_message), 0) == DERP_ERR_WS_TEXT_MESSAGE);
  CHECK(ev.close_error == DERP_ERR_WS_TEXT_MESSAGE);
  // The WebSocket's own close frame (1003) is queued for the host to write: masked, status 0x03eb.
  const ByteVec tail = take_output(*c, 0);
  REQUIRE(tail.size() >= 8);
  CHECK(tail[0] == 0x88);
  CHECK((tail[1] & 0x80) != 0);
  CHECK((tail[6] ^ tail[2]) == 0x03);
  CHECK((tail[7] ^ tail[3]) == 0xeb);
}

TEST_CASE("client hostile: a WebSocket server closing cleanly is PEER_CLOSED", "[client][hostile]") {
  auto o = client_options(test_client_private(1));
  o.websocket = true;
  RecordingEvents ev;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, 0, &c) == DERP_OK);
  const std::string text = [&] {
    const ByteVec r = take_output(*c, 0);
    return std::string(r.begin(), r.end());
  }();
  const std::string key = text.substr(text.find("Sec-WebSocket-Key: ") + 19, derp::http::kWebSocketKeyTextLen);
  derp::http::WebSocketStream server_ws(derp::http::WebSocketRole::server);
  ByteVec stream = bytes_of_text(derp::http::websocket_upgrade_response(key));
  // Frames split across messages, as derper's 2 KiB writer does (§9.11).
  const ByteVec frames = concat({server_key_frame(server_pub()), recv_packet_frame(server_pub(), ByteVec(100, 4))});
  for (std::size_t at = 0; at < frames.size(); at += 17) {
    const std::size_t n = std::min<std::size_t>(17, frames.size() - at);
    REQUIRE(server_ws.append_binary_frame(Bytes(frames.data() + at, n), &stream) == DERP_OK);
  }
  REQUIRE(server_ws.close(derp::http::kWsCloseGoingAway) == DERP_OK);
  const Bytes close_frame = server_ws.pending_control();
  stream.insert(stream.end(), close_frame.begin(), close_frame.end());
  CHECK(feed(*c, stream, 0, 5) == DERP_ERR_PEER_CLOSED);
  REQUIRE(ev.packets.size() == 1);
  CHECK(ev.packets[0].payload == ByteVec(100, 4));
  CHECK(ev.close_error == DERP_ERR_PEER_CLOSED);
  CHECK(ev.close_detail.find("1001") != std::string::npos);
  CHECK(ev.closed == 1);
}

TEST_CASE("client hostile: a ping flood cannot grow the output without bound", "[client][hostile]") {
  RecordingEvents ev;
  auto o = client_options(test_client_private(1));
  o.max_pending_output = 4096;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, 0, &c) == DERP_OK);
  REQUIRE(feed(*c, good_greeting(), 0) == DERP_OK);
  const ByteVec ping = frame_bytes(FrameType::Ping, {1, 2, 3, 4, 5, 6, 7, 8});
  ByteVec flood;
  for (int i = 0; i < 20000; ++i) flood.insert(flood.end(), ping.begin(), ping.end());
  REQUIRE(feed(*c, flood, 0) == DERP_OK);  // the host never writes
  CHECK(c->pending_output().size() <= o.max_pending_output + 16 * 1024 + 1024);
  CHECK(c->counters().server_pings_answered < 20000);
  CHECK(c->connected());
}

TEST_CASE("client hostile: the ClientInfo we send opens with the server's key", "[client][hostile]") {
  RecordingEvents ev;
  auto o = client_options(test_client_private(1));
  o.info.app_name = "libderp-test";
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, 0, &c) == DERP_OK);
  CHECK(!take_output(*c, 0).empty());  // the upgrade request
  REQUIRE(feed(*c, good_greeting(), 0) == DERP_OK);
  const ByteVec out = take_output(*c, 0);
  REQUIRE(out.size() > 5);
  CHECK(out[0] == DERP_FRAME_CLIENT_INFO);
  CHECK(derp::load_be32(out.data() + 1) == out.size() - 5);  // exactly one frame
  derp::crypto::NodePublic client;
  derp::crypto::ClientInfo info;
  REQUIRE(derp::crypto::open_client_info(test_server_private(), Bytes(out.data() + 5, out.size() - 5), &client,
                                         &info) == DERP_OK);
  CHECK(client == public_of(test_client_private(1)));
  CHECK(info.version == 2);
  CHECK(info.can_ack_pings);
  CHECK(!info.mesh_key.has_value());
  CHECK(info.app_name == "libderp-test");
}

TEST_CASE("client hostile: a jammed output never asks for a timer in the past", "[client][hostile]") {
  RecordingEvents ev;
  auto o = client_options(test_client_private(1));
  o.max_pending_output = 0;
  o.keepalive_ping_after = 10 * kSecond;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &ev, 0, &c) == DERP_OK);
  REQUIRE(feed(*c, good_greeting(), 0) == DERP_OK);
  // Fill the control reserve: the host never writes.
  int notes = 0;
  while (c->note_preferred(true) == DERP_OK) ++notes;
  CHECK(notes > 100);
  CHECK(c->deadline() == 10 * kSecond);
  c->tick(10 * kSecond);  // the keep-alive ping cannot be queued
  CHECK(c->counters().pings_sent == 0);
  CHECK(c->deadline() > 10 * kSecond);
  CHECK(c->deadline() <= 11 * kSecond);
  // Writing the output lets the next attempt through.
  take_output(*c, 10 * kSecond);
  c->tick(c->deadline());
  CHECK(c->counters().pings_sent == 1);
  CHECK(c->connected());
}

TEST_CASE("client hostile: a ServerKey frame with an unusable key closes cleanly", "[client][hostile]") {
  const ByteVec zero_key = server_key_frame(derp::crypto::NodePublic());
  const Outcome o = run(concat({bytes_of_text(kHttp101), zero_key}), 0);
  CHECK(o.closed == 1);
  CHECK(o.close_error != DERP_OK);
  CHECK(o.detail.find("sealing ClientInfo") != std::string::npos);
}
