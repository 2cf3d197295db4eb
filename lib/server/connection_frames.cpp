// The DERP phase of a server connection: the ClientInfo handshake, then every frame a client may send
// (reference §2.2, §3, §4).
#include <algorithm>
#include <cstring>

#include <sodium.h>

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
}  // namespace

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
  key_ = client.bytes();
  is_prober_ = info.is_prober;
  // Mesh rights: the server has a mesh key and the client presented the same one (compared in constant time).
  const auto& mesh = server_.options_.mesh_key;
  can_mesh_ = mesh && info.mesh_key && info.mesh_key->size() == mesh->size() &&
              sodium_memcmp(info.mesh_key->data(), mesh->data(), mesh->size()) == 0;
  if (!can_mesh_ && server_.options_.admit && !server_.options_.admit(client, remote_)) {
    count_handshake_failure(counters, HandshakeFailure::denied);
    close(CloseReason::denied, "client key not admitted", false);
    return DERP_OK;
  }

  phase_ = Phase::Running;
  handshake_deadline_ = kNever;
  next_keepalive_ = now + server_.options_.keepalive_interval + keepalive_jitter_;
  server_.register_client(this);
  counters.accepts++;
  if (websocket_) counters.websocket_accepts++;

  crypto::ServerInfo server_info;
  server_info.version = crypto::kInfoProtocolVersion;
  std::vector<std::uint8_t> sealed;
  const int seal_rc = crypto::seal_server_info(server_.options_.private_key, client, server_info, &sealed);
  if (seal_rc != DERP_OK) {
    close(CloseReason::out_of_memory, std::string("sealing ServerInfo: ") + derp_strerror(seal_rc), false);
    return seal_rc;
  }
  if (!queue_control_frame(frame::FrameType::ServerInfo, Bytes(sealed))) return DERP_ERR_NO_MEMORY;
  log(LogLevel::Info, std::string("connected") + (can_mesh_ ? " (mesh peer)" : "") +
                          (info.app_name.empty() ? "" : ", app " + info.app_name));
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
