// The registry of clients by key and the packet path between them (reference §4.1–§4.4, §4.7).
#include "server/server.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "crypto/key_text.hpp"
#include "frame/encode.hpp"
#include "frame/header.hpp"
#include "frame/messages.hpp"

namespace derp::server {

namespace {

// Disco messages start with "TS💬" and are at least 62 bytes (reference §8); the server only uses this to label
// drops and to decide whether an unknown destination deserves a PeerGone(NotHere).
bool looks_like_disco(Bytes packet) {
  static constexpr std::uint8_t kMagic[6] = {0x54, 0x53, 0xF0, 0x9F, 0x92, 0xAC};
  return packet.size() >= 62 && std::memcmp(packet.data(), kMagic, sizeof kMagic) == 0;
}

std::uint64_t splitmix64(std::uint64_t* state) {
  std::uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Flag 0x01 only when no other bit applies (reference §2.2 "PeerPresent flags").
std::uint8_t peer_present_flags(bool can_mesh, bool prober, bool not_ideal) {
  std::uint8_t flags = 0;
  if (can_mesh) flags |= DERP_PEER_PRESENT_MESH_PEER;
  if (prober) flags |= DERP_PEER_PRESENT_PROBER;
  if (not_ideal) flags |= DERP_PEER_PRESENT_NOT_IDEAL;
  return flags == 0 ? DERP_PEER_PRESENT_REGULAR : flags;
}

}  // namespace

std::size_t KeyHash::operator()(const frame::Key& k) const noexcept {
  // Keys are uniformly random public keys; eight of their bytes are already a good hash.
  std::uint64_t h = 0;
  std::memcpy(&h, k.data(), sizeof h);
  return static_cast<std::size_t>(h);
}

Server::Server(ServerOptions options)
    : options_(std::move(options)), replay_cache_(options_.replay_cache_keys), rng_state_(options_.random_seed) {
  if (crypto::public_of(options_.private_key, &public_key_) != DERP_OK) {
    throw std::invalid_argument("DERP server needs a non-zero private key");
  }
  public_key_raw_ = public_key_.bytes();
  http_101_ = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nDerp-Version: 2\r\n"
              "Derp-Public-Key: " + crypto::format_untyped_hex(public_key_) + "\r\n\r\n";
  frame::ServerKeyFrame greeting;
  greeting.key = public_key_raw_;
  server_key_frame_.resize(frame::kHeaderLen + DERP_SERVER_KEY_MIN_LEN);
  std::size_t written = 0;
  frame::encode(greeting, MutableBytes(server_key_frame_), &written);
  server_key_frame_.resize(written);
}

Server::~Server() {
  // Connections return their buffers to the pool as they go; the pool goes last.
  connections_.clear();
}

Nanos Server::next_jitter() {
  if (options_.keepalive_jitter == 0) return 0;
  return splitmix64(&rng_state_) % options_.keepalive_jitter;
}

Connection* Server::accept(const derp_addr& remote, Nanos now) {
  now_ = now;
  const std::uint64_t id = next_id_++;
  auto conn = std::unique_ptr<Connection>(new Connection(*this, id, remote, now, next_jitter()));
  Connection* c = conn.get();
  connections_.emplace(id, std::move(conn));
  counters_.current_connections = connections_.size();
  const bool over_limit = options_.max_connections != 0 && connections_.size() > options_.max_connections;
  if (shutting_down_ || over_limit) {
    counters_.handshake_failures[static_cast<std::size_t>(HandshakeFailure::too_many_connections)]++;
    c->queue_http_response(503, "Service Unavailable", "Content-Type: text/plain; charset=utf-8\r\n",
                           shutting_down_ ? "server shutting down\n" : "too many connections\n", false, false);
    c->close(shutting_down_ ? CloseReason::server_shutdown : CloseReason::too_many_connections, "", true);
  }
  return c;
}

void Server::remove(Connection* conn, Nanos now) {
  now_ = now;
  if (conn->phase_ != Phase::Closed) conn->close(CloseReason::transport_closed, "", false);
  ready_.erase(std::remove(ready_.begin(), ready_.end(), conn), ready_.end());
  connections_.erase(conn->id_);
  counters_.current_connections = connections_.size();
}

bool Server::finish_admission(std::uint64_t connection_id, bool allowed, Nanos now) {
  now_ = now;
  const auto it = connections_.find(connection_id);
  if (it == connections_.end()) return false;
  Connection* c = it->second.get();
  if (!c->admission_pending_ || c->phase_ != Phase::Handshake) return false;
  c->admission_pending_ = false;
  if (!allowed) {
    counters_.handshake_failures[static_cast<std::size_t>(HandshakeFailure::denied)]++;
    c->close(CloseReason::denied, "client key not admitted", false);
  } else if (c->finish_handshake(now) == DERP_OK && !c->held_input_.empty()) {
    // What the client sent meanwhile (it need not wait for ServerInfo) is read now, in order.
    std::vector<std::uint8_t> held;
    held.swap(c->held_input_);
    (void)c->on_frame_bytes(Bytes(held), now);
  }
  mark_ready(c);
  return true;
}

bool Server::awaiting_admission(std::uint64_t connection_id) const {
  const auto it = connections_.find(connection_id);
  return it != connections_.end() && it->second->admission_pending_ && it->second->phase_ == Phase::Handshake;
}

void Server::mark_ready(Connection* conn) {
  if (conn->in_ready_list_) return;
  conn->in_ready_list_ = true;
  ready_.push_back(conn);
}

void Server::log_connection_line(LogLevel level, const std::string& line, bool is_handshake, bool is_close) {
  if (!options_.log) return;
  if (level == LogLevel::Debug) {
    options_.log(level, line);
    return;
  }
  const Nanos now = now_;
  if (summary_start_ == kNever) summary_start_ = now;
  if (now - summary_start_ >= kConnectionSummaryWindow) {
    if (summary_suppressed_ > 0) {
      options_.log(LogLevel::Info, "connections in the last " + std::to_string((now - summary_start_) / kSecond) +
                                       " s: " + std::to_string(summary_handshakes_) + " DERP handshakes, " +
                                       std::to_string(summary_closes_) + " DERP connections closed, " +
                                       std::to_string(summary_suppressed_) + " of their log lines left out");
    }
    summary_start_ = now;
    summary_handshakes_ = summary_closes_ = summary_suppressed_ = 0;
  }
  if (is_handshake) summary_handshakes_++;
  if (is_close) summary_closes_++;
  if (!connection_log_.allow(now)) {
    summary_suppressed_++;
    return;
  }
  if (const std::uint64_t left_out = connection_log_.take_suppressed(); left_out > 0) {
    options_.log(LogLevel::Info, "(" + std::to_string(left_out) + " per-connection log lines left out)");
  }
  options_.log(level, line);
}

bool Server::note_partial_frame(std::size_t before, std::size_t after) {
  if (before == after) return true;
  if (before == 0) partial_frame_holders_++;
  if (after == 0) partial_frame_holders_--;
  counters_.partial_frame_bytes = counters_.partial_frame_bytes - before + after;
  const std::size_t budget = options_.partial_frame_budget;
  if (budget == 0 || after <= before || counters_.partial_frame_bytes <= budget) return true;
  // Over budget: the connection that just grew is closed if it holds more than an equal share. The biggest holders
  // go first, and a connection holding one ordinary split packet stays under its share unless the budget is split
  // among thousands of attackers, who then lose theirs before it is reached.
  return after <= budget / std::max<std::size_t>(partial_frame_holders_, 1);
}

Connection* Server::find_active(const frame::Key& key) const {
  const auto it = clients_.find(key);
  return it == clients_.end() ? nullptr : it->second.active;
}

void Server::register_client(Connection* conn) {
  ClientSet& set = clients_[conn->key_];
  if (!set.all.empty()) {
    counters_.total_dup_client_conns++;
    if (set.all.size() == 1) counters_.current_dup_client_keys++;
    log_connection_line(LogLevel::Info, conn->name() + ": another connection for this key; the newest gets the traffic",
                        false, false);
  }
  if (set.all.empty() && forwarders_.has(conn->key_)) counters_.clients_remote--;  // local again
  set.all.push_back(conn);
  set.active = conn;  // the newest connection takes over at once (reference §4.2)
  conn->client_set_ = &set;
  conn->registered_ = true;
  replay_cache_.pin(conn->key_);
  counters_.replay_cache_keys = replay_cache_.keys();
  counters_.current_clients++;
  notify_watchers_present(conn);
}

void Server::unregister_client(Connection* conn) {
  conn->registered_ = false;
  conn->client_set_ = nullptr;
  conn->sent_to_list_ = nullptr;
  replay_cache_.unpin(conn->key_);
  counters_.replay_cache_keys = replay_cache_.keys();
  counters_.replay_cache_evictions = replay_cache_.evictions();
  counters_.current_clients--;
  if (conn->preferred_) counters_.current_home_connections--;
  const frame::Key key = conn->key_;
  auto it = clients_.find(key);
  if (it == clients_.end()) return;
  ClientSet& set = it->second;
  set.all.erase(std::remove(set.all.begin(), set.all.end(), conn), set.all.end());
  if (set.all.size() == 1) counters_.current_dup_client_keys--;
  if (set.active == conn) {
    // The most recent writer still here takes over.
    set.active = nullptr;
    for (Connection* c : set.all) {
      if (set.active == nullptr || c->last_frame_at_ >= set.active->last_frame_at_) set.active = c;
    }
  }
  if (!set.all.empty()) return;
  clients_.erase(it);
  // The key's last connection is gone: unless a mesh peer still has it, it left the region, and everyone it sent
  // to hears so (PeerGone, reason disconnected; derper's notePeerGoneFromRegionLocked).
  if (forwarders_.has(key)) {
    counters_.clients_remote++;
  } else {
    note_gone_from_region(key);
  }
  notify_watchers_gone(key);
}

void Server::make_active_if_duplicate(Connection* conn) {
  // "Last writer is active": a duplicate that speaks takes the traffic (reference §4.2).
  ClientSet* set = conn->client_set_;
  if (set == nullptr || set->active == conn || set->all.size() < 2) return;
  set->active = conn;
}

void Server::route_packet(Connection* from, const frame::Key& src, const frame::Key& dst, Bytes packet,
                          bool forwarded) {
  const PacketKind kind = looks_like_disco(packet) ? PacketKind::disco : PacketKind::other;
  const std::size_t kind_slot = static_cast<std::size_t>(kind);
  if (forwarded) {
    counters_.packets_forwarded_in++;
    forwarded_in_by_peer_[from->key_]++;
  } else {
    counters_.packets_received++;
    counters_.bytes_received += packet.size();
  }
  Connection* to = find_active(dst);
  if (to == nullptr) {
    // Not here: a mesh peer may have it. Forwarded packets are never forwarded again (one hop in a region).
    if (!forwarded && forward_to_mesh(src, dst, packet, kind_slot)) return;
    counters_.count_drop(forwarded ? DropReason::unknown_dest_on_fwd : DropReason::unknown_dest, kind_slot,
                         packet.size());
    // A disco packet to nobody gets a PeerGone(NotHere), limited to 1/s with a burst of 3 per client.
    if (kind == PacketKind::disco) {
      const Nanos now = now_;
      if (from->not_here_refill_at_ == 0) from->not_here_refill_at_ = now;
      const Nanos elapsed = now - from->not_here_refill_at_;
      const std::uint64_t refill = elapsed / kMillisecond;  // one token per 1000 ms, in thousandths
      from->not_here_tokens_milli_ = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(3000, from->not_here_tokens_milli_ + refill));
      from->not_here_refill_at_ = now;
      if (from->not_here_tokens_milli_ >= 1000) {
        from->not_here_tokens_milli_ -= 1000;
        send_peer_gone(from, dst, DERP_PEER_GONE_NOT_HERE);
      }
    }
    return;
  }
  const std::size_t frame_len = frame::kHeaderLen + DERP_KEY_LEN + packet.size();
  OutBuffer* buffer = pool_.take(frame_len);
  if (buffer == nullptr) {
    counters_.count_drop(DropReason::no_buffer, kind_slot, packet.size());
    return;
  }
  // The one copy on the packet path: from the sender's read buffer into the frame the receiver will be written.
  std::uint8_t* out = buffer->data();
  frame::write_header(out, frame::type_byte(frame::FrameType::RecvPacket),
                      static_cast<std::uint32_t>(DERP_KEY_LEN + packet.size()));
  std::memcpy(out + frame::kHeaderLen, src.data(), DERP_KEY_LEN);
  if (!packet.empty()) std::memcpy(out + frame::kHeaderLen + DERP_KEY_LEN, packet.data(), packet.size());
  buffer->size = static_cast<std::uint32_t>(frame_len);
  to->queue_packet(buffer, kind);
  if (forwarded) {
    record_sent_from(src, dst);
  } else {
    record_sent_to(from, dst);
  }
  if (to != from) mark_ready(to);
  // Half the queue used: the host should write it out before it feeds more (Connection::receive_some).
  if (2 * to->queued_packets_[kind_slot] >= options_.queue_packets ||
      2 * to->queued_packet_bytes_ >= options_.queue_bytes) {
    flush_wanted_ = true;
  }
}

void Server::record_sent_to(Connection* from, const frame::Key& dst) {
  if (from->has_recorded_dst_ && from->last_recorded_dst_ == dst) return;
  if (from->sent_to_list_ == nullptr) from->sent_to_list_ = &sent_to_[from->key_];
  std::vector<frame::Key>& dsts = *from->sent_to_list_;
  if (std::find(dsts.begin(), dsts.end(), dst) == dsts.end()) {
    // Bounded: past a thousand destinations, forget the ones no longer connected.
    if (dsts.size() >= 1024) {
      dsts.erase(std::remove_if(dsts.begin(), dsts.end(), [&](const frame::Key& k) { return !clients_.count(k); }),
                 dsts.end());
    }
    dsts.push_back(dst);
  }
  from->last_recorded_dst_ = dst;
  from->has_recorded_dst_ = true;
}

void Server::send_peer_gone(Connection* to, const frame::Key& key, std::uint8_t reason) {
  std::uint8_t payload[DERP_KEY_LEN + 1];
  std::memcpy(payload, key.data(), DERP_KEY_LEN);
  payload[DERP_KEY_LEN] = reason;
  if (!to->queue_control_frame(frame::FrameType::PeerGone, Bytes(payload, sizeof payload))) return;
  if (reason == DERP_PEER_GONE_NOT_HERE) {
    counters_.peer_gone_not_here_frames++;
  } else {
    counters_.peer_gone_disconnected_frames++;
  }
  mark_ready(to);
}

void Server::send_peer_present(Connection* watcher, Connection* conn) {
  frame::PeerPresentFrame msg;
  msg.key = conn->key_;
  msg.endpoint = conn->remote_;
  msg.flags = peer_present_flags(conn->can_mesh_, conn->is_prober_, conn->not_ideal_);
  std::uint8_t payload[DERP_PEER_PRESENT_LEN + frame::kHeaderLen];
  std::size_t written = 0;
  if (frame::encode(msg, MutableBytes(payload, sizeof payload), &written) != DERP_OK) return;
  if (!watcher->queue_control_frame(frame::FrameType::PeerPresent,
                                    Bytes(payload + frame::kHeaderLen, written - frame::kHeaderLen))) {
    return;
  }
  mark_ready(watcher);
}

void Server::notify_watchers_present(Connection* conn) {
  for (Connection* w : watchers_) send_peer_present(w, conn);
}

void Server::notify_watchers_gone(const frame::Key& key) {
  for (Connection* w : watchers_) send_peer_gone(w, key, DERP_PEER_GONE_DISCONNECTED);
}

void Server::close_key(const frame::Key& key, Nanos now) {
  now_ = now;
  auto it = clients_.find(key);
  if (it == clients_.end()) {
    if (options_.log) options_.log(LogLevel::Info, "ClosePeer for a key that is not connected here");
    return;
  }
  const std::vector<Connection*> conns = it->second.all;  // close() edits the set
  for (Connection* c : conns) c->close(CloseReason::closed_by_mesh, "", false);
}

void Server::shutdown(std::uint32_t reconnect_in_ms, std::uint32_t try_for_ms, Nanos now) {
  now_ = now;
  shutting_down_ = true;
  std::uint8_t payload[DERP_RESTARTING_LEN];
  store_be32(payload, reconnect_in_ms);
  store_be32(payload + 4, try_for_ms);
  std::vector<Connection*> all;
  all.reserve(connections_.size());
  for (auto& [id, c] : connections_) all.push_back(c.get());
  for (Connection* c : all) {
    if (c->phase_ == Phase::Running) c->queue_control_frame(frame::FrameType::Restarting, Bytes(payload, sizeof payload));
    c->close(CloseReason::server_shutdown, "", true);
  }
}

}  // namespace derp::server
