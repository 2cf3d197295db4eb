// One DERP client connection as a sans-IO state machine, the client-side twin of server/connection.hpp: the host
// dials (TCP, and TLS if any: the core sees plaintext only), feeds the core what it reads and the time, writes
// what the core has pending, and calls it back at its deadline. It never touches a socket, a clock or a thread.
//
// Phases: Upgrade (our HTTP request is queued; waiting for the 101, or nothing with fast start) → ServerKey
// (waiting for the ServerKey frame) → Running (ClientInfo sent; frames both ways; ServerInfo arrives whenever the
// server sends it, as Go's client does we never wait for it) → Closed.
//
// Host loop, per connection:
//   auto c = ClientConnection::create(options, events, now, &conn)   queues the upgrade request
//   conn->receive(bytes, now)                       after every read (any split)
//   conn->pending_output() / output_written(n, now) write what is pending
//   conn->deadline() / tick(now)                    arm a timer; call tick when it fires
//   conn->phase() == Closed → close the transport (after writing what is still pending, if the host likes)
// Commands: send_packet, note_preferred, ping, watch_conns, close_peer, close. Each may queue output.
// Events go to a ClientEvents the host passes in, synchronously from inside receive/tick/commands; an event
// handler may call commands on the same connection (send a reply from on_packet, for instance) but must not
// destroy it.
//
// Bounds: pending output is capped (options.max_pending_output); a send over the cap is refused with
// DERP_ERR_QUEUE_FULL and counted. Frames from the server are capped by the frame reader's per-type limits.
// Outstanding pings are capped (kMaxOutstandingPings). Nothing grows with what the server sends.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.hpp"
#include "common/time.hpp"
#include "crypto/client_info.hpp"
#include "crypto/node_key.hpp"
#include "crypto/random.hpp"
#include "crypto/server_info.hpp"
#include "derp/common.h"
#include "frame/frame_reader.hpp"
#include "frame/frame_types.hpp"
#include "http/head_reader.hpp"
#include "http/websocket_stream.hpp"

namespace derp::client {

enum class ClientPhase : std::uint8_t { Upgrade, ServerKey, Running, Closed };
const char* client_phase_name(ClientPhase phase);

struct ClientOptions {
  // Our identity. Required (a zero key is refused by create()).
  crypto::NodePrivate private_key;

  // The Host header: "derp.example.com", "derp.example.com:8443", "127.0.0.1:3340", "[::1]:3340". Required.
  std::string host;
  // The request path (reference §1.1). Must start with '/'.
  std::string path = "/derp";
  // Send "Derp-Fast-Start: 1": the server answers with no HTTP head, its first bytes are the ServerKey frame
  // (reference §1.2, §1.3). Tailscale's client sends it only after seeing the meta-certificate over TLS 1.3; our
  // server honours it on any transport. Ignored with websocket.
  bool fast_start = false;
  // DERP over WebSocket (subprotocol "derp", reference §1.4) instead of "Upgrade: DERP".
  bool websocket = false;
  // "Ideal-Node: <name>" when non-empty: the region's first node, sent when dialling another (reference §1.1).
  std::string ideal_node;
  // When set, the ServerKey frame must carry this key (e.g. a key learnt earlier, or from the 101's
  // Derp-Public-Key); otherwise DERP_ERR_SERVER_KEY_MISMATCH. Go's client does not check it.
  std::optional<crypto::NodePublic> expected_server_key;

  // What goes into the sealed ClientInfo. Defaults are tailscaled's: {"version":2,"CanAckPings":true}. Set
  // mesh_key only when this client really has one (reference §9.4: "" breaks the handshake on current servers).
  crypto::ClientInfo info = default_client_info();

  // From create() until the ServerKey frame has been read and our ClientInfo queued (Go: part of a 10 s connect
  // budget that also covers DNS, TCP and TLS, which are the host's). Expiry closes with DERP_ERR_TIMEOUT.
  Nanos handshake_timeout = 10 * kSecond;
  // Liveness: when nothing at all arrives for this long the connection is dead (DERP_ERR_TIMEOUT). Go's client
  // sets a 120 s read deadline per read; servers send a KeepAlive every 60 s. 0 = never.
  Nanos idle_timeout = 120 * kSecond;
  // How long ping() waits for its pong before reporting DERP_ERR_TIMEOUT (Go: 5 s).
  Nanos ping_timeout = 5 * kSecond;
  // Send a ping of our own when nothing arrived for this long, so a dead path is found before idle_timeout even
  // on a server that sends no keep-alives. 0 = off (Go's default: it relies on the server's KeepAlive).
  Nanos keepalive_ping_after = 0;

