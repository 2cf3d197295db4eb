// A server connection's lifecycle, output queue and timers. The HTTP phase is in connection_http.cpp, the DERP
// frames in connection_frames.cpp.
#include "server/connection.hpp"

#include <algorithm>
#include <cstring>

#include "common/address.hpp"
#include "crypto/key_text.hpp"
#include "frame/header.hpp"
#include "server/server.hpp"

namespace derp::server {

namespace {
#define DERP_TEXT_(member, text) text,
constexpr const char* kCloseReasonText[] = {DERP_SERVER_CLOSE_REASON_MAP(DERP_TEXT_)};
#undef DERP_TEXT_

std::size_t kind_index(PacketKind kind) { return static_cast<std::size_t>(kind); }
}  // namespace

const char* close_reason_text(CloseReason reason) { return kCloseReasonText[static_cast<std::size_t>(reason)]; }

bool Connection::closed_for_violation() const {
  switch (close_reason_) {
    case CloseReason::bad_http:
    case CloseReason::handshake_timeout:
    case CloseReason::bad_handshake:
    case CloseReason::protocol_error:
    case CloseReason::write_timeout:
    case CloseReason::frame_budget:
    case CloseReason::out_of_memory:
      return true;
    default:
      return false;  // open, graceful ends (EOF, an answered request, shutdown, mesh ClosePeer), admission refusals
  }
}

Connection::Connection(Server& server, std::uint64_t id, const derp_addr& remote, Nanos now, Nanos keepalive_jitter)
    : server_(server),
      id_(id),
      remote_(remote),
      head_(server.options_.max_http_head),
      // The largest frame a client may send is ClientInfo (256 KiB); everything after the handshake is smaller and
      // held to its own type limit by the reader.
      reader_(DERP_MAX_CLIENT_INFO_LEN),
      connected_at_(now),
      handshake_deadline_(now + server.options_.handshake_timeout),
      keepalive_jitter_(keepalive_jitter) {
  reader_.set_header_filter(&Connection::judge_header, this);
}

Connection::~Connection() { release_output(DropReason::gone_disconnected); }

int Connection::receive(Bytes in, Nanos now) { return receive_input(in, now, nullptr); }

int Connection::receive_some(Bytes in, Nanos now, std::size_t* consumed) {
  *consumed = 0;
  return receive_input(in, now, consumed);
}

int Connection::receive_input(Bytes in, Nanos now, std::size_t* consumed) {
  server_.now_ = now;
  server_.flush_wanted_ = false;
  const std::size_t offered = in.size();
  int rc = DERP_OK;
  while (!in.empty()) {
    if (phase_ == Phase::Closing || phase_ == Phase::Closed) break;  // input after the end is ignored
    if (phase_ != Phase::Http) {
      if (websocket_) {
        rc = on_websocket_bytes(in, now);
        in = {};
      } else {
        std::size_t used = 0;
        rc = on_frame_bytes(in, now, consumed != nullptr ? &used : nullptr);
        in = consumed != nullptr ? in.subspan(used) : Bytes{};
      }
      break;
    }
    std::size_t used = 0;
    rc = on_http_bytes(in, &used, now);
    in = in.subspan(used);
    if (rc < 0) break;
  }
  if (consumed != nullptr) *consumed = offered - in.size();
  return rc;
}

int Connection::on_frame_bytes(Bytes in, Nanos now, std::size_t* consumed) {
  const std::size_t offered = in.size();
  while (!in.empty() && (phase_ == Phase::Handshake || phase_ == Phase::Running)) {
    if (admission_pending_) return hold_input(in);  // everything after ClientInfo waits for the verdict
    // A destination's queue is half full: hand the rest back so that the host writes it out first (receive_some).
    if (consumed != nullptr && server_.flush_wanted_) break;
    std::size_t used = 0;
    frame::Frame frame;
    const int r = reader_.next(in, &used, &frame);
    in = in.subspan(used);
    if (r == DERP_ERR_FRAME_TYPE) return on_refused_header(now);
    if (r < 0) {
      if (phase_ == Phase::Handshake) {
        server_.counters_.handshake_failures[static_cast<std::size_t>(HandshakeFailure::frame)]++;
      }
      close(CloseReason::protocol_error, std::string("frame stream: ") + derp_strerror(r), false);
      return r;
    }
    if (r == 0) break;
    const int rc = on_frame(frame, now);
    if (rc < 0) return rc;
  }
  if ((phase_ == Phase::Handshake || phase_ == Phase::Running) && !account_partial_frame()) {
    server_.counters_.partial_frame_budget_closes++;
    close(CloseReason::frame_budget, std::to_string(partial_frame_held_) + " bytes held for one incomplete frame",
          false);
    return DERP_ERR_NO_MEMORY;
  }
  if (consumed != nullptr) *consumed = offered - in.size();
  return DERP_OK;
}

bool Connection::account_partial_frame() {
  // Only an incomplete frame counts: between frames the reader keeps at most a small buffer for reuse.
  const std::size_t held = reader_.buffered_bytes() > 0 ? reader_.held_bytes() : 0;
  const bool within_share = server_.note_partial_frame(partial_frame_held_, held);
  partial_frame_held_ = held;
  return within_share;
}

int Connection::on_websocket_bytes(Bytes in, Nanos now) {
  // The WebSocket layer turns messages back into one DERP byte stream (reference §1.4); frames are cut from it
  // exactly as on a raw connection.
  std::size_t used = 0;
  const int r = ws_->feed(in, &used, [&](Bytes piece) {
    const int rc = on_frame_bytes(piece, now);
    return rc < 0 ? rc : (phase_ == Phase::Closed || phase_ == Phase::Closing ? DERP_ERR_WS_CLOSED : DERP_OK);
  });
  if (phase_ == Phase::Closed || phase_ == Phase::Closing) return r < 0 ? r : DERP_OK;
  if (r == 0) {
    queue_websocket_control();  // pongs
    return DERP_OK;
  }
  // The peer closed (1 = cleanly) or broke the WebSocket protocol: its close reply or our close frame goes out
  // alone, after nothing else (RFC 6455 §5.5.1: no data after a close frame).
  release_output(DropReason::gone_disconnected);
  queue_websocket_control(/*force=*/true);
  close(r == 1 ? CloseReason::transport_closed : CloseReason::protocol_error,
        r == 1 ? "WebSocket closed by the peer" : "WebSocket: " + std::string(ws_->detail()), true);
  return r == 1 ? DERP_OK : r;
}

void Connection::queue_websocket_control(bool force) {
  // One WebSocket control item in the output at a time. While it waits (a peer that pings but does not read), the
  // pong to a newer ping replaces the unsent one inside the stream, which so holds at most a pong and a close
  // frame: a ping flood cannot pile pongs up in the output, outside every other bound. The close frame (force)
  // goes out behind whatever waits.
  if (ws_control_queued_ && !force) return;
  const Bytes control = ws_->pending_control();
  if (control.empty()) return;
  if (queue_bytes(control, /*raw=*/true, OutKind::ws_control)) {
    ws_->consume_control(control.size());
    ws_control_queued_ = true;
  }
}

std::size_t Connection::item_views(const OutItem& item, std::span<Bytes> views) {
  std::size_t n = 0;
  std::size_t skip = item.offset;  // pieces already written are skipped, the piece in progress is cut
  auto add = [&](const std::uint8_t* piece, std::size_t len) {
    if (skip >= len) {
      skip -= len;
    } else if (n < views.size()) {
      views[n++] = Bytes(piece + skip, len - skip);
      skip = 0;
    }
  };
  add(item.start(), item.prefix + item.first_piece());
  const Bytes header = http::WebSocketStream::full_message_header();
  const std::uint8_t* next = item.buffer->data() + item.first_piece();
  for (std::uint32_t m = 0; m < item.later_messages() && n < views.size(); ++m) {
    add(header.data(), header.size());
    add(next, http::kWsMaxDataMessage);
    next += http::kWsMaxDataMessage;
  }
  return n;
}

std::size_t Connection::output(std::span<Bytes> views) const {
  std::size_t n = 0;
  std::size_t items = 0;
  for (std::size_t i = out_head_; i < out_.size() && n < views.size(); ++i, ++items) {
    n += item_views(out_[i], views.subspan(n));
  }
  pinned_ = items;  // the last one may be only partly handed out; it is pinned all the same
  return n;
}

void Connection::output_written(std::size_t n, Nanos now) {
  server_.now_ = now;
  pinned_ = 0;
  if (n > out_bytes_) n = out_bytes_;
  if (n > 0) output_stalled_since_ = now;
  while (n > 0 && out_head_ < out_.size()) {
    OutItem& item = out_[out_head_];
    const std::size_t take = std::min<std::size_t>(n, item.total() - item.offset);
    item.offset += static_cast<std::uint32_t>(take);
    n -= take;
    out_bytes_ -= take;
    server_.counters_.queued_bytes -= take;
    if (item.offset < item.total()) break;
    if (item.kind == OutKind::disco || item.kind == OutKind::other) {
      const std::size_t packet = item.buffer->size - frame::kHeaderLen - DERP_KEY_LEN;
      server_.counters_.packets_sent++;
      server_.counters_.bytes_sent += packet;
      queued_packets_[item.kind == OutKind::disco ? 0 : 1]--;
      queued_packet_bytes_ -= item.buffer->size;
    } else if (item.kind == OutKind::pong) {
      pong_queued_ = false;
    } else if (item.kind == OutKind::ws_control) {
      ws_control_queued_ = false;
    }
    server_.pool_.give(item.buffer);
    ++out_head_;
  }
  if (out_head_ == out_.size()) {
    out_.clear();
    out_head_ = 0;
    // A burst may have grown the queue; an idle connection should not keep that memory.
    if (out_.capacity() > 64) std::vector<OutItem>().swap(out_);
  } else if (out_head_ >= 32 && out_head_ * 2 >= out_.size()) {
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_head_));
    out_head_ = 0;
  }
  if (out_bytes_ == 0) {
    output_stalled_since_ = kNever;
    if (phase_ == Phase::Closing) phase_ = Phase::Closed;
  }
  // The pong that waited for the previous control item to go.
  if (ws_ && !ws_control_queued_ && phase_ == Phase::Running) queue_websocket_control();
}

