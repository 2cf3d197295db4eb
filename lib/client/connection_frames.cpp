// The DERP stream from the server: frames cut from the raw bytes or from WebSocket messages, the ServerKey
// greeting that completes our handshake, then every frame a server may send (reference §2.2, §3; Tailscale
// derp/derp_client.go recvServerKey and Recv).
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "client/connection.hpp"
#include "crypto/sealed_info.hpp"
#include "frame/decode.hpp"
#include "frame/header.hpp"
#include "frame/limits.hpp"

namespace derp::client {

namespace {

// Control frames answering the server (pongs) may use this much room past max_pending_output (as in
// connection.cpp); beyond it the answer is dropped rather than let a ping flood grow the output.
constexpr std::size_t kPongReserve = 16 * 1024;

std::string type_text(std::uint8_t type) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", type);
  return std::string(frame::frame_type_name(type)) + " (" + hex + ")";
}

}  // namespace

int ClientConnection::on_stream_bytes(Bytes in, Nanos now) {
  return ws_ ? on_websocket_bytes(in, now) : on_frame_bytes(in, now);
}

int ClientConnection::on_websocket_bytes(Bytes in, Nanos now) {
  // WebSocket messages are one byte stream; frames are cut from it exactly as on a raw connection (§1.4, §9.11).
  std::size_t used = 0;
  const int r = ws_->feed(in, &used, [&](Bytes piece) {
    on_frame_bytes(piece, now);
    return closed() ? DERP_ERR_CLOSED : DERP_OK;
  });
  if (closed()) return close_error_;
  if (r == 0) {
    flush_websocket_control(false);  // pongs to the server's WebSocket pings
    return DERP_OK;
  }
  if (r == 1) {
    return fail(DERP_ERR_PEER_CLOSED,
                "the server closed the WebSocket (status " + std::to_string(ws_->peer_close_code()) + ")", now);
  }
  return fail(r, "WebSocket: " + ws_->detail(), now);
}

int ClientConnection::on_frame_bytes(Bytes in, Nanos now) {
  while (!in.empty() && !closed()) {
    // The greeting must be a ServerKey frame (derp_client.go recvServerKey): judge the type byte at once rather
    // than buffer up to 1 MiB of something else first.
    if (phase_ == ClientPhase::ServerKey && reader_.buffered_bytes() == 0 &&
        in[0] != frame::type_byte(frame::FrameType::ServerKey)) {
      return fail(DERP_ERR_PROTOCOL, "the server's first frame is " + type_text(in[0]) + ", not ServerKey", now);
    }
    std::size_t used = 0;
    frame::Frame f;
    const int r = reader_.next(in, &used, &f);
    remember_recent(in.first(used));
    if (r < 0) {
      std::string detail = "frame stream: " + std::string(derp_strerror(r));
      if (r == DERP_ERR_FRAME_TOO_LARGE && recent_len_ == frame::kHeaderLen) {
        // The reader judges a header as soon as its 5th byte arrives: the refused header is the last 5 bytes.
        const frame::FrameHeader h = frame::parse_header(recent_.data());
        detail = type_text(h.type) + " frame header announces " + std::to_string(h.payload_len) +
                 " bytes, over the limit of " +
                 std::to_string(std::min(frame::max_payload_len(h.type), reader_.max_frame_len()));
      }
      return fail(r, std::move(detail), now);
    }
    in = in.subspan(used);
    if (r == 0) break;
    on_frame(f, now);
  }
  return closed() ? close_error_ : DERP_OK;
}

void ClientConnection::remember_recent(Bytes taken) {
  // Only the last kHeaderLen bytes matter, so this costs a few byte copies per read whatever its size.
  if (taken.size() >= recent_.size()) {
    std::memcpy(recent_.data(), taken.data() + taken.size() - recent_.size(), recent_.size());
    recent_len_ = recent_.size();
    return;
  }
  const std::size_t keep = std::min(recent_len_, recent_.size() - taken.size());
  std::memmove(recent_.data(), recent_.data() + recent_len_ - keep, keep);
  if (!taken.empty()) std::memcpy(recent_.data() + keep, taken.data(), taken.size());
  recent_len_ = keep + taken.size();
}