  // Cap on bytes waiting to be written. send_packet beyond it is refused (DERP_ERR_QUEUE_FULL) and counted.
  std::size_t max_pending_output = 1u << 20;
  // Honour the ServerInfo token bucket (TokenBucketBytesPerSecond/Burst) as Go's client does: our own sends beyond
  // it are dropped and counted, 5 + 32 + len bytes per frame (reference §3, pitfall §9.15).
  bool honour_server_rate_limit = true;

  // Where this connection's random bytes come from: ping payloads, the ClientInfo box's nonce, the WebSocket key
  // and masks. Default: libsodium's CSPRNG. A test passes a seeded one to get the same bytes out every run.
  crypto::RandomSource random;

  static crypto::ClientInfo default_client_info() {
    crypto::ClientInfo info;
    info.version = crypto::kInfoProtocolVersion;
    info.can_ack_pings = true;
    return info;
  }
};

// What the connection reports. Every method has an empty default; override what you need. Called synchronously
// from the connection's methods (see the header comment for what a handler may do).
class ClientEvents {
 public:
  virtual ~ClientEvents() = default;

  // The ServerKey frame was read and our ClientInfo queued: from now on send_packet works.
  virtual void on_connected(const crypto::NodePublic& server_key) { (void)server_key; }
  // The ServerInfo frame opened and parsed (version and the optional token bucket).
  virtual void on_server_info(const crypto::ServerInfo& info) { (void)info; }
  // A RecvPacket frame. payload is valid during the call only.
  virtual void on_packet(const crypto::NodePublic& source, Bytes payload) { (void)source, (void)payload; }
  // PeerGone: a peer we sent to has gone (reason DERP_PEER_GONE_DISCONNECTED or _NOT_HERE; the old 32-byte form
  // reads as DISCONNECTED).
  virtual void on_peer_gone(const crypto::NodePublic& peer, std::uint8_t reason) { (void)peer, (void)reason; }
  // PeerPresent (mesh watchers only). endpoint family DERP_AF_NONE when absent or unknown; flags 0 when absent.
  virtual void on_peer_present(const crypto::NodePublic& peer, const derp_addr& endpoint, std::uint8_t flags) {
    (void)peer, (void)endpoint, (void)flags;
  }
  // Health: problem text, empty when the server says it is healthy again.
  virtual void on_health(std::string_view problem) { (void)problem; }
  // Restarting: the server is going down; reconnect after reconnect_in and keep trying for try_for.
  virtual void on_restarting(Nanos reconnect_in, Nanos try_for) { (void)reconnect_in, (void)try_for; }
  // The outcome of ping(id): DERP_OK with the round trip, DERP_ERR_TIMEOUT, or DERP_ERR_CLOSED when the
  // connection closed first.
  virtual void on_ping_result(std::uint64_t id, int result, Nanos rtt) { (void)id, (void)result, (void)rtt; }
  // The connection is over: DERP_OK after close(), otherwise why (DERP_ERR_TIMEOUT, DERP_ERR_UPGRADE_REFUSED,
  // DERP_ERR_FRAME_BAD_MAGIC, DERP_ERR_BOX_OPEN, DERP_ERR_PEER_CLOSED, ...). detail is a sentence for logs.
  // Called exactly once per connection, last.
  virtual void on_closed(int error, std::string_view detail) { (void)error, (void)detail; }
};

// Counters, for metrics and tests. Plain numbers: read them any time.
struct ClientCounters {
  std::uint64_t packets_sent = 0;
  std::uint64_t bytes_sent = 0;  // packet payload bytes
  std::uint64_t packets_received = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t packets_dropped_queue_full = 0;
  std::uint64_t packets_dropped_rate_limit = 0;
  std::uint64_t pings_sent = 0;
  std::uint64_t pongs_matched = 0;
  std::uint64_t pongs_unmatched = 0;
  std::uint64_t server_pings_answered = 0;
  std::uint64_t keepalives_received = 0;
  std::uint64_t unknown_frames = 0;
};

class ClientConnection {
 public:
  // At most this many pings wait for their pong; ping() beyond it fails with DERP_ERR_QUEUE_FULL.
  static constexpr std::size_t kMaxOutstandingPings = 64;

