// The DERP server core: the registry of connected clients by key, routing between them, the watchers (mesh), the
// counters, and the connections themselves (connection.hpp). Sans-IO: no sockets, clocks or threads; one thread
// drives one Server (a host that wants several threads runs several Servers or serialises calls).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/log_rate_limiter.hpp"
#include "crypto/node_key.hpp"
#include "frame/frame_types.hpp"
#include "server/connection.hpp"
#include "server/counters.hpp"
#include "server/mesh_forwarders.hpp"
#include "server/options.hpp"
#include "server/out_buffer.hpp"
#include "server/replay_cache.hpp"

namespace derp::server {

struct KeyHash {
  std::size_t operator()(const frame::Key& k) const noexcept;
};

// Every connection of one key. The active one gets the traffic ("last writer is active", reference §4.2).
struct ClientSet {
  Connection* active = nullptr;
  std::vector<Connection*> all;
};

class Server {
 public:
  // Per-connection log lines: at most kConnectionLogBurst per kConnectionLogWindow, a summary per summary window.
  static constexpr std::uint32_t kConnectionLogBurst = 20;
  static constexpr Nanos kConnectionLogWindow = 10 * kSecond;
  static constexpr Nanos kConnectionSummaryWindow = 60 * kSecond;

  // The options' private key must be set (non-zero); the public key is derived from it.
  explicit Server(ServerOptions options);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  // A new transport connection from remote. The Server owns the Connection until remove().
  Connection* accept(const derp_addr& remote, Nanos now);
  // The host has closed the transport: unregister the connection and free it. The pointer is invalid afterwards.
  void remove(Connection* conn, Nanos now);

  // Connections that got output or were closed by something other than their own input (another client's packet,
  // a mesh ClosePeer, shutdown). Each is handed to f once and the list is cleared; the host flushes or closes it.
  // Double-buffered: the list being handed out and the one filling meanwhile swap, so a steady packet flow
  // allocates nothing here (a nested call, if a host made one, works on a fresh list).
  template <class F>
  void drain_ready(F&& f) {
    while (!ready_.empty()) {
      std::vector<Connection*> batch = std::move(ready_spare_);
      batch.clear();
      batch.swap(ready_);
      for (Connection* c : batch) {
        c->in_ready_list_ = false;
        f(*c);
      }
      batch.clear();
      ready_spare_ = std::move(batch);
    }
  }
  // Set while a connection's receive_some routes a packet that leaves its destination's queue half full.
  bool flush_wanted() const { return flush_wanted_; }

  // Graceful shutdown: every client gets a Restarting frame (reconnect_in, try_for) and is then closed after its
  // output drains; HTTP connections close at once. New accepts are refused afterwards.
  void shutdown(std::uint32_t reconnect_in_ms, std::uint32_t try_for_ms, Nanos now);

  const Counters& counters() const { return counters_; }
  Counters& counters() { return counters_; }
  // The Prometheus text exposition of the counters (served at /debug/varz and /metrics).
  std::string metrics_text() const;

  // Replaces ServerOptions::extra_metrics (for a host that can only name its counters once the Server exists).
  void set_extra_metrics(std::function<void(std::string&)> append) { options_.extra_metrics = std::move(append); }

  // The host's answer to ServerOptions::admit_async for the connection with this id. false when there is no such
  // connection waiting any more (it closed, or timed out meanwhile): nothing to do. Otherwise the connection is
  // registered (allowed) or closed (denied) and marked ready: drain_ready() next.
  bool finish_admission(std::uint64_t connection_id, bool allowed, Nanos now);
  // Whether that connection still waits for finish_admission (a host with a queue of checks skips the rest).
  bool awaiting_admission(std::uint64_t connection_id) const;
  void set_admit_async(decltype(ServerOptions::admit_async) admit) { options_.admit_async = std::move(admit); }

  // ---- mesh dialling (server_mesh.cpp) ----
  // The host's mesh link `link` (a client of another server of the region, watching its connections) reported key
  // present, or gone. A local connection always gets key's packets first; without one they go to the link that
  // reported key first (mesh_forwarders.hpp). When key's last link goes and key has no local connection, it has
  // left the region: every local client that received packets from it gets PeerGone(key, disconnected).
  void add_forwarder(const frame::Key& key, ForwarderId link, Nanos now);
  void remove_forwarder(const frame::Key& key, ForwarderId link, Nanos now);
  // The link broke: it forgets every key it reported (derper: "clearing N forwarding mappings"). Returns how many.
  std::size_t remove_forwarder_link(ForwarderId link, Nanos now);
  void set_forward(decltype(ServerOptions::forward) forward) { options_.forward = std::move(forward); }
  const MeshForwarders& forwarders() const { return forwarders_; }
  // ForwardPacket frames received from the mesh connection of `peer` (a mesh peer's key), for per-peer metrics.
  std::uint64_t forwarded_in_from(const frame::Key& peer) const;

