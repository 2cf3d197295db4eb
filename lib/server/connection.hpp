// One client connection on a DERP server, as a sans-IO state machine: the host feeds it the bytes its transport
// read (plaintext: TLS, if any, is the host's business) and the time, and takes from it the bytes to write and the
// next time it must be called back. It never touches a socket or a clock.
//
// Phases: HTTP (read one request head: the DERP upgrade, or a plain endpoint) → Handshake (ServerKey sent, waiting
// for ClientInfo) → Running (frames both ways) → Closing (flush what is queued, then close) or Closed (close now).
//
// Host loop, per connection:
//   conn->receive(bytes, now)          after every read (or receive_some: whole reads, flushing when it stops)
//   conn->output(views) / output_written(n, now)   write what is pending (several views: one writev)
//   conn->deadline() / tick(now)      arm a timer; call tick when it fires
//   phase Closed → close the transport, then Server::remove(conn).  Closing → flush output, then the same.
//   Server::drain_ready(f)            after each of the above: other connections that got output meanwhile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.hpp"
#include "crypto/node_key.hpp"
#include "derp/common.h"
#include "frame/frame_reader.hpp"
#include "frame/frame_types.hpp"
#include "http/head.hpp"
#include "http/head_reader.hpp"
#include "http/websocket_stream.hpp"
#include "server/counters.hpp"
#include "server/options.hpp"
#include "server/out_buffer.hpp"