  // Checks the options and queues the upgrade request. DERP_OK; DERP_ERR_INVALID_ARGUMENT (no host, bad path,
  // zero key, null events or out); DERP_ERR_CRYPTO_INIT. events must outlive the connection.
  static int create(const ClientOptions& options, ClientEvents* events, Nanos now,
                    std::unique_ptr<ClientConnection>* out);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // ---- transport ----
  // Bytes read from the transport, any split. DERP_OK, or the negative code the connection closed with (phase()
  // is then Closed and on_closed has been called).
  int receive(Bytes in, Nanos now);
  // The transport reached end of stream (the server closed): closes with DERP_ERR_PEER_CLOSED unless already
  // closed.
  void receive_eof(Nanos now);
  // Bytes to write, oldest first (one contiguous view). The bytes stay put until output_written() (more output
  // queued meanwhile goes elsewhere), so a host may hand the view to an asynchronous write.
  Bytes pending_output() const;
  // The host wrote the first n bytes of pending_output().
  void output_written(std::size_t n, Nanos now);
  // Every byte queued and not yet written (pending_output() and what queued behind it).
  std::size_t pending_bytes() const;

  // When the host must call tick() next (kNever: no timer needed).
  Nanos deadline() const;
  void tick(Nanos now);

  // ---- commands ----
  // Queues a SendPacket frame. DERP_OK; DERP_ERR_NOT_CONNECTED before on_connected; DERP_ERR_CLOSED after close;
  // DERP_ERR_FRAME_TOO_LARGE over 65536 bytes; DERP_ERR_QUEUE_FULL over max_pending_output or the server's rate
  // limit (the packet is dropped and counted either way).
  int send_packet(const crypto::NodePublic& destination, Bytes payload, Nanos now);
  // NotePreferred(1) when this server is our home region, (0) otherwise. DERP_OK, _NOT_CONNECTED or _CLOSED.
  int note_preferred(bool preferred);
  // Sends a Ping with 8 random bytes; *id names it in on_ping_result. DERP_OK, _NOT_CONNECTED, _CLOSED,
  // _QUEUE_FULL (too many outstanding).
  int ping(Nanos now, std::uint64_t* id);
  // Mesh clients (a mesh key in info): WatchConns, and ClosePeer(key). The server closes a non-mesh client
  // that sends them. DERP_OK, _NOT_CONNECTED or _CLOSED.
  int watch_conns();
  // Mesh clients: ForwardPacket(src, dst, payload), a packet from a client of our own server to one of the
  // server we are connected to (a region's servers dial each other). Same results and bounds as send_packet; the
  // server's token bucket does not apply (mesh peers are exempt).
  int forward_packet(const crypto::NodePublic& source, const crypto::NodePublic& destination, Bytes payload);
  int close_peer(const crypto::NodePublic& peer);
  // Ends the connection now: pending pings report DERP_ERR_CLOSED, then on_closed(DERP_OK). Over WebSocket a
  // close frame is queued (the host may write it before closing the transport). Idempotent.
  void close(Nanos now);

  // ---- state ----
  ClientPhase phase() const { return phase_; }
  bool connected() const { return phase_ == ClientPhase::Running; }
  // The server's key once ServerKey was read (zero before).
  const crypto::NodePublic& server_key() const { return server_key_; }
  // The ServerInfo once it arrived.
  const std::optional<crypto::ServerInfo>& server_info() const { return server_info_; }
  const crypto::NodePublic& public_key() const { return public_key_; }
  // Why it closed (DERP_OK while open or after close()) and a sentence for logs.
  int close_error() const { return close_error_; }
  const std::string& close_detail() const { return close_detail_; }
  const ClientCounters& counters() const { return counters_; }

 private:
  ClientConnection(const ClientOptions& options, ClientEvents* events);