  const crypto::NodePublic& public_key() const { return public_key_; }
  const ServerOptions& options() const { return options_; }
  std::size_t connection_count() const { return connections_.size(); }
  std::size_t client_count() const { return clients_.size(); }
  const BufferPool& pool() const { return pool_; }
  const ReplayCache& replay_cache() const { return replay_cache_; }

 private:
  friend class Connection;

  void register_client(Connection* conn);
  void unregister_client(Connection* conn);
  void make_active_if_duplicate(Connection* conn);
  Connection* find_active(const frame::Key& key) const;

  // Packet path: frames a RecvPacket(src, packet) straight into a pooled buffer for the destination.
  void route_packet(Connection* from, const frame::Key& src, const frame::Key& dst, Bytes packet, bool forwarded);
  void record_sent_to(Connection* from, const frame::Key& dst);
  void notify_watchers_present(Connection* conn);
  void send_peer_present(Connection* watcher, Connection* conn);
  void send_peer_gone(Connection* to, const frame::Key& key, std::uint8_t reason);
  void notify_watchers_gone(const frame::Key& key);
  void mark_ready(Connection* conn);
  // A connection's memory for an incomplete frame changed from `before` to `after` bytes. False when the server is
  // over its incomplete-frame budget and `after` is more than this connection's share: the caller closes it.
  bool note_partial_frame(std::size_t before, std::size_t after);
  // The lines every DERP connection writes (connected, closing, a duplicate key): at most kConnectionLogBurst per
  // kConnectionLogWindow, and once a minute, when some were left out, a summary line of what the window held.
  // Debug lines are not limited (a sink that shows them asked for volume). is_close/is_handshake feed the summary.
  void log_connection_line(LogLevel level, const std::string& line, bool is_handshake, bool is_close);
  void close_key(const frame::Key& key, Nanos now);
  // key has neither a local connection nor a mesh link any more: PeerGone(key) to those it sent to.
  void note_gone_from_region(const frame::Key& key);
  // Forwards to a mesh link; false when there is none for dst or it refused (counted as a drop).
  bool forward_to_mesh(const frame::Key& src, const frame::Key& dst, Bytes packet, std::size_t kind_slot);
  void record_sent_from(const frame::Key& src, const frame::Key& dst);
  Nanos next_jitter();

  ServerOptions options_;
  crypto::NodePublic public_key_;
  frame::Key public_key_raw_{};
  std::string http_101_;              // the exact 101 response (reference §1.2)
  std::vector<std::uint8_t> server_key_frame_;  // the 45-byte ServerKey frame, sent first on every connection
  bool shutting_down_ = false;

  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::unordered_map<frame::Key, ClientSet, KeyHash> clients_;
  // src → destinations that received packets from src, for PeerGone(src) when src's last connection leaves.
  std::unordered_map<frame::Key, std::vector<frame::Key>, KeyHash> sent_to_;
  std::vector<Connection*> watchers_;
  MeshForwarders forwarders_;
  std::unordered_map<frame::Key, std::uint64_t, KeyHash> forwarded_in_by_peer_;  // only mesh-key clients forward
  std::vector<Connection*> ready_;
  std::vector<Connection*> ready_spare_;  // drain_ready's other list
  bool flush_wanted_ = false;             // see Connection::receive_some

  LogRateLimiter connection_log_{kConnectionLogBurst, kConnectionLogWindow};
  Nanos summary_start_ = kNever;
  std::uint64_t summary_handshakes_ = 0;
  std::uint64_t summary_closes_ = 0;
  std::uint64_t summary_suppressed_ = 0;

  BufferPool pool_;
  ReplayCache replay_cache_;
  std::size_t partial_frame_holders_ = 0;  // connections holding part of a frame (counters_.partial_frame_bytes)
  Counters counters_;
  std::uint64_t next_id_ = 1;
  std::uint64_t rng_state_;
  Nanos now_ = 0;  // the latest time the host passed in; used for bookkeeping on connections it did not feed
};

}  // namespace derp::server
