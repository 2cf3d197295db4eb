// DERP over WebSocket against the sans-IO server core: the upgrade, the handshake and packets inside binary
// messages, split across messages, and the close handshake.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "crypto/sealed_info.hpp"
#include "frame/header.hpp"
#include "http/head.hpp"
#include "http/websocket_handshake.hpp"
#include "http/websocket_stream.hpp"
#include "support/server_harness.hpp"
#include "test_websocket_helpers.hpp"

using derp::Bytes;
using derp::frame::FrameType;
using derp::http::WebSocketRole;
using derp::http::WebSocketStream;

namespace {

// One WebSocket DERP client driving a server Connection by hand.
struct WsClient {
  derp::server::Server& server;
  derp::server::Connection* conn;
  WebSocketStream ws{WebSocketRole::client};
  std::string key;
  std::string head;     // the server's HTTP answer
  std::vector<std::uint8_t> raw;  // server bytes not yet parsed
  derp::frame::FrameReader reader;
  std::vector<derp::test::ReceivedFrame> frames;
  int ws_result = 0;
  derp::server::Nanos now = 1'000'000'000'000;

  explicit WsClient(derp::server::Server& s) : server(s) {
    derp_addr a{};
    derp::parse_addr("127.0.0.1:4000", &a);
    conn = server.accept(a, now);
    derp::http::new_websocket_key(&key);
  }

  void send_raw(const std::string& bytes) {
    conn->receive(Bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), now);
    pump();
  }
  // Sends bytes as one masked binary message.
  void send_message(const std::vector<std::uint8_t>& bytes) {
    std::vector<std::uint8_t> out;
    REQUIRE(ws.append_binary_frame(Bytes(bytes), &out) == DERP_OK);
    conn->receive(Bytes(out), now);
    pump();
  }
  void pump() {
    derp::Bytes views[16];
    while (conn->output_size() > 0) {
      const std::size_t n = conn->output(views);
      std::size_t total = 0;
      for (std::size_t i = 0; i < n; ++i) {
        raw.insert(raw.end(), views[i].begin(), views[i].end());
        total += views[i].size();
      }
      conn->output_written(total, now);
    }
    server.drain_ready([](derp::server::Connection&) {});
    if (head.empty()) {
      const std::string text(raw.begin(), raw.end());
      const auto end = text.find("\r\n\r\n");
      if (end == std::string::npos) return;
      head = text.substr(0, end + 4);
      raw.erase(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(end + 4));
    }
    std::size_t used = 0;
    std::vector<std::uint8_t> stream;
    ws_result = ws.feed(Bytes(raw), &used, [&](Bytes piece) {
      stream.insert(stream.end(), piece.begin(), piece.end());
      return DERP_OK;
    });
    raw.erase(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(used));
    Bytes in(stream);
    while (!in.empty()) {
      std::size_t took = 0;
      derp::frame::Frame f;
      const int r = reader.next(in, &took, &f);
      in = in.subspan(took);
      REQUIRE(r >= 0);
      if (r == 0) break;
      frames.push_back({f.type, std::vector<std::uint8_t>(f.payload.begin(), f.payload.end())});
    }
  }
};

std::vector<std::uint8_t> client_info_frame(const derp::crypto::NodePrivate& priv, const derp::crypto::NodePublic& server) {
  derp::crypto::ClientInfo info;
  info.version = 2;
  std::vector<std::uint8_t> payload;
  REQUIRE(derp::crypto::seal_client_info(priv, server, info, &payload) == DERP_OK);
  std::vector<std::uint8_t> frame(5);
  derp::frame::write_header(frame.data(), 0x02, static_cast<std::uint32_t>(payload.size()));
  frame.insert(frame.end(), payload.begin(), payload.end());
  return frame;
}

}  // namespace

TEST_CASE("server core: DERP over WebSocket relays to a raw client and back", "[server][websocket]") {
  derp::test::ServerHarness h;
  derp::test::Peer& raw_peer = h.connect();
  WsClient ws(h.server());
  std::string request;
  REQUIRE(derp::http::websocket_upgrade_request("derp.test", "/derp", ws.key, &request) == DERP_OK);
  ws.send_raw(request);
  REQUIRE(ws.head.rfind("HTTP/1.1 101", 0) == 0);
  derp::http::ResponseHead resp;
  REQUIRE(derp::http::parse_response_head(ws.head, &resp) == DERP_OK);
  REQUIRE(derp::http::check_websocket_response(resp, ws.key).ok());
  REQUIRE(ws.frames.size() == 1);
  CHECK(ws.frames[0].type == DERP_FRAME_SERVER_KEY);

  derp::crypto::NodePrivate priv;
  derp::crypto::generate_private(&priv);
  derp::crypto::NodePublic pub;
  derp::crypto::public_of(priv, &pub);
  // The ClientInfo frame split across two messages: boundaries carry no meaning (reference §9.11).
  const auto hello = client_info_frame(priv, h.server().public_key());
  ws.send_message(std::vector<std::uint8_t>(hello.begin(), hello.begin() + 20));
  ws.send_message(std::vector<std::uint8_t>(hello.begin() + 20, hello.end()));
  REQUIRE(ws.frames.size() == 2);
  CHECK(ws.frames[1].type == DERP_FRAME_SERVER_INFO);
  CHECK(h.server().counters().websocket_accepts == 1);

  // Two SendPacket frames in one message, to the raw client.
  std::vector<std::uint8_t> two;
  for (const char* text : {"over websocket 1", "over websocket 2"}) {
    std::vector<std::uint8_t> f(5 + 32 + std::string(text).size());
    derp::frame::write_header(f.data(), 0x04, static_cast<std::uint32_t>(f.size() - 5));
    std::memcpy(f.data() + 5, raw_peer.key().data(), 32);
    std::memcpy(f.data() + 37, text, std::string(text).size());
    two.insert(two.end(), f.begin(), f.end());
  }
  ws.send_message(two);
  h.pump();
  const auto got = raw_peer.of_type(FrameType::RecvPacket);
  REQUIRE(got.size() == 2);
  CHECK(std::equal(pub.bytes().begin(), pub.bytes().end(), got[0].payload.begin()));

  // And back: the raw client's packet reaches the WebSocket client inside a binary message.
  h.send_packet(raw_peer, pub.bytes(), derp::test::bytes_of("back to ws"));
  ws.pump();
  REQUIRE(ws.frames.size() == 3);
  CHECK(ws.frames[2].type == DERP_FRAME_RECV_PACKET);
  CHECK(std::string(ws.frames[2].payload.begin() + 32, ws.frames[2].payload.end()) == "back to ws");

  // The client closes cleanly: the server answers with its close frame and ends the connection.
  REQUIRE(ws.ws.close(derp::http::kWsCloseNormal) == DERP_OK);
  const Bytes control = ws.ws.pending_control();
  ws.conn->receive(control, ws.now);
  ws.ws.consume_control(control.size());
  ws.pump();
  CHECK(ws.ws_result == 1);
  CHECK(ws.conn->phase() == derp::server::Phase::Closed);
  h.server().remove(ws.conn, ws.now);
}

