// The DERP phase of a server connection: the ClientInfo handshake, then every frame a client may send
// (reference §2.2, §3, §4).
#include <algorithm>
#include <cstring>

#include "common/hex.hpp"
#include "crypto/key_text.hpp"
#include "crypto/secure_bytes.hpp"
#include "crypto/sealed_info.hpp"
#include "crypto/server_info.hpp"
#include "frame/decode.hpp"
#include "frame/encode.hpp"
#include "frame/header.hpp"
#include "server/connection.hpp"
#include "server/server.hpp"

namespace derp::server {

namespace {
void count_handshake_failure(Counters& c, HandshakeFailure f) { c.handshake_failures[static_cast<std::size_t>(f)]++; }

// The largest frame a client may send that the server does not handle (unknown types, and types only a server
// sends, like KeepAlive, or a second ClientInfo): skipped unstored up to this length, a violation beyond it. The
// size of the largest frame a regular client sends (SendPacket with a full packet), as in Tailscale's
// derpserver.go maxUnknownFrameLen; v1.36.2 skipped any length, which let a client make the server read forever.
constexpr std::uint32_t kMaxSkippedFrameLen = DERP_MAX_PACKET_SIZE + DERP_KEY_LEN;

// Go's key.DERPMesh (types/key/derp.go UnmarshalJSON): exactly 64 hex digits, either case, decoded to 32 bytes.
// Anything else in "meshKey", "" and null included, fails the JSON decode and with it the handshake.
bool decode_mesh_key(std::string_view text, std::uint8_t out[32]) { return text.size() == 64 && read_hex(text, out, 32); }
}  // namespace

frame::HeaderVerdict Connection::judge_header(const void* self, const frame::FrameHeader& h) {
  // The reader calls back synchronously from inside this connection's own receive(), so the cast is to the
  // connection that set the filter, not a copy.
  auto* c = const_cast<Connection*>(static_cast<const Connection*>(self));
  using V = frame::HeaderVerdict;
  if (c->phase_ == Phase::Handshake) {
    // derpserver.go recvClientKey: the first frame must be ClientInfo, judged by its header alone.
    if (h.type == frame::type_byte(frame::FrameType::ClientInfo)) return V::keep;
    c->refused_header_ = h;
    return V::refuse;
  }
  switch (static_cast<frame::FrameType>(h.type)) {
    case frame::FrameType::SendPacket:
    case frame::FrameType::NotePreferred:
    case frame::FrameType::Ping:
      return V::keep;  // held to their protocol limits by the reader
    case frame::FrameType::ForwardPacket:
    case frame::FrameType::WatchConns:
    case frame::FrameType::ClosePeer:
      if (c->can_mesh_) return V::keep;
      c->refused_header_ = h;  // derpserver.go: "insufficient permissions", before reading the payload
      return V::refuse;
    default:
      if (h.payload_len <= kMaxSkippedFrameLen) return V::discard;
      c->refused_header_ = h;
      return V::refuse;
  }
}

int Connection::on_refused_header(Nanos now) {
  (void)now;
  const frame::FrameHeader h = refused_header_;
  const std::string name = frame::frame_type_name(h.type);
  if (phase_ == Phase::Handshake) {
    count_handshake_failure(server_.counters_, HandshakeFailure::not_client_info);
    close(CloseReason::bad_handshake, "first frame was " + name, false);
    return DERP_ERR_FRAME_TYPE;
  }
  const bool mesh_frame = h.type == frame::type_byte(frame::FrameType::ForwardPacket) ||
                          h.type == frame::type_byte(frame::FrameType::WatchConns) ||
                          h.type == frame::type_byte(frame::FrameType::ClosePeer);
  if (mesh_frame) {
    close(CloseReason::protocol_error, name + " from a client without mesh rights", false);
    return DERP_ERR_FRAME_TYPE;
  }
  close(CloseReason::protocol_error,
        "frame type " + std::to_string(h.type) + " (" + name + ") too large to skip: " +
            std::to_string(h.payload_len) + " bytes",
        false);
  return DERP_ERR_FRAME_TOO_LARGE;
}

int Connection::on_frame(const frame::Frame& f, Nanos now) {
  if (phase_ == Phase::Handshake) return on_client_info(f, now);

  last_frame_at_ = now;
  server_.make_active_if_duplicate(this);
  switch (static_cast<frame::FrameType>(f.type)) {
    case frame::FrameType::SendPacket:
      return on_send_packet(f.payload, now);
    case frame::FrameType::ForwardPacket:
      return on_forward_packet(f.payload, now);
    case frame::FrameType::NotePreferred:
      return on_note_preferred(f.payload, now);
    case frame::FrameType::Ping:
      return on_ping(f.payload);
    case frame::FrameType::WatchConns:
      return on_watch_conns(f.payload);
    case frame::FrameType::ClosePeer:
      return on_close_peer(f.payload, now);
    default:
      // Anything else (unknown types, and types a client has no business sending, like Pong or a second
      // ClientInfo) is read and skipped, as Tailscale's server does (reference §2.2 "Unknown types").
      server_.counters_.unknown_frames++;
      server_.counters_.discarded_frame_bytes += f.discarded ? f.discarded_len : f.payload.size();
      return DERP_OK;
  }
}

int Connection::on_client_info(const frame::Frame& f, Nanos now) {
  Counters& counters = server_.counters_;
  if (f.type != frame::type_byte(frame::FrameType::ClientInfo)) {
    count_handshake_failure(counters, HandshakeFailure::not_client_info);
    close(CloseReason::bad_handshake, std::string("first frame was ") + frame::frame_type_name(f.type), false);
    return DERP_ERR_FRAME_TYPE;
  }
  crypto::NodePublic client;
  crypto::ClientInfo info;
  const int rc = crypto::open_client_info(server_.options_.private_key, f.payload, &client, &info);
  if (rc != DERP_OK) {
    count_handshake_failure(counters, rc == DERP_ERR_BOX_OPEN  ? HandshakeFailure::box
                                      : rc == DERP_ERR_BAD_JSON ? HandshakeFailure::json
                                                                : HandshakeFailure::frame);
    close(CloseReason::bad_handshake, std::string("ClientInfo: ") + derp_strerror(rc), false);
    return rc;
  }
  // A meshKey present but not a key ("", null, not 64 hex digits) is a JSON error to Tailscale's server, whether
  // or not it has a mesh key itself (types/key/derp.go; the reference's pitfall §9.4).
  std::uint8_t client_mesh[32] = {};
  if (info.mesh_key && !decode_mesh_key(*info.mesh_key, client_mesh)) {
    count_handshake_failure(counters, HandshakeFailure::mesh_key);
    close(CloseReason::bad_handshake, "ClientInfo: meshKey is not 64 hex digits", false);
    return DERP_ERR_BAD_JSON;
  }
  // Every honest ClientInfo is sealed with a fresh random nonce: one seen before for this key is a replay
  // (replay_cache.hpp says what this does and does not protect against).
  frame::Nonce nonce{};
  std::memcpy(nonce.data(), f.payload.data() + DERP_KEY_LEN, nonce.size());
  const bool fresh = server_.replay_cache_.check_and_remember(client.bytes(), nonce);
  counters.replay_cache_keys = server_.replay_cache_.keys();
  counters.replay_cache_evictions = server_.replay_cache_.evictions();
  if (!fresh) {
    counters.client_info_replays++;
    count_handshake_failure(counters, HandshakeFailure::replay);
    close(CloseReason::bad_handshake,
          "replayed ClientInfo from " + crypto::short_string(client) + ": its nonce was seen before; refused", false);
    return DERP_ERR_BOX_OPEN;
  }
  key_ = client.bytes();
  is_prober_ = info.is_prober;
  // Mesh rights: the server has a mesh key and the client presented the same one (compared in constant time).
  std::uint8_t server_mesh[32] = {};
  const auto& mesh = server_.options_.mesh_key;
  can_mesh_ = mesh && info.mesh_key && decode_mesh_key(*mesh, server_mesh) &&
              crypto::equal_in_constant_time(Bytes(client_mesh), Bytes(server_mesh));
  crypto::wipe(MutableBytes(client_mesh));
  crypto::wipe(MutableBytes(server_mesh));
  if (!can_mesh_ && server_.options_.admit && !server_.options_.admit(client, remote_)) {
    count_handshake_failure(counters, HandshakeFailure::denied);
    close(CloseReason::denied, "client key not admitted", false);
    return DERP_OK;
  }
  app_name_ = info.app_name;
  if (!can_mesh_ && server_.options_.admit_async) {
    switch (server_.options_.admit_async(id_, client, remote_)) {
      case ServerOptions::Admission::Allow:
        break;
      case ServerOptions::Admission::Deny:
        count_handshake_failure(counters, HandshakeFailure::denied);
        close(CloseReason::denied, "client key not admitted", false);
        return DERP_OK;
      case ServerOptions::Admission::Pending:
        admission_pending_ = true;  // Server::finish_admission continues at finish_handshake
        return DERP_OK;
    }
  }
  return finish_handshake(now);
}

int Connection::hold_input(Bytes in) {
  if (held_input_.size() + in.size() > kMaxHeldInputBeforeAdmission) {
    close(CloseReason::protocol_error, "sent more than " + std::to_string(kMaxHeldInputBeforeAdmission) +
                                           " bytes before it was admitted", false);
    return DERP_ERR_FRAME_TOO_LARGE;
  }
  held_input_.insert(held_input_.end(), in.begin(), in.end());
  return DERP_OK;
}

int Connection::finish_handshake(Nanos now) {
  Counters& counters = server_.counters_;
  phase_ = Phase::Running;
  handshake_deadline_ = kNever;
  next_keepalive_ = now + server_.options_.keepalive_interval + keepalive_jitter_;
  server_.register_client(this);
  counters.accepts++;
  if (websocket_) counters.websocket_accepts++;

  crypto::ServerInfo server_info;
  server_info.version = crypto::kInfoProtocolVersion;
  std::vector<std::uint8_t> sealed;
  crypto::Nonce info_nonce{};
  server_.options_.random(MutableBytes(info_nonce));
  const int seal_rc = crypto::seal_server_info(server_.options_.private_key, crypto::NodePublic(key_), server_info,
                                               &sealed, &info_nonce);
  if (seal_rc != DERP_OK) {
    close(CloseReason::out_of_memory, std::string("sealing ServerInfo: ") + derp_strerror(seal_rc), false);
    return seal_rc;
  }
  if (!queue_control_frame(frame::FrameType::ServerInfo, Bytes(sealed))) return DERP_ERR_NO_MEMORY;
  server_.log_connection_line(LogLevel::Info,
                              name() + ": connected" + (can_mesh_ ? " (mesh peer)" : "") +
                                  (app_name_.empty() ? "" : ", app " + app_name_),
                              true, false);
  return DERP_OK;
}

int Connection::on_send_packet(Bytes payload, Nanos now) {
  (void)now;
  frame::SendPacketFrame msg;
  const int rc = frame::decode(payload, &msg);
  if (rc != DERP_OK) {
    close(CloseReason::protocol_error, std::string("SendPacket: ") + derp_strerror(rc), false);
    return rc;
  }
  server_.route_packet(this, key_, msg.dst, msg.packet, false);
  return DERP_OK;
}

int Connection::on_forward_packet(Bytes payload, Nanos now) {
  (void)now;
  if (!can_mesh_) {
    close(CloseReason::protocol_error, "ForwardPacket from a client without mesh rights", false);
    return DERP_ERR_FRAME_TYPE;
  }
  frame::ForwardPacketFrame msg;
  const int rc = frame::decode(payload, &msg);
  if (rc != DERP_OK) {
    close(CloseReason::protocol_error, std::string("ForwardPacket: ") + derp_strerror(rc), false);
    return rc;
  }
  server_.route_packet(this, msg.src, msg.dst, msg.packet, true);
  return DERP_OK;
}

int Connection::on_note_preferred(Bytes payload, Nanos now) {
  frame::NotePreferredFrame msg;
  const int rc = frame::decode(payload, &msg);
  if (rc != DERP_OK) {
    close(CloseReason::protocol_error, std::string("NotePreferred: ") + derp_strerror(rc), false);
    return rc;
  }
  const bool preferred = msg.preferred != 0;
  if (preferred == preferred_) return DERP_OK;
  preferred_ = preferred;
  Counters& c = server_.counters_;
  if (preferred) {
    c.current_home_connections++;
  } else {
    c.current_home_connections--;
  }
  // Moves right after connecting are a client settling in, not moving (derp server: 5 s grace).
  if (now - connected_at_ > 5 * kSecond) {
    if (preferred) {
      c.home_moves_in++;
    } else {
      c.home_moves_out++;
    }
  }
  return DERP_OK;
}

int Connection::on_ping(Bytes payload) {
  frame::PingFrame msg;
  const int rc = frame::decode(payload, &msg);
  if (rc != DERP_OK) {
    close(CloseReason::protocol_error, std::string("Ping: ") + derp_strerror(rc), false);
    return rc;
  }
  server_.counters_.got_ping++;
  // One pong slot: while a pong waits to be written, further pings get none (reference §4.3).
  if (pong_queued_) return DERP_OK;
  if (!queue_control_frame(frame::FrameType::Pong, msg.data.first(DERP_PING_DATA_LEN))) return DERP_ERR_NO_MEMORY;
  pong_queued_ = true;
  server_.counters_.sent_pong++;
  return DERP_OK;
}

int Connection::on_watch_conns(Bytes payload) {
  if (!can_mesh_) {
    close(CloseReason::protocol_error, "WatchConns from a client without mesh rights", false);
    return DERP_ERR_FRAME_TYPE;
  }
  frame::WatchConnsFrame msg;
  const int rc = frame::decode(payload, &msg);
  if (rc != DERP_OK) {
    close(CloseReason::protocol_error, std::string("WatchConns: ") + derp_strerror(rc), false);
    return rc;
  }
  // A node meshing with itself (same key as the server) is ignored, as derper does.
  if (key_ == server_.public_key_raw_ || watcher_) return DERP_OK;
  watcher_ = true;
  server_.watchers_.push_back(this);
  for (const auto& [key, set] : server_.clients_) {
    for (Connection* c : set.all) server_.send_peer_present(this, c);
  }
  return DERP_OK;
}

int Connection::on_close_peer(Bytes payload, Nanos now) {
  if (!can_mesh_) {
    close(CloseReason::protocol_error, "ClosePeer from a client without mesh rights", false);
    return DERP_ERR_FRAME_TYPE;
  }
  frame::ClosePeerFrame msg;
  const int rc = frame::decode(payload, &msg);
  if (rc != DERP_OK) {
    close(CloseReason::protocol_error, std::string("ClosePeer: ") + derp_strerror(rc), false);
    return rc;
  }
  server_.close_key(msg.key, now);
  return DERP_OK;
}

}  // namespace derp::server