Nanos Connection::deadline() const {
  Nanos d = kNever;
  switch (phase_) {
    case Phase::Http:
    case Phase::Handshake:
      d = handshake_deadline_;
      break;
    case Phase::Running:
      d = next_keepalive_;
      break;
    case Phase::Closing:
    case Phase::Closed:
      break;
  }
  const Nanos write_timeout = effective_write_timeout();
  if (phase_ != Phase::Closed && out_bytes_ > 0 && write_timeout > 0 && output_stalled_since_ != kNever) {
    d = std::min(d, output_stalled_since_ + write_timeout);
  }
  return d;
}

Nanos Connection::effective_write_timeout() const {
  // derper gives mesh-key clients 30 s whatever -tcp-write-timeout says (privilegedWriteTimeout): the first flood
  // of PeerPresent frames can be big.
  return can_mesh_ ? kMeshWriteTimeout : server_.options_.write_timeout;
}

void Connection::tick(Nanos now) {
  server_.now_ = now;
  if (phase_ == Phase::Closed) return;
  const Nanos write_timeout = effective_write_timeout();
  if (out_bytes_ > 0 && write_timeout > 0 && output_stalled_since_ != kNever &&
      now >= output_stalled_since_ + write_timeout) {
    server_.counters_.sclient_write_timeouts++;
    if (phase_ == Phase::Closing) {
      // Already closing and the last output will not drain: give up on it.
      release_output(DropReason::gone_disconnected);
      phase_ = Phase::Closed;
      return;
    }
    close(CloseReason::write_timeout, std::to_string(out_bytes_) + " bytes unsent", false);
    return;
  }
  if ((phase_ == Phase::Http || phase_ == Phase::Handshake) && now >= handshake_deadline_) {
    if (phase_ == Phase::Handshake || head_.buffered() > 0) {
      server_.counters_.handshake_failures[static_cast<std::size_t>(HandshakeFailure::timeout)]++;
    }
    close(CloseReason::handshake_timeout,
          phase_ == Phase::Http ? "no complete HTTP request in time" : "no ClientInfo in time", false);
    return;
  }
  if (phase_ == Phase::Running && now >= next_keepalive_) {
    if (!queue_control_frame(frame::FrameType::KeepAlive, {})) return;
    server_.counters_.keepalives_sent++;
    const Nanos period = server_.options_.keepalive_interval + keepalive_jitter_;
    while (next_keepalive_ <= now) next_keepalive_ += period;
  }
}

