// A client connection's lifecycle: creation, output, timers, the commands and closing. The HTTP upgrade is in
// connection_http.cpp, the DERP frames from the server in connection_frames.cpp.
#include "client/connection.hpp"


#include <algorithm>
#include <array>
#include <cstring>

#include "crypto/sodium_init.hpp"
#include "frame/header.hpp"
#include "frame/limits.hpp"

namespace derp::client {

namespace {

// Control frames (pings, pongs, NotePreferred, mesh commands, WebSocket pongs and close) may use this much room
// past max_pending_output, so that a queue full of packets does not also silence liveness; beyond it they are
// refused or, for answers to the server, dropped. Nothing the server sends can grow the output past this.
constexpr std::size_t kControlReserve = 16 * 1024;
// An output buffer grown past this (a burst of packets) is released once written, so an idle connection does not
// keep the memory of its busiest moment.
constexpr std::size_t kRetainedOutput = 64 * 1024;

}  // namespace

const char* client_phase_name(ClientPhase phase) {
  switch (phase) {
    case ClientPhase::Upgrade:
      return "upgrade";
    case ClientPhase::ServerKey:
      return "server-key";
    case ClientPhase::Running:
      return "running";
    case ClientPhase::Closed:
      return "closed";
  }
  return "unknown";
}

ClientConnection::ClientConnection(const ClientOptions& options, ClientEvents* events)
    : options_(options), events_(events), head_(http::HeadReader::kDefaultMaxHeadBytes) {}

ClientConnection::~ClientConnection() = default;

int ClientConnection::create(const ClientOptions& options, ClientEvents* events, Nanos now,
                             std::unique_ptr<ClientConnection>* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  out->reset();
  if (events == nullptr || options.private_key.is_zero()) return DERP_ERR_INVALID_ARGUMENT;
  if (const int rc = crypto::ensure_sodium(); rc != DERP_OK) return rc;
  std::unique_ptr<ClientConnection> conn(new ClientConnection(options, events));
  if (const int rc = crypto::public_of(options.private_key, &conn->public_key_); rc != DERP_OK) return rc;
  if (const int rc = conn->start(now); rc != DERP_OK) return rc;
  *out = std::move(conn);
  return DERP_OK;
}

// ---- transport ----

int ClientConnection::receive(Bytes in, Nanos now) {
  if (closed()) return close_error_;
  if (in.empty()) return DERP_OK;
  last_receive_at_ = now;
  ++busy_;
  if (phase_ == ClientPhase::Upgrade) {
    std::size_t used = 0;
    on_http_bytes(in, &used, now);
    in = in.subspan(used);
  }
  if (!closed() && !in.empty() && phase_ != ClientPhase::Upgrade) on_stream_bytes(in, now);
  --busy_;
  if (closed() && busy_ == 0) {
    // No frame view is live any more: give back the input buffers (a 1 MiB partial frame, the HTTP head).
    reader_.reset();
    head_.reset();
  }
  return closed() ? close_error_ : DERP_OK;
}

void ClientConnection::receive_eof(Nanos now) {
  if (closed()) return;
  std::string detail = "the server closed the connection";
  if (phase_ == ClientPhase::Upgrade) {
    detail += head_.buffered() > 0 ? " in the middle of its HTTP answer" : " before answering the upgrade";
  } else if (phase_ == ClientPhase::ServerKey) {
    detail += " before its ServerKey frame";
  }
  if (reader_.buffered_bytes() > 0) {
    detail += " (" + std::to_string(reader_.buffered_bytes()) + " bytes of an incomplete frame)";
  }
  fail(DERP_ERR_PEER_CLOSED, std::move(detail), now);
}

Bytes ClientConnection::pending_output() const {
  const std::vector<std::uint8_t>& front = out_[front_];
  const Bytes view(front.data() + out_pos_, front.size() - out_pos_);
  if (!view.empty()) out_pinned_ = true;
  return view;
}

void ClientConnection::output_written(std::size_t n, Nanos now) {
  (void)now;
  std::vector<std::uint8_t>& front = out_[front_];
  out_pos_ += std::min(n, front.size() - out_pos_);
  out_pinned_ = false;
  if (out_pos_ == front.size()) {
    front.clear();
    if (front.capacity() > kRetainedOutput) std::vector<std::uint8_t>().swap(front);
    out_pos_ = 0;
    front_ ^= 1;  // the back buffer (possibly empty) is next
  }
  flush_websocket_control(false);
}

std::size_t ClientConnection::pending_bytes() const {
  return out_[front_].size() - out_pos_ + out_[front_ ^ 1].size();
}

std::vector<std::uint8_t>& ClientConnection::output_tail() {
  std::vector<std::uint8_t>& front = out_[front_];
  std::vector<std::uint8_t>& back = out_[front_ ^ 1];
  if (out_pinned_ || !back.empty()) return back;
  // Nothing of the front buffer is in a write: drop what was written, when that is worth a move.
  if (out_pos_ == front.size()) {
    front.clear();
    out_pos_ = 0;
  } else if (out_pos_ >= 4096 && out_pos_ * 2 >= front.size()) {
    front.erase(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(out_pos_));
    out_pos_ = 0;
  }
  return front;
}

void ClientConnection::append_output(Bytes bytes) {
  std::vector<std::uint8_t>& tail = output_tail();
  tail.insert(tail.end(), bytes.begin(), bytes.end());
}

bool ClientConnection::queue_frame(frame::FrameType type, Bytes part1, Bytes part2) {
  const std::size_t payload_len = part1.size() + part2.size();
  std::array<std::uint8_t, frame::kHeaderLen> header{};
  frame::write_header(header.data(), frame::type_byte(type), static_cast<std::uint32_t>(payload_len));
  const std::array<Bytes, 3> parts = {Bytes(header.data(), header.size()), part1, part2};
  if (ws_ && !ws_->can_send()) return false;
  std::vector<std::uint8_t>& tail = output_tail();
  if (!ws_) {
    for (const Bytes part : parts) tail.insert(tail.end(), part.begin(), part.end());
    return true;
  }
  // Over a WebSocket the frame goes out in masked binary messages of at most 16 KiB (derper reads each message
  // with Go's 32 KiB limit; RFC 6455 §5.3: a client masks), cut where http::split_into_messages says; a frame may
  // span messages (reference §1.4).
  const std::size_t frame_len = frame::kHeaderLen + payload_len;
  const http::WsMessageSplit split = http::split_into_messages(frame_len);
  tail.reserve(tail.size() + frame_len + ws_->message_overhead(frame_len));
  std::size_t part = 0;
  std::size_t part_at = 0;
  std::size_t len = static_cast<std::size_t>(split.first_len);
  for (std::uint64_t m = 0; m < split.count; ++m) {
    http::WsHeaderBytes ws_header{};
    http::WsMaskKey mask{};
    const std::size_t header_len = ws_->write_binary_header(len, ws_header, &mask);
    tail.insert(tail.end(), ws_header.begin(), ws_header.begin() + static_cast<std::ptrdiff_t>(header_len));
    const std::size_t start = tail.size();
    // This message's bytes, gathered from the frame header and the two parts.
    for (std::size_t left = len; left > 0;) {
      const Bytes from = parts[part].subspan(part_at);
      const std::size_t take = std::min(left, from.size());
      tail.insert(tail.end(), from.begin(), from.begin() + static_cast<std::ptrdiff_t>(take));
      left -= take;
      part_at += take;
      if (part_at == parts[part].size()) {
        ++part;
        part_at = 0;
      }
    }
    http::WebSocketStream::apply_mask(mask, MutableBytes(tail.data() + start, len));
    len = http::kWsMaxDataMessage;
  }
  return true;
}

void ClientConnection::flush_websocket_control(bool force) {
  if (!ws_) return;
  const Bytes control = ws_->pending_control();
  if (control.empty()) return;
  // The stream keeps at most a pong or two and a close frame, so leaving them there while the output is full
  // is bounded; moving them would let a ping flood grow the output.
  if (!force && pending_bytes() + control.size() > options_.max_pending_output + kControlReserve) return;
  append_output(control);
  ws_->consume_control(control.size());
}

// ---- timers ----

Nanos ClientConnection::deadline() const {
  if (closed()) return kNever;
  Nanos d = handshake_deadline_;
  if (options_.idle_timeout > 0) d = std::min(d, last_receive_at_ + options_.idle_timeout);
  bool keepalive_outstanding = false;
  for (const PendingPing& p : pings_) {
    d = std::min(d, p.sent_at + options_.ping_timeout);
    keepalive_outstanding = keepalive_outstanding || p.keepalive;
  }
  if (phase_ == ClientPhase::Running && options_.keepalive_ping_after > 0 && !keepalive_outstanding) {
    d = std::min(d, std::max(last_receive_at_ + options_.keepalive_ping_after, keepalive_retry_at_));
  }
  return d;
}

void ClientConnection::tick(Nanos now) {
  if (closed()) return;
  ++busy_;
  if (now >= handshake_deadline_) {
    fail(DERP_ERR_TIMEOUT,
         phase_ == ClientPhase::Upgrade ? "no answer to the upgrade request within the handshake timeout"
                                        : "no ServerKey frame within the handshake timeout",
         now);
  } else if (options_.idle_timeout > 0 && now >= last_receive_at_ + options_.idle_timeout) {
    fail(DERP_ERR_TIMEOUT,
         "nothing received from the server for " + std::to_string(options_.idle_timeout / kMillisecond) + " ms", now);
  }
  // Expired pings, one at a time: a handler may ping again or close, and close() must find the rest still
  // outstanding so that each is reported exactly once, before on_closed.
  while (!closed()) {
    auto it = std::find_if(pings_.begin(), pings_.end(),
                           [&](const PendingPing& p) { return now >= p.sent_at + options_.ping_timeout; });
    if (it == pings_.end()) break;
    const PendingPing expired = *it;
    pings_.erase(it);
    if (expired.keepalive) {
      fail(DERP_ERR_TIMEOUT,
           "no pong to the keep-alive ping within " + std::to_string(options_.ping_timeout / kMillisecond) + " ms",
           now);
    } else {
      events_->on_ping_result(expired.id, DERP_ERR_TIMEOUT, 0);
    }
  }
  if (!closed() && phase_ == ClientPhase::Running && options_.keepalive_ping_after > 0 &&
      now >= last_receive_at_ + options_.keepalive_ping_after && now >= keepalive_retry_at_ &&
      std::none_of(pings_.begin(), pings_.end(), [](const PendingPing& p) { return p.keepalive; })) {
    std::uint64_t id = 0;
    // Refused only when the output is jammed (or 64 pings wait): try again in a second; idle_timeout still rules.
    if (send_ping(now, /*keepalive=*/true, &id) != DERP_OK) keepalive_retry_at_ = now + kSecond;
  }
  --busy_;
  if (closed() && busy_ == 0) {
    reader_.reset();
    head_.reset();
  }
}

// ---- commands ----

int ClientConnection::send_packet(const crypto::NodePublic& destination, Bytes payload, Nanos now) {
  if (closed()) return DERP_ERR_CLOSED;
  if (phase_ != ClientPhase::Running) return DERP_ERR_NOT_CONNECTED;
  if (payload.size() > frame::kMaxPacketSize) return DERP_ERR_FRAME_TOO_LARGE;
  const std::size_t frame_len = frame::kHeaderLen + frame::kKeyLen + payload.size();
  // The WebSocket headers count too, so the cap holds on both transports.
  if (pending_bytes() + frame_len + (ws_ ? ws_->message_overhead(frame_len) : 0) > options_.max_pending_output) {
    counters_.packets_dropped_queue_full++;
    return DERP_ERR_QUEUE_FULL;
  }
  if (!take_bucket_tokens(frame_len, now)) {
    counters_.packets_dropped_rate_limit++;
    return DERP_ERR_QUEUE_FULL;
  }
  if (!queue_frame(frame::FrameType::SendPacket, Bytes(destination.bytes()), payload)) return DERP_ERR_CLOSED;
  counters_.packets_sent++;
  counters_.bytes_sent += payload.size();
  return DERP_OK;
}

bool ClientConnection::take_bucket_tokens(std::size_t cost, Nanos now) {
  if (!bucket_on_) return true;
  // Go's rate.Limiter (derp_client.go send): refill by elapsed time up to the burst, then AllowN or drop. A frame
  // larger than the burst never passes, there as here.
  if (now > bucket_at_) {
    bucket_tokens_ = std::min(bucket_burst_, bucket_tokens_ + static_cast<double>(now - bucket_at_) * bucket_rate_per_ns_);
    bucket_at_ = now;
  }
  const double need = static_cast<double>(cost);
  if (bucket_tokens_ < need) return false;
  bucket_tokens_ -= need;
  return true;
}

int ClientConnection::note_preferred(bool preferred) {
  if (closed()) return DERP_ERR_CLOSED;
  if (phase_ != ClientPhase::Running) return DERP_ERR_NOT_CONNECTED;
  if (pending_bytes() + 32 > options_.max_pending_output + kControlReserve) return DERP_ERR_QUEUE_FULL;
  const std::uint8_t value = preferred ? 1 : 0;
  return queue_frame(frame::FrameType::NotePreferred, Bytes(&value, 1)) ? DERP_OK : DERP_ERR_CLOSED;
}

int ClientConnection::ping(Nanos now, std::uint64_t* id) {
  if (id == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  return send_ping(now, /*keepalive=*/false, id);
}

int ClientConnection::send_ping(Nanos now, bool keepalive, std::uint64_t* id) {
  if (closed()) return DERP_ERR_CLOSED;
  if (phase_ != ClientPhase::Running) return DERP_ERR_NOT_CONNECTED;
  if (pings_.size() >= kMaxOutstandingPings) return DERP_ERR_QUEUE_FULL;
  if (pending_bytes() + 32 > options_.max_pending_output + kControlReserve) return DERP_ERR_QUEUE_FULL;
  PendingPing p{next_ping_id_, {}, now, keepalive};
  // Random data, so that a pong cannot be forged by someone who did not see the ping (and two pings never match
  // each other's pong).
  options_.random(MutableBytes(p.data));
  if (!queue_frame(frame::FrameType::Ping, Bytes(p.data))) return DERP_ERR_CLOSED;
  ++next_ping_id_;
  pings_.push_back(p);
  counters_.pings_sent++;
  *id = p.id;
  return DERP_OK;
}

int ClientConnection::watch_conns() {
  if (closed()) return DERP_ERR_CLOSED;
  if (phase_ != ClientPhase::Running) return DERP_ERR_NOT_CONNECTED;
  if (pending_bytes() + 32 > options_.max_pending_output + kControlReserve) return DERP_ERR_QUEUE_FULL;
  return queue_frame(frame::FrameType::WatchConns, {}) ? DERP_OK : DERP_ERR_CLOSED;
}

int ClientConnection::forward_packet(const crypto::NodePublic& source, const crypto::NodePublic& destination,
                                     Bytes payload) {
  if (closed()) return DERP_ERR_CLOSED;
  if (phase_ != ClientPhase::Running) return DERP_ERR_NOT_CONNECTED;
  if (payload.size() > frame::kMaxPacketSize) return DERP_ERR_FRAME_TOO_LARGE;
  const std::size_t frame_len = frame::kHeaderLen + 2 * frame::kKeyLen + payload.size();
  if (pending_bytes() + frame_len + (ws_ ? ws_->message_overhead(frame_len) : 0) > options_.max_pending_output) {
    counters_.packets_dropped_queue_full++;
    return DERP_ERR_QUEUE_FULL;
  }
  std::uint8_t keys[2 * frame::kKeyLen];
  std::memcpy(keys, source.bytes().data(), frame::kKeyLen);
  std::memcpy(keys + frame::kKeyLen, destination.bytes().data(), frame::kKeyLen);
  if (!queue_frame(frame::FrameType::ForwardPacket, Bytes(keys, sizeof keys), payload)) return DERP_ERR_CLOSED;
  counters_.packets_sent++;
  counters_.bytes_sent += payload.size();
  return DERP_OK;
}

int ClientConnection::close_peer(const crypto::NodePublic& peer) {
  if (closed()) return DERP_ERR_CLOSED;
  if (phase_ != ClientPhase::Running) return DERP_ERR_NOT_CONNECTED;
  if (pending_bytes() + 64 > options_.max_pending_output + kControlReserve) return DERP_ERR_QUEUE_FULL;
  return queue_frame(frame::FrameType::ClosePeer, Bytes(peer.bytes())) ? DERP_OK : DERP_ERR_CLOSED;
}

// ---- closing ----

void ClientConnection::close(Nanos now) {
  (void)now;
  if (closed()) return;
  if (ws_ && ws_->can_send()) (void)ws_->close(http::kWsCloseNormal);
  finish(DERP_OK, "closed by the client");
}

int ClientConnection::fail(int error, std::string detail, Nanos now) {
  (void)now;
  if (closed()) return close_error_;
  finish(error, std::move(detail));
  return error;
}

void ClientConnection::finish(int error, std::string detail) {
  // Closed first, so that every command a handler calls from here on is refused and a nested close() is a no-op.
  phase_ = ClientPhase::Closed;
  close_error_ = error;
  close_detail_ = std::move(detail);
  handshake_deadline_ = kNever;
  // A WebSocket's close frame (ours, or the reply to the server's) goes out after what is queued; the host may
  // write it before closing the transport.
  flush_websocket_control(true);
  // Each outstanding ping is taken out before it is reported, so a handler that pings or closes changes nothing.
  while (!pings_.empty()) {
    const PendingPing p = pings_.front();
    pings_.erase(pings_.begin());
    if (!p.keepalive) events_->on_ping_result(p.id, DERP_ERR_CLOSED, 0);
  }
  if (busy_ == 0) {
    reader_.reset();
    head_.reset();
  }
  events_->on_closed(close_error_, close_detail_);
}

}  // namespace derp::client