TEST_CASE("server core: WebSocket protocol errors close that connection only", "[server][websocket][badinput]") {
  derp::test::ServerHarness h;
  derp::test::Peer& ok = h.connect();
  SECTION("an unmasked frame from a client") {
    WsClient ws(h.server());
    std::string request;
    derp::http::websocket_upgrade_request("derp.test", "/derp", ws.key, &request);
    ws.send_raw(request);
    ws.send_raw(std::string("\x82\x03" "abc", 5));  // binary, unmasked
    CHECK(ws.conn->phase() == derp::server::Phase::Closed);
    CHECK(ws.conn->close_reason() == derp::server::CloseReason::protocol_error);
    h.server().remove(ws.conn, ws.now);
  }
  SECTION("an upgrade without a key") {
    const std::string r = h.http_get(
        "GET /derp HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: derp\r\n\r\n");
    CHECK(r.rfind("HTTP/1.1 400", 0) == 0);
  }
  h.send_packet(ok, ok.key(), derp::test::bytes_of("still fine"));
  CHECK(ok.of_type(FrameType::RecvPacket).size() == 1);
}

TEST_CASE("server core: a WebSocket ping flood to a peer that does not read keeps one pong queued, the newest",
          "[server][websocket][badinput]") {
  derp::test::ServerHarness h;
  WsClient ws(h.server());
  std::string request;
  REQUIRE(derp::http::websocket_upgrade_request("derp.test", "/derp", ws.key, &request) == DERP_OK);
  ws.send_raw(request);
  derp::crypto::NodePrivate priv;
  derp::crypto::generate_private(&priv);
  ws.send_message(client_info_frame(priv, h.server().public_key()));
  REQUIRE(ws.frames.size() == 2);  // ServerKey, ServerInfo: registered
  REQUIRE(ws.conn->output_size() == 0);

  // 1,000 pings, each read on its own, while the client reads nothing back.
  std::vector<std::uint8_t> last_payload;
  for (int i = 0; i < 1000; ++i) {
    const std::string text = "ping " + std::to_string(i) + std::string(100, 'x');
    last_payload.assign(text.begin(), text.end());
    derp::http::test::RawFrame f;
    f.opcode = 0x9;
    const auto frame = derp::http::test::raw_frame(f, last_payload);
    ws.conn->receive(Bytes(frame), ws.now);
    // Without the bound this grew by one ~110-byte pong per read (110 KB here; megabytes per second of reads).
    REQUIRE(ws.conn->output_size() <= 2 * (2 + 125));
  }
  CHECK(ws.conn->phase() == derp::server::Phase::Running);

  // The client reads: the pong that waited, then the one to the newest ping; no other.
  std::vector<std::vector<std::uint8_t>> pongs;
  for (int round = 0; round < 4 && ws.conn->output_size() > 0; ++round) {
    derp::Bytes views[16];
    const std::size_t n = ws.conn->output(views);
    std::vector<std::uint8_t> wire;
    for (std::size_t i = 0; i < n; ++i) wire.insert(wire.end(), views[i].begin(), views[i].end());
    ws.conn->output_written(wire.size(), ws.now);
    for (std::size_t at = 0; at + 2 <= wire.size();) {  // server frames: unmasked, pongs ≤ 125 bytes
      const std::uint8_t opcode = wire[at] & 0x0F;
      const std::size_t len = wire[at + 1] & 0x7F;
      REQUIRE(len <= 125);
      REQUIRE(at + 2 + len <= wire.size());
      if (opcode == 0xA) pongs.emplace_back(wire.begin() + static_cast<std::ptrdiff_t>(at + 2),
                                            wire.begin() + static_cast<std::ptrdiff_t>(at + 2 + len));
      at += 2 + len;
    }
  }
  REQUIRE(pongs.size() == 2);
  CHECK(std::string(pongs[0].begin(), pongs[0].begin() + 7) == "ping 0x");
  CHECK(pongs[1] == last_payload);
  h.server().remove(ws.conn, ws.now);
}