bool Connection::queue_bytes(Bytes bytes, bool raw, OutKind kind) {
  while (!bytes.empty()) {
    const std::size_t chunk = std::min<std::size_t>(bytes.size(), BufferPool::kClassCapacity[2]);
    OutBuffer* buffer = server_.pool_.take(chunk);
    if (buffer == nullptr) {
      close(CloseReason::out_of_memory, "no buffer for output", false);
      return false;
    }
    std::memcpy(buffer->data(), bytes.data(), chunk);
    buffer->size = static_cast<std::uint32_t>(chunk);
    push_output(buffer, kind, raw);
    bytes = bytes.subspan(chunk);
  }
  return true;
}

bool Connection::queue_control_frame(frame::FrameType type, Bytes payload) {
  OutBuffer* buffer = server_.pool_.take(frame::kHeaderLen + payload.size());
  if (buffer == nullptr) {
    close(CloseReason::out_of_memory, "no buffer for output", false);
    return false;
  }
  frame::write_header(buffer->data(), frame::type_byte(type), static_cast<std::uint32_t>(payload.size()));
  if (!payload.empty()) std::memcpy(buffer->data() + frame::kHeaderLen, payload.data(), payload.size());
  buffer->size = static_cast<std::uint32_t>(frame::kHeaderLen + payload.size());
  push_output(buffer, type == frame::FrameType::Pong ? OutKind::pong : OutKind::control);
  return true;
}