  // connection_http.cpp: the upgrade request and the server's answer to it.
  int start(Nanos now);
  int on_http_bytes(Bytes in, std::size_t* used, Nanos now);
  int on_response_head(Nanos now);

  // connection_frames.cpp: the DERP byte stream (raw or out of WebSocket messages) and each frame type.
  int on_stream_bytes(Bytes in, Nanos now);
  int on_websocket_bytes(Bytes in, Nanos now);
  int on_frame_bytes(Bytes in, Nanos now);
  int on_frame(const frame::Frame& frame, Nanos now);
  int on_server_key(const frame::Frame& frame, Nanos now);
  int on_server_info_frame(Bytes payload, Nanos now);
  int on_pong(Bytes data, Nanos now);
  int malformed(std::uint8_t type, Bytes payload, int error, Nanos now);
  // Keeps the last bytes given to the frame reader, to name the header it refuses in the close detail.
  void remember_recent(Bytes taken);

  // connection.cpp: output, timers, closing.
  // Appends one DERP frame (header + the parts, in order) to the output; on a WebSocket in masked binary messages
  // of at most http::kWsMaxDataMessage bytes (the frame may span several). false when the WebSocket may no longer
  // send data.
  bool queue_frame(frame::FrameType type, Bytes part1, Bytes part2 = {});
  void append_output(Bytes bytes);
  std::vector<std::uint8_t>& output_tail();
  // Moves the WebSocket's pongs and close frame into the output, while that stays within the cap.
  void flush_websocket_control(bool force);
  int send_ping(Nanos now, bool keepalive, std::uint64_t* id);
  bool take_bucket_tokens(std::size_t cost, Nanos now);
  int fail(int error, std::string detail, Nanos now);
  void finish(int error, std::string detail);
  bool closed() const { return phase_ == ClientPhase::Closed; }

  ClientOptions options_;
  ClientEvents* events_;
  crypto::NodePublic public_key_;
  crypto::NodePublic server_key_;
  std::optional<crypto::ServerInfo> server_info_;
  ClientPhase phase_ = ClientPhase::Upgrade;
  int close_error_ = DERP_OK;
  std::string close_detail_;
  ClientCounters counters_;

  http::HeadReader head_;
  // Fast start: the first byte decides whether an HTTP head comes at all (a server that ignores the header
  // still answers 101).
  bool head_optional_ = false;
  frame::FrameReader reader_;
  std::array<std::uint8_t, frame::kHeaderLen> recent_{};
  std::size_t recent_len_ = 0;
  std::unique_ptr<http::WebSocketStream> ws_;
  std::string ws_key_;
  // Depth of receive()/tick() calls in progress: input buffers are released only when no frame view is live.
  int busy_ = 0;

  // Output, double-buffered so that a view pending_output() handed out stays put until output_written(), even
  // if the host queues more meanwhile (a reply sent from on_packet while a write is in flight): out_[front_] is
  // written from out_pos_; new bytes go onto it until a non-empty view of it was handed out (out_pinned_), then
  // onto the back buffer, which becomes the front once the front is fully written.
  std::array<std::vector<std::uint8_t>, 2> out_;
  std::size_t front_ = 0;
  std::size_t out_pos_ = 0;
  mutable bool out_pinned_ = false;

  struct PendingPing {
    std::uint64_t id;
    std::array<std::uint8_t, 8> data;
    Nanos sent_at;
    bool keepalive;  // our own liveness probe (keepalive_ping_after): not reported through on_ping_result
  };
  std::vector<PendingPing> pings_;
  std::uint64_t next_ping_id_ = 1;

  Nanos handshake_deadline_ = kNever;
  Nanos last_receive_at_ = 0;
  // A keep-alive ping the jammed output refused is tried again no sooner than this (no timer in the past).
  Nanos keepalive_retry_at_ = 0;
  // Token bucket from ServerInfo (bytes, refilled by rate), when honoured and the rate is non-zero.
  bool bucket_on_ = false;
  double bucket_tokens_ = 0;
  double bucket_rate_per_ns_ = 0;
  double bucket_burst_ = 0;
  Nanos bucket_at_ = 0;
};

}  // namespace derp::client