int ClientConnection::malformed(std::uint8_t type, Bytes payload, int error, Nanos now) {
  return fail(error,
              type_text(type) + " frame of " + std::to_string(payload.size()) + " bytes: " + derp_strerror(error), now);
}

int ClientConnection::on_frame(const frame::Frame& f, Nanos now) {
  if (phase_ == ClientPhase::ServerKey) return on_server_key(f, now);

  using frame::FrameType;
  switch (static_cast<FrameType>(f.type)) {
    case FrameType::RecvPacket: {
      frame::RecvPacketFrame m;
      if (const int rc = frame::decode(f.payload, &m); rc != DERP_OK) return malformed(f.type, f.payload, rc, now);
      counters_.packets_received++;
      counters_.bytes_received += m.packet.size();
      events_->on_packet(crypto::NodePublic(m.src), m.packet);
      return DERP_OK;
    }
    case FrameType::KeepAlive:
      counters_.keepalives_received++;  // arrival alone is the point: last_receive_at_ moved in receive()
      return DERP_OK;
    case FrameType::Ping: {
      frame::PingFrame m;
      if (const int rc = frame::decode(f.payload, &m); rc != DERP_OK) return malformed(f.type, f.payload, rc, now);
      // We promised CanAckPings: echo the first 8 bytes (§2.2). A jammed output drops the answer instead.
      if (pending_bytes() + frame::kHeaderLen + DERP_PING_DATA_LEN > options_.max_pending_output + kPongReserve) {
        return DERP_OK;
      }
      if (queue_frame(FrameType::Pong, m.data.first(DERP_PING_DATA_LEN))) counters_.server_pings_answered++;
      return DERP_OK;
    }
    case FrameType::Pong: {
      frame::PongFrame m;
      if (const int rc = frame::decode(f.payload, &m); rc != DERP_OK) return malformed(f.type, f.payload, rc, now);
      return on_pong(m.data.first(DERP_PING_DATA_LEN), now);
    }
    case FrameType::PeerGone: {
      frame::PeerGoneFrame m;
      if (const int rc = frame::decode(f.payload, &m); rc != DERP_OK) return malformed(f.type, f.payload, rc, now);
      events_->on_peer_gone(crypto::NodePublic(m.key), m.reason);  // the 32-byte form decodes as DISCONNECTED
      return DERP_OK;
    }
    case FrameType::PeerPresent: {
      frame::PeerPresentFrame m;
      if (const int rc = frame::decode(f.payload, &m); rc != DERP_OK) return malformed(f.type, f.payload, rc, now);
      const derp_addr endpoint = m.has_endpoint ? m.endpoint : derp_addr{};
      events_->on_peer_present(crypto::NodePublic(m.key), endpoint, m.has_flags ? m.flags : std::uint8_t{0});
      return DERP_OK;
    }
    case FrameType::Health: {
      frame::HealthFrame m;
      if (const int rc = frame::decode(f.payload, &m); rc != DERP_OK) return malformed(f.type, f.payload, rc, now);
      events_->on_health(std::string_view(reinterpret_cast<const char*>(m.text.data()), m.text.size()));
      return DERP_OK;
    }
    case FrameType::Restarting: {
      frame::RestartingFrame m;
      if (const int rc = frame::decode(f.payload, &m); rc != DERP_OK) return malformed(f.type, f.payload, rc, now);
      events_->on_restarting(Nanos{m.reconnect_in_ms} * kMillisecond, Nanos{m.try_for_ms} * kMillisecond);
      return DERP_OK;
    }
    case FrameType::ServerInfo:
      return on_server_info_frame(f.payload, now);
    default:
      // Unknown types, a second ServerKey (which a fast-start client of Go's always gets, §9.2) and types only a
      // client sends: skipped, as Go's client does.
      counters_.unknown_frames++;
      return DERP_OK;
  }
}