void Connection::push_output(OutBuffer* buffer, OutKind kind, bool raw) {
  std::uint8_t prefix = 0;
  if (websocket_ && !raw) {
    // The frame goes out in binary messages of at most 16 KiB (Go's reader refuses messages over 32 KiB): the
    // first message's header goes into the headroom, the later ones share a static header (see OutItem), so the
    // frame is not copied.
    http::WsHeaderBytes header{};
    const http::WsMessageSplit split = http::split_into_messages(buffer->size);
    prefix = static_cast<std::uint8_t>(ws_->write_binary_header(split.first_len, header));
    if (prefix == 0) {  // the WebSocket is closing: no more data may follow
      server_.pool_.give(buffer);
      return;
    }
    std::memcpy(buffer->data() - prefix, header.data(), prefix);
  }
  if (out_bytes_ == 0) output_stalled_since_ = server_.now_;
  out_.push_back(OutItem{buffer, 0, kind, prefix});
  const std::uint32_t total = out_.back().total();
  out_bytes_ += total;
  server_.counters_.queued_bytes += total;
}

void Connection::queue_packet(OutBuffer* buffer, PacketKind kind) {
  const std::size_t kind_slot = kind_index(kind);
  const std::size_t packet_len = buffer->size - frame::kHeaderLen - DERP_KEY_LEN;
  if (phase_ != Phase::Running) {
    server_.counters_.count_drop(DropReason::gone_disconnected, kind_slot, packet_len);
    server_.pool_.give(buffer);
    return;
  }
  const OutKind out_kind = kind == PacketKind::disco ? OutKind::disco : OutKind::other;
  // Oldest droppable packet of a kind: not started and not handed to the host for a write in flight.
  auto oldest = [&](bool any_kind) -> std::size_t {
    for (std::size_t i = out_head_ + std::max<std::size_t>(pinned_, 1); i < out_.size(); ++i) {
      const OutKind k = out_[i].kind;
      if ((k == OutKind::disco || k == OutKind::other) && (any_kind || k == out_kind)) return i;
    }
    return SIZE_MAX;
  };
  // Tailscale's policy (reference §4.3): a full queue loses its oldest packet, never blocks the sender.
  // Mesh peers are exempt from the per-client queue limits (derper writes to them without a queue), within a
  // bound of their own: kMeshQueueBytes.
  const std::size_t max_packets = can_mesh_ ? SIZE_MAX : server_.options_.queue_packets;
  const std::size_t max_bytes = can_mesh_ ? std::max(kMeshQueueBytes, server_.options_.queue_bytes)
                                          : server_.options_.queue_bytes;
  while (queued_packets_[kind_slot] >= max_packets) {
    const std::size_t victim = oldest(false);
    if (victim == SIZE_MAX) {
      server_.counters_.count_drop(DropReason::queue_tail, kind_slot, packet_len);
      server_.pool_.give(buffer);
      return;
    }
    drop_queued(victim, DropReason::queue_head);
  }
  while (queued_packet_bytes_ + buffer->size > max_bytes) {
    const std::size_t victim = oldest(true);
    if (victim == SIZE_MAX) {
      server_.counters_.count_drop(DropReason::queue_bytes, kind_slot, packet_len);
      server_.pool_.give(buffer);
      return;
    }
    drop_queued(victim, DropReason::queue_bytes);
  }
  queued_packets_[kind_slot]++;
  queued_packet_bytes_ += buffer->size;
  push_output(buffer, out_kind);
}