namespace derp::server {

class Server;
struct ClientSet;

enum class Phase : std::uint8_t { Http, Handshake, Running, Closing, Closed };

#define DERP_SERVER_CLOSE_REASON_MAP(XX)                                  \
  XX(none, "open")                                                        \
  XX(transport_closed, "the peer closed the connection or it failed")     \
  XX(http_done, "plain HTTP request answered")                            \
  XX(http_refused, "HTTP request answered with an error status")          \
  XX(bad_http, "malformed or oversized HTTP request")                     \
  XX(handshake_timeout, "handshake did not finish in time")               \
  XX(bad_handshake, "bad ClientInfo frame")                               \
  XX(denied, "refused by the admission hook")                             \
  XX(protocol_error, "DERP protocol violation")                           \
  XX(write_timeout, "output made no progress within the write timeout")   \
  XX(closed_by_mesh, "closed by a mesh peer's ClosePeer")                 \
  XX(too_many_connections, "connection limit reached")                    \
  XX(out_of_memory, "out of memory for output")                           \
  XX(frame_budget, "over its share of the server's incomplete-frame budget") \
  XX(server_shutdown, "server shutting down")

enum class CloseReason : std::uint8_t {
#define DERP_ENUM_(member, text) member,
  DERP_SERVER_CLOSE_REASON_MAP(DERP_ENUM_)
#undef DERP_ENUM_
};

const char* close_reason_text(CloseReason reason);

class Connection {
 public:
  // Mesh-key clients: the write timeout (derper's privilegedWriteTimeout) and the bound that replaces the
  // per-client packet queue limits.
  static constexpr Nanos kMeshWriteTimeout = 30 * kSecond;
  static constexpr std::size_t kMeshQueueBytes = 16u << 20;
  // What a client may send while its admission is pending (ServerOptions::admit_async) before it is closed.
  static constexpr std::size_t kMaxHeldInputBeforeAdmission = 256u << 10;

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Bytes read from the transport. Returns DERP_OK, or a negative code when the input closed the connection (the
  // phase then says how to close; close_detail() says why).
  int receive(Bytes in, Nanos now);
  // The same, but it may stop early, at a frame boundary, once a packet it routed left a destination's queue half
  // full (of ServerOptions::queue_packets or queue_bytes): the host then writes out the ready connections
  // (Server::drain_ready) and offers the rest, so a host that feeds whole reads still never overflows the queue of
  // a receiver whose socket takes everything. *consumed: bytes taken (all of them unless it stopped early; at
  // least one frame's worth when it did). WebSocket input is always taken whole.
  int receive_some(Bytes in, Nanos now, std::size_t* consumed);

  // The pending output, in order, as up to views.size() spans; returns how many were filled.
  std::size_t output(std::span<Bytes> views) const;
  std::size_t output_size() const { return out_bytes_; }
  // The host wrote n bytes of the pending output.
  void output_written(std::size_t n, Nanos now);

  // When the host must call tick() next (kNever: no timer needed).
  Nanos deadline() const;
  void tick(Nanos now);

  Phase phase() const { return phase_; }
  CloseReason close_reason() const { return close_reason_; }
  const std::string& close_detail() const { return close_detail_; }
  // The connection was closed because the peer broke the rules (bad input, a stalled reader, over a budget), not
  // by a graceful end: the host should reset the transport at once and not read what the peer still sends.
  bool closed_for_violation() const;

  std::uint64_t id() const { return id_; }
  const derp_addr& remote() const { return remote_; }
  // The client's key, once the handshake is done (zero before).
  const frame::Key& client_key() const { return key_; }
  bool is_websocket() const { return websocket_; }

  // Free for the host: e.g. its socket handle.
  void* user_data = nullptr;

 private:
  friend class Server;
  enum class OutKind : std::uint8_t { control, disco, other, pong, ws_control };
  struct OutItem {
    OutBuffer* buffer;
    std::uint32_t offset;  // bytes of this item already written, WebSocket headers included
    OutKind kind;
    std::uint8_t prefix;   // the header of the frame's first WebSocket message, in the buffer's headroom
    // On a WebSocket a frame longer than http::kWsMaxDataMessage goes out as several binary messages
    // (http::split_into_messages): the first, short one is prefix + the frame's first bytes; each later one is
    // the shared header WebSocketStream::full_message_header() (static storage) and the next 16 KiB of the
    // buffer. So the frame is still never copied. Raw items (prefix 0) are one piece.
    std::uint32_t later_messages() const {
      return prefix == 0 ? 0 : (buffer->size - 1) / static_cast<std::uint32_t>(http::kWsMaxDataMessage);
    }
    std::uint32_t first_piece() const {
      return buffer->size - later_messages() * static_cast<std::uint32_t>(http::kWsMaxDataMessage);
    }
    std::uint32_t total() const {
      return buffer->size + prefix + later_messages() * static_cast<std::uint32_t>(http::kWsFullMessageHeaderLen);
    }
    const std::uint8_t* start() const { return buffer->data() - prefix; }
  };
  // Fills views with the pieces of item from its offset on; returns how many.
  static std::size_t item_views(const OutItem& item, std::span<Bytes> views);

  Connection(Server& server, std::uint64_t id, const derp_addr& remote, Nanos now, Nanos keepalive_jitter);

  int on_http_bytes(Bytes in, std::size_t* used, Nanos now);
  int on_request(const http::RequestHead& request, Nanos now);
  int start_derp(const http::RequestHead& request, Nanos now);
  int start_websocket(const http::RequestHead& request, Nanos now);
  int receive_input(Bytes in, Nanos now, std::size_t* consumed);
  // consumed non-null: may stop early (receive_some) and says how much was taken.
  int on_frame_bytes(Bytes in, Nanos now, std::size_t* consumed = nullptr);
  // The reader's header filter (frame_reader.hpp): what this phase keeps, skips unstored, or refuses.
  static frame::HeaderVerdict judge_header(const void* self, const frame::FrameHeader& header);
  int on_refused_header(Nanos now);
  // Reports this connection's incomplete-frame memory to the server; false when it is over its share.
  bool account_partial_frame();
  int on_websocket_bytes(Bytes in, Nanos now);
  void queue_websocket_control(bool force = false);
  int on_frame(const frame::Frame& frame, Nanos now);
  int on_client_info(const frame::Frame& frame, Nanos now);
  // The end of the handshake once admitted: register, queue ServerInfo, log.
  int finish_handshake(Nanos now);
  // Input that arrives while admission is pending is kept for after it.
  int hold_input(Bytes in);
  int on_send_packet(Bytes payload, Nanos now);
  int on_forward_packet(Bytes payload, Nanos now);
  int on_ping(Bytes payload);
  int on_note_preferred(Bytes payload, Nanos now);
  int on_watch_conns(Bytes payload);
  int on_close_peer(Bytes payload, Nanos now);

  // Output. Each returns false only when memory for the output could not be had (the connection is then closed).
  bool queue_bytes(Bytes bytes, bool raw = false,  // HTTP responses (raw) and handshake frames
                   OutKind kind = OutKind::control);
  bool queue_control_frame(frame::FrameType type, Bytes payload);
  bool queue_http_response(int status, std::string_view reason, std::string_view headers, std::string_view body,
                           bool head_only, bool keep_alive);
  // Takes ownership of a buffer holding one whole RecvPacket frame; applies the queue limits and drop policy.
  void queue_packet(OutBuffer* buffer, PacketKind kind);
  // raw: the bytes go out as they are; otherwise, on a WebSocket connection, they are wrapped in binary messages
  // of at most http::kWsMaxDataMessage bytes (see OutItem).
  void push_output(OutBuffer* buffer, OutKind kind, bool raw = false);
  void drop_queued(std::size_t index, DropReason reason);
  void release_output(DropReason reason_for_packets);

  // Ends the connection. flush: write what is queued first (an HTTP answer); otherwise discard it.
  void close(CloseReason reason, std::string detail, bool flush);
  Nanos effective_write_timeout() const;  // options' write_timeout, or kMeshWriteTimeout for mesh peers
  void log(LogLevel level, const std::string& text) const;
  std::string name() const;  // "[abcde] 1.2.3.4:5" for logs

  Server& server_;
  std::uint64_t id_;
  derp_addr remote_;
  Phase phase_ = Phase::Http;
  CloseReason close_reason_ = CloseReason::none;
  std::string close_detail_;

  http::HeadReader head_;
  frame::FrameReader reader_;
  frame::FrameHeader refused_header_{};  // the header judge_header last refused
  std::size_t partial_frame_held_ = 0;   // what the server's partial_frame_bytes counts for this connection
  std::unique_ptr<http::WebSocketStream> ws_;  // only on DERP-over-WebSocket connections

  frame::Key key_{};
  bool registered_ = false;
  bool websocket_ = false;
  bool can_mesh_ = false;
  bool watcher_ = false;
  bool preferred_ = false;
  bool not_ideal_ = false;
  bool is_prober_ = false;
  bool in_ready_list_ = false;
  bool pong_queued_ = false;
  bool admission_pending_ = false;
  std::vector<std::uint8_t> held_input_;  // frame-stream bytes read while admission_pending_
  std::string app_name_;                  // from ClientInfo, for the connected log line
  bool ws_control_queued_ = false;  // a WebSocket pong/close item waits in out_ (one at a time)

  // Output queue, oldest first; out_[out_head_] is being written.
  std::vector<OutItem> out_;
  std::size_t out_head_ = 0;
  std::size_t out_bytes_ = 0;
  // Items handed to the host by the last output() call: they may be in a write in flight, so the drop policy
  // leaves them alone until output_written().
  mutable std::size_t pinned_ = 0;
  std::size_t queued_packets_[2] = {0, 0};  // by PacketKind, not yet started
  std::size_t queued_packet_bytes_ = 0;

  Nanos connected_at_;
  Nanos handshake_deadline_;
  Nanos keepalive_jitter_;
  Nanos next_keepalive_ = kNever;
  Nanos output_stalled_since_ = kNever;  // when pending output last made progress (or appeared)
  Nanos last_frame_at_ = 0;              // for "last writer is active" among duplicate connections

  // PeerGone(NotHere) rate limit per client: 1 per second, burst 3 (reference §4.1).
  std::uint32_t not_here_tokens_milli_ = 3000;
  Nanos not_here_refill_at_ = 0;

  // The destination this connection last recorded in the server's sent-to table: a steady flow to one peer then
  // costs one key comparison per packet instead of a table lookup.
  frame::Key last_recorded_dst_{};
  bool has_recorded_dst_ = false;
  // This key's entry in the server's sent-to table, once it has one (the table's nodes stay put; the entry goes
  // only when the key's last connection does, and every connection of the key forgets it then).
  std::vector<frame::Key>* sent_to_list_ = nullptr;
  // This key's entry in the server's registry while registered (nodes stay put), so that "last writer is active"
  // costs no lookup per frame.
  ClientSet* client_set_ = nullptr;
};

}  // namespace derp::server