int ClientConnection::on_server_key(const frame::Frame& f, Nanos now) {
  if (f.type != frame::type_byte(frame::FrameType::ServerKey)) {
    return fail(DERP_ERR_PROTOCOL, "the server's first frame is " + type_text(f.type) + ", not ServerKey", now);
  }
  frame::ServerKeyFrame m;
  if (const int rc = frame::decode(f.payload, &m); rc != DERP_OK) {
    return fail(rc,
                rc == DERP_ERR_FRAME_BAD_MAGIC
                    ? std::string("ServerKey frame does not start with the DERP magic")
                    : "ServerKey frame of " + std::to_string(f.payload.size()) + " bytes: " + derp_strerror(rc),
                now);
  }
  const crypto::NodePublic key(m.key);
  if (options_.expected_server_key && !(key == *options_.expected_server_key)) {
    return fail(DERP_ERR_SERVER_KEY_MISMATCH, "the ServerKey frame carries another key than the expected one", now);
  }
  server_key_ = key;
  std::vector<std::uint8_t> sealed;
  crypto::Nonce nonce{};
  options_.random(MutableBytes(nonce));
  if (const int rc = crypto::seal_client_info(options_.private_key, server_key_, options_.info, &sealed, &nonce);
      rc != DERP_OK) {
    return fail(rc, "sealing ClientInfo to the server's key: " + std::string(derp_strerror(rc)), now);
  }
  // Queued whatever the cap: it is bounded by our own options, and without it there is no connection.
  // The sealed payload already starts with our public key (crypto/sealed_info.hpp).
  if (!queue_frame(frame::FrameType::ClientInfo, Bytes(sealed))) {
    return fail(DERP_ERR_WS_NOT_OPEN, "the WebSocket cannot send the ClientInfo frame", now);
  }
  phase_ = ClientPhase::Running;
  handshake_deadline_ = kNever;
  // Like Go's client we do not wait for ServerInfo (§9.6): sends are allowed from here.
  events_->on_connected(server_key_);
  return DERP_OK;
}

int ClientConnection::on_server_info_frame(Bytes payload, Nanos now) {
  crypto::ServerInfo info;
  if (const int rc = crypto::open_server_info(options_.private_key, server_key_, payload, &info); rc != DERP_OK) {
    // Go's Recv fails for good on a ServerInfo it cannot open or parse (§3, "Failure handling (client)").
    return fail(rc,
                "ServerInfo frame of " + std::to_string(payload.size()) + " bytes: " + std::string(derp_strerror(rc)),
                now);
  }
  bucket_on_ = options_.honour_server_rate_limit && info.token_bucket_bytes_per_second > 0;
  if (bucket_on_) {
    // rate.NewLimiter(rate, burst) as derp_client.go setSendRateLimiter builds it: starts full.
    bucket_rate_per_ns_ = static_cast<double>(info.token_bucket_bytes_per_second) / static_cast<double>(kSecond);
    bucket_burst_ = static_cast<double>(std::max<std::int64_t>(info.token_bucket_bytes_burst, 0));
    bucket_tokens_ = bucket_burst_;
    bucket_at_ = now;
  }
  server_info_ = info;
  events_->on_server_info(info);
  return DERP_OK;
}

int ClientConnection::on_pong(Bytes data, Nanos now) {
  auto it = std::find_if(pings_.begin(), pings_.end(), [&](const PendingPing& p) {
    return std::memcmp(p.data.data(), data.data(), p.data.size()) == 0;
  });
  if (it == pings_.end()) {
    counters_.pongs_unmatched++;  // late (already timed out), or not ours
    return DERP_OK;
  }
  const PendingPing p = *it;
  pings_.erase(it);  // before the event: the handler may ping again
  counters_.pongs_matched++;
  if (!p.keepalive) events_->on_ping_result(p.id, DERP_OK, now >= p.sent_at ? now - p.sent_at : 0);
  return DERP_OK;
}

}  // namespace derp::client
