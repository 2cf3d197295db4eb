// Everything an operator watches on a DERP server, listed once. The Prometheus page, the core's API and (later)
// the C metrics snapshot are generated from these lists. Names follow derper's expvar names where one exists
// (reference §4.11) so existing dashboards keep working.
#pragma once

#include <array>
#include <cstdint>

namespace derp::server {

// XX(member, prometheus name, type, help)
#define DERP_SERVER_COUNTER_MAP(XX)                                                                             \
  XX(accepts, "derp_accepts", "counter", "connections that completed the DERP handshake")                      \
  XX(http_requests, "derp_http_requests", "counter", "HTTP requests read (upgrades and plain endpoints)")       \
  XX(current_connections, "derp_current_connections", "gauge", "open connections, any state")                 \
  XX(current_clients, "derp_clients_local", "gauge", "connections past the DERP handshake")                    \
  XX(current_home_connections, "derp_current_home_connections", "gauge", "clients that said this is home")     \
  XX(current_dup_client_keys, "derp_current_dup_client_keys", "gauge", "keys with more than one connection")   \
  XX(total_dup_client_conns, "derp_total_dup_client_conns", "counter", "connections that joined a busy key")   \
  XX(websocket_accepts, "derp_websocket_accepts", "counter", "DERP handshakes over WebSocket")                 \
  XX(packets_received, "derp_packets_received", "counter", "packets received from clients (SendPacket)")       \
  XX(bytes_received, "derp_bytes_received", "counter", "packet bytes received from clients")                   \
  XX(packets_sent, "derp_packets_sent", "counter", "packets written to clients (RecvPacket)")                  \
  XX(bytes_sent, "derp_bytes_sent", "counter", "packet bytes written to clients")                              \
  XX(packets_forwarded_in, "derp_packets_forwarded_in", "counter", "packets received from mesh peers")         \
  XX(packets_forwarded_out, "derp_packets_forwarded_out", "counter", "packets handed to a mesh link")         \
  XX(clients_remote, "derp_clients_remote", "gauge", "keys reachable only through a mesh peer")               \
  XX(unknown_frames, "derp_unknown_frames", "counter", "frames of unknown type read and skipped")              \
  XX(got_ping, "derp_got_ping", "counter", "Ping frames received")                                             \
  XX(sent_pong, "derp_sent_pong", "counter", "Pong frames queued")                                             \
  XX(keepalives_sent, "derp_keepalives_sent", "counter", "KeepAlive frames queued")                            \
  XX(peer_gone_disconnected_frames, "derp_peer_gone_disconnected_frames", "counter", "PeerGone(disconnected)") \
  XX(peer_gone_not_here_frames, "derp_peer_gone_not_here_frames", "counter", "PeerGone(not here)")             \
  XX(home_moves_in, "derp_home_moves_in", "counter", "clients that made this their home")                      \
  XX(home_moves_out, "derp_home_moves_out", "counter", "clients that stopped calling this home")               \
  XX(sclient_write_timeouts, "derp_sclient_write_timeouts", "counter", "connections closed by write timeout")  \
  XX(queued_bytes, "derp_queued_bytes", "gauge", "bytes waiting in send queues, all connections")              \
  XX(client_info_replays, "derp_client_info_replays", "counter", "ClientInfo frames refused as replays")        \
  XX(replay_cache_keys, "derp_replay_cache_keys", "gauge", "client keys whose ClientInfo nonces are remembered") \
  XX(replay_cache_evictions, "derp_replay_cache_evictions", "counter", "idle keys forgotten by the replay cache") \
  XX(partial_frame_bytes, "derp_partial_frame_bytes", "gauge", "memory held for incomplete frames, all connections") \
  XX(partial_frame_budget_closes, "derp_partial_frame_budget_closes", "counter",                              \
     "connections closed for holding more than their share of the incomplete-frame budget")                    \
  XX(discarded_frame_bytes, "derp_discarded_frame_bytes", "counter", "payload bytes of skipped frames, not stored") \
  XX(stun_requests, "stun_requests", "counter", "STUN binding requests answered")                              \
  XX(stun_not_stun, "stun_not_stun", "counter", "UDP datagrams dropped as not a STUN binding request")         \
  XX(stun_ipv4, "stun_addrfamily_ipv4", "counter", "STUN requests over IPv4")                                  \
  XX(stun_ipv6, "stun_addrfamily_ipv6", "counter", "STUN requests over IPv6")

// Why a connection was refused or closed during the handshake. XX(member, label)
#define DERP_SERVER_HANDSHAKE_FAILURE_MAP(XX) \
  XX(bad_http, "bad_http")                    \
  XX(timeout, "timeout")                      \
  XX(not_client_info, "not_client_info")      \
  XX(frame, "frame")                          \
  XX(box, "box")                              \
  XX(json, "json")                            \
  XX(denied, "denied")                        \
  XX(replay, "replay")                        \
  XX(mesh_key, "mesh_key")                    \
  XX(too_many_connections, "too_many_connections")

// Why a packet was dropped (reference §4.3 labels). XX(member, label)
#define DERP_SERVER_DROP_REASON_MAP(XX)   \
  XX(unknown_dest, "unknown_dest")        \
  XX(unknown_dest_on_fwd, "unknown_dest_on_fwd") \
  XX(write_error, "write_error")          \
  XX(gone_disconnected, "gone_disconnected") \
  XX(queue_head, "queue_head")            \
  XX(queue_tail, "queue_tail")            \
  XX(queue_bytes, "queue_bytes")          \
  XX(no_buffer, "no_buffer")

enum class HandshakeFailure : std::uint8_t {
#define DERP_ENUM_(member, label) member,
  DERP_SERVER_HANDSHAKE_FAILURE_MAP(DERP_ENUM_)
#undef DERP_ENUM_
  count_
};

enum class DropReason : std::uint8_t {
#define DERP_ENUM_(member, label) member,
  DERP_SERVER_DROP_REASON_MAP(DERP_ENUM_)
#undef DERP_ENUM_
  count_
};

// Packet kinds for drop labels: disco (looks like a disco message, reference §8) or other.
enum class PacketKind : std::uint8_t { disco, other, count_ };

struct Counters {
#define DERP_MEMBER_(member, name, type, help) std::uint64_t member = 0;
  DERP_SERVER_COUNTER_MAP(DERP_MEMBER_)
#undef DERP_MEMBER_
  std::array<std::uint64_t, static_cast<std::size_t>(HandshakeFailure::count_)> handshake_failures{};
  // [reason][kind]
  std::array<std::array<std::uint64_t, 2>, static_cast<std::size_t>(DropReason::count_)> packets_dropped{};
  std::array<std::array<std::uint64_t, 2>, static_cast<std::size_t>(DropReason::count_)> bytes_dropped{};

  // One dropped packet of packet_len bytes; kind_slot is the PacketKind's index (0 disco, 1 other).
  void count_drop(DropReason reason, std::size_t kind_slot, std::uint64_t packet_len) {
    packets_dropped[static_cast<std::size_t>(reason)][kind_slot]++;
    bytes_dropped[static_cast<std::size_t>(reason)][kind_slot] += packet_len;
  }
};

const char* handshake_failure_label(HandshakeFailure f);
const char* drop_reason_label(DropReason r);

}  // namespace derp::server
