// Fuzz target: everything a server can send to the sans-IO client core — the HTTP answer, the WebSocket stream,
// the greeting and every frame — with event handlers that act back on the connection (reply, ping, close).
//
// Input layout: byte 0 picks the mode; the rest are the server's bytes.
//   bits 0-1: 0 plain upgrade, fuzzed from the first byte of the answer
//             1 fast start, fuzzed from the first byte
//             2 WebSocket: a correct 101 for the client's key is fed first, the input is the WebSocket stream
//             3 plain, with a valid 101 + ServerKey fed first, so the input explores frames (and ServerInfo boxes
//               the seeds sealed with the fixed keys below)
//   bits 2-4: split size for feeding
//   bit 5:    the host writes the output after every piece (otherwise never, so the output caps are exercised)
//   bit 6:    a handler closes the connection from inside the third event
//   bit 7:    EOF after the input
// Invariants checked: on_closed exactly once and last, no event after it, the output stays bounded.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client/connection.hpp"
#include "frame/header.hpp"
#include "http/websocket_handshake.hpp"

namespace {

using derp::Bytes;
using derp::Nanos;
using derp::client::ClientConnection;
using derp::client::ClientPhase;

// The keys the seeds were made with (tests/fuzz/seeds/client_connection): changing them invalidates the boxes.
derp::crypto::NodePrivate fixed_key(std::uint8_t seed) {
  derp::crypto::KeyBytes raw{};
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(seed + i);
  derp::crypto::clamp(raw);
  return derp::crypto::NodePrivate(raw);
}

constexpr std::size_t kMaxPending = 64 * 1024;

struct Events : derp::client::ClientEvents {
  ClientConnection* conn = nullptr;
  Nanos now = 0;
  int events = 0;
  int closed = 0;
  bool close_on_third = false;

  void touch() {
    if (closed != 0) std::abort();  // nothing may follow on_closed
    ++events;
    if (close_on_third && events == 3) conn->close(now);
  }
  void on_connected(const derp::crypto::NodePublic&) override {
    std::uint64_t id = 0;
    (void)conn->ping(now, &id);
    (void)conn->note_preferred(true);
    touch();
  }
  void on_server_info(const derp::crypto::ServerInfo&) override { touch(); }
  void on_packet(const derp::crypto::NodePublic& source, Bytes payload) override {
    (void)conn->send_packet(source, payload, now);  // echo, from inside the handler
    touch();
  }
  void on_peer_gone(const derp::crypto::NodePublic&, std::uint8_t) override { touch(); }
  void on_peer_present(const derp::crypto::NodePublic&, const derp_addr&, std::uint8_t) override { touch(); }
  void on_health(std::string_view) override { touch(); }
  void on_restarting(Nanos, Nanos) override { touch(); }
  void on_ping_result(std::uint64_t, int, Nanos) override {
    std::uint64_t id = 0;
    (void)conn->ping(now, &id);
    touch();
  }
  void on_closed(int, std::string_view) override {
    if (closed != 0) std::abort();
    ++closed;
  }
};

void write_all(ClientConnection& c, Nanos now) {
  for (Bytes b = c.pending_output(); !b.empty(); b = c.pending_output()) c.output_written(b.size(), now);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const derp::crypto::NodePrivate client_key = fixed_key(0x21);
  static const derp::crypto::NodePrivate server_key = fixed_key(0x01);
  const std::uint8_t mode = data[0];
  const int transport = mode & 3;

  derp::client::ClientOptions o;
  o.private_key = client_key;
  o.host = "derp.fuzz";
  o.fast_start = transport == 1;
  o.websocket = transport == 2;
  o.max_pending_output = kMaxPending;
  o.keepalive_ping_after = 20 * derp::kSecond;
  Events ev;
  ev.close_on_third = (mode & 0x40) != 0;
  std::unique_ptr<ClientConnection> c;
  Nanos now = 1'000'000'000;
  if (ClientConnection::create(o, &ev, now, &c) != DERP_OK) std::abort();
  ev.conn = c.get();
  ev.now = now;

  const Bytes request = c->pending_output();
  const std::string request_text(request.begin(), request.end());
  write_all(*c, now);
  if (transport == 2) {
    const std::size_t at = request_text.find("Sec-WebSocket-Key: ");
    if (at == std::string::npos) std::abort();
    const std::string answer =
        derp::http::websocket_upgrade_response(request_text.substr(at + 19, derp::http::kWebSocketKeyTextLen));
    c->receive(Bytes(reinterpret_cast<const std::uint8_t*>(answer.data()), answer.size()), now);
    if (c->phase() != ClientPhase::ServerKey) std::abort();
  } else if (transport == 3) {
    const std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n";
    std::vector<std::uint8_t> greeting(head.begin(), head.end());
    derp::crypto::NodePublic server_pub;
    derp::crypto::public_of(server_key, &server_pub);
    std::uint8_t header[5];
    derp::frame::write_header(header, 0x01, 40);
    greeting.insert(greeting.end(), header, header + 5);
    const std::string_view magic(DERP_FRAME_MAGIC, DERP_FRAME_MAGIC_LEN);
    greeting.insert(greeting.end(), magic.begin(), magic.end());
    greeting.insert(greeting.end(), server_pub.bytes().begin(), server_pub.bytes().end());
    c->receive(Bytes(greeting), now);
    if (!c->connected()) std::abort();
  }

  const std::size_t piece = 1 + ((mode >> 2) & 7) * 61;
  Bytes in(data + 1, size - 1);
  while (!in.empty()) {
    const Bytes part = in.first(std::min(piece, in.size()));
    in = in.subspan(part.size());
    now += 1'000'000;
    ev.now = now;
    const int rc = c->receive(part, now);
    if (rc != DERP_OK && c->phase() != ClientPhase::Closed) std::abort();
    if (c->phase() == ClientPhase::Closed && rc != c->close_error()) std::abort();
    if (mode & 0x20) write_all(*c, now);
  }
  if (!(mode & 0x20)) {
    // The host never wrote: whatever the server sent, the output is within the cap plus the control reserve,
    // plus the handshake frames that are queued regardless.
    std::size_t total = 0;
    for (Bytes b = c->pending_output(); !b.empty(); b = c->pending_output()) {
      total += b.size();
      c->output_written(b.size(), now);
    }
    if (total > kMaxPending + 16 * 1024 + 4096) std::abort();
  }
  if (mode & 0x80) c->receive_eof(now);
  // Time runs out: the idle timeout (or the handshake timeout) must end every connection still open.
  for (int i = 0; i < 64 && c->phase() != ClientPhase::Closed; ++i) {
    const Nanos d = c->deadline();
    if (d == derp::kNever) std::abort();
    now = std::max(now, d);
    ev.now = now;
    c->tick(now);
    write_all(*c, now);
  }
  if (c->phase() != ClientPhase::Closed || ev.closed != 1) std::abort();
  c->close(now);
  if (ev.closed != 1) std::abort();
  return 0;
}