void Connection::drop_queued(std::size_t index, DropReason reason) {
  const OutItem item = out_[index];
  const std::size_t slot = item.kind == OutKind::disco ? 0 : 1;
  const std::size_t packet_len = item.buffer->size - frame::kHeaderLen - DERP_KEY_LEN;
  server_.counters_.count_drop(reason, slot, packet_len);
  queued_packets_[slot]--;
  queued_packet_bytes_ -= item.buffer->size;
  out_bytes_ -= item.total();
  server_.counters_.queued_bytes -= item.total();
  server_.pool_.give(item.buffer);
  out_.erase(out_.begin() + static_cast<std::ptrdiff_t>(index));
}

void Connection::release_output(DropReason reason_for_packets) {
  for (std::size_t i = out_head_; i < out_.size(); ++i) {
    const OutItem& item = out_[i];
    if (item.kind == OutKind::disco || item.kind == OutKind::other) {
      const std::size_t slot = item.kind == OutKind::disco ? 0 : 1;
      server_.counters_.count_drop(reason_for_packets, slot, item.buffer->size - frame::kHeaderLen - DERP_KEY_LEN);
    }
    server_.pool_.give(item.buffer);
  }
  server_.counters_.queued_bytes -= out_bytes_;
  std::vector<OutItem>().swap(out_);
  out_head_ = 0;
  out_bytes_ = 0;
  pinned_ = 0;
  queued_packets_[0] = queued_packets_[1] = 0;
  queued_packet_bytes_ = 0;
  pong_queued_ = false;
  ws_control_queued_ = false;
  output_stalled_since_ = kNever;
}

void Connection::close(CloseReason reason, std::string detail, bool flush) {
  if (phase_ == Phase::Closing || phase_ == Phase::Closed) return;
  close_reason_ = reason;
  close_detail_ = std::move(detail);
  // Plain HTTP traffic (probes, captive-portal checks, scanners) would drown the log: only DERP clients' ends
  // are worth an Info line.
  const bool derp_client = phase_ == Phase::Handshake || phase_ == Phase::Running;
  server_.log_connection_line(
      derp_client ? LogLevel::Info : LogLevel::Debug,
      name() + ": closing: " + std::string(close_reason_text(reason)) + (close_detail_.empty() ? "" : ": " + close_detail_),
      false, derp_client);
  if (registered_) server_.unregister_client(this);
  if (watcher_) {
    auto& w = server_.watchers_;
    w.erase(std::remove(w.begin(), w.end(), this), w.end());
    watcher_ = false;
  }
  head_.reset();
  reader_.reset();
  server_.note_partial_frame(partial_frame_held_, 0);
  partial_frame_held_ = 0;
  if (ws_ && flush && ws_->can_send()) {
    // A WebSocket ends with a close frame after whatever is queued (1001: the server is going away).
    ws_->close(reason == CloseReason::server_shutdown ? http::kWsCloseGoingAway : http::kWsCloseNormal);
    queue_websocket_control(/*force=*/true);
  }
  if (flush && out_bytes_ > 0) {
    phase_ = Phase::Closing;
  } else {
    release_output(DropReason::gone_disconnected);
    phase_ = Phase::Closed;
  }
  server_.mark_ready(this);
}

std::string Connection::name() const {
  std::string n;
  if (registered_ || phase_ == Phase::Running) n = crypto::short_string(crypto::NodePublic(key_)) + " ";
  return n + format_addr(remote_);
}

void Connection::log(LogLevel level, const std::string& text) const {
  if (server_.options_.log) server_.options_.log(level, name() + ": " + text);
}

}  // namespace derp::server
