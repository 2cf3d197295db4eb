// A reconnecting DERP client on a libuv loop: dials a URL or a DERPMap region (uv_dialer.hpp), speaks TLS and the
// DERP handshake over it (uv_client_transport.hpp around the sans-IO ClientConnection), and when the connection
// is lost or cannot be made, dials again when the ReconnectPolicy says (backoff, or the server's Restarting hint),
// with the same key. The host hears about every state change through UvClientEvents::on_state.
//
//   UvClient::create(loop, options, &events, &client, &detail);
//   client->start();                       Connecting → Connected (→ Disconnected → Connecting → ...)
//   client->send_packet(peer, bytes);      loop thread; send_packet_threadsafe from any thread
//   client->stop();                        Stopped; handles close by themselves as the loop runs on
//
// Threads: everything runs on the loop's thread (create, start, every command, every event, the destructor),
// except send_packet_threadsafe and stop_threadsafe, which any thread may call until the UvClient is destroyed.
// The destructor must not run inside one of this client's callbacks.
//
// Packets: while not connected a packet is dropped and counted (nothing queues up for a connection that may never
// come); while connected the core's bounds apply (ClientOptions::max_pending_output, the server's rate limit). The
// thread-safe queue is bounded by count and bytes; overflow is dropped and counted.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <uv.h>

#include "client/backoff.hpp"
#include "client/connection.hpp"
#include "derpmap/derpmap.hpp"
#include "client/url.hpp"
#include "tls/client_config.hpp"
#include "uv/uv_client_handles.hpp"
#include "uv/uv_client_transport.hpp"
#include "uv/uv_dialer.hpp"
#include "uv/uv_direct_path.hpp"

namespace derp::uv {

struct UvClientOptions {
  // The core's options. private_key is required; host, path and ideal_node are filled in per dial from the
  // target; the rest (fast_start, websocket, info, timeouts, max_pending_output, ...) apply to every connection.
  client::ClientOptions connection;

  // The target: exactly one of url ("https://derp.example.com", "http://127.0.0.1:3340/derp") and region.
  std::string url;
  std::optional<derpmap::DerpRegion> region;
  // Region nodes over plain HTTP instead of TLS (derper -dev, tests). DERPMap nodes are TLS in Tailscale.
  bool plain_http = false;

  // TLS: trusted roots (the system store by default, "" for none), one more PEM file of roots, the CertName for a
  // URL target ("sha256-raw:<hex>" pins the certificate, a name is verified instead of the URL's host; region nodes
  // carry their own), and no verification at all (tests only).
  std::string ca_bundle_path = tls::kSystemCaBundle;
  std::string extra_ca_path;
  std::string cert_name;
  bool insecure_skip_verify = false;

  // Budget for DNS + TCP + TLS + the DERP handshake of one connection (Go: 10 s), and each node's share of it for
  // the TCP connect (Go: 1.5 s).
  Nanos connect_timeout = 10 * kSecond;
  Nanos node_dial_timeout = 1500 * kMillisecond;

  // Dial again after a failure or a loss. Off: one attempt; a failure or a loss ends in Disconnected then Stopped
  // (for command-line tools that exit on failure).
  bool reconnect = true;
  client::BackoffOptions backoff;
  std::uint64_t backoff_seed = 0;  // 0: random

  // Send NotePreferred(true) after every connect (this is the home region). note_preferred() changes it.
  bool preferred = false;

  // The thread-safe send queue: at most this many packets and payload bytes wait for the loop.
  std::size_t max_queued_packets = 1024;
  std::size_t max_queued_bytes = 1u << 20;

  // Lines for a log (connects, failures, retries). Loop thread.
  std::function<void(std::string_view)> log;

  // The direct path (uv_direct_path.hpp): every peer starts on DERP and moves to a direct UDP path when the NATs
  // allow, in Tailscale's disco format. Off by default. With it on, send_packet goes through the path core, and
  // packets arrive through UvClientEvents::on_packet_via (whose default calls on_packet).
  UvDirectOptions direct;
};

enum class UvClientState : std::uint8_t { Idle, Connecting, Connected, Disconnected, Stopped };
const char* uv_client_state_name(UvClientState state);

struct UvClientStatus {
  UvClientState state = UvClientState::Idle;
  // Disconnected: why (DERP_ERR_CONNECT, DERP_ERR_DNS, DERP_ERR_TIMEOUT, DERP_ERR_TLS_*, DERP_ERR_PEER_CLOSED, ...)
  // and a sentence for logs.
  int error = DERP_OK;
  std::string detail;
  // Disconnected: when the next dial starts (monotonic ns, uv_hrtime's clock) and how long from now; kNever when
  // there will be none (reconnect off, or stopping).
  Nanos retry_at = kNever;
  Nanos retry_in = kNever;
  // Connected: the node that answered (its name, or the URL's host) and the address.
  std::string node;
  derp_addr remote{};
};

// The host's events. Every method has an empty default. Called on the loop thread; a handler may call any command
// of the client, stop() included, but must not destroy it.
class UvClientEvents {
 public:
  virtual ~UvClientEvents() = default;
  virtual void on_state(const UvClientStatus& status) { (void)status; }
  virtual void on_server_info(const crypto::ServerInfo& info) { (void)info; }
  // payload is valid during the call only.
  virtual void on_packet(const crypto::NodePublic& source, Bytes payload) { (void)source, (void)payload; }
  // Every packet, with the path it came on (always kDerp without the direct path). The default calls on_packet.
  virtual void on_packet_via(const crypto::NodePublic& source, Bytes payload, path::Via via) {
    (void)via;
    on_packet(source, payload);
  }
  // Direct path only: the peer's path changed, to direct (addr, the Pong's round trip) or back to DERP.
  virtual void on_path_changed(const crypto::NodePublic& peer, path::Via via, const derp_addr& addr, Nanos rtt) {
    (void)peer, (void)via, (void)addr, (void)rtt;
  }
  virtual void on_peer_gone(const crypto::NodePublic& peer, std::uint8_t reason) { (void)peer, (void)reason; }
  virtual void on_peer_present(const crypto::NodePublic& peer, const derp_addr& endpoint, std::uint8_t flags) {
    (void)peer, (void)endpoint, (void)flags;
  }
  virtual void on_health(std::string_view problem) { (void)problem; }
  // The server is restarting; the client already plans its next dial by it (reconnect_in, try_for).
  virtual void on_restarting(Nanos reconnect_in, Nanos try_for) { (void)reconnect_in, (void)try_for; }
};

struct UvClientCounters {
  std::uint64_t dials = 0;                 // connection attempts started
  std::uint64_t connects = 0;              // handshakes completed
  std::uint64_t failures = 0;              // attempts that failed and connections lost
  std::uint64_t packets_sent = 0;          // accepted by a connection's core
  std::uint64_t packets_received = 0;
  std::uint64_t packets_dropped_disconnected = 0;
  std::uint64_t packets_dropped_queue_full = 0;  // refused by the core (its output cap or the server's rate limit)
};

class UvClient {
 public:
  using PingDone = std::function<void(int result, Nanos rtt)>;

  // Checks the options (target, key), parses the URL, loads the TLS roots. Nothing is dialled before start().
  // DERP_OK; DERP_ERR_INVALID_ARGUMENT (no or two targets, zero key, a region without DERP nodes, null out or
  // events) with *detail; DERP_ERR_URL; DERP_ERR_TLS_CONFIG; DERP_ERR_UV_LOOP. events must outlive the client.
  static int create(uv_loop_t* loop, UvClientOptions options, UvClientEvents* events,
                    std::unique_ptr<UvClient>* out, std::string* detail);
  ~UvClient();
  UvClient(const UvClient&) = delete;
  UvClient& operator=(const UvClient&) = delete;

  // Begins dialing. DERP_OK; DERP_ERR_UV_STATE when already started or stopped.
  int start();
  // Ends the connection, cancels dials and timers; reports Stopped. Idempotent. Handles finish closing as the loop
  // runs; the loop then ends by itself unless the host has handles of its own.
  void stop();

  // Queues a SendPacket. DERP_OK; DERP_ERR_NOT_CONNECTED (dropped, counted); DERP_ERR_QUEUE_FULL (the core's cap
  // or the server's rate limit: dropped, counted); DERP_ERR_FRAME_TOO_LARGE; DERP_ERR_CLOSED after stop.
  int send_packet(const crypto::NodePublic& destination, Bytes payload);
  // Pings the server; done runs once with DERP_OK and the round trip, DERP_ERR_TIMEOUT, or DERP_ERR_CLOSED when the
  // connection ends first. DERP_OK, DERP_ERR_NOT_CONNECTED, DERP_ERR_QUEUE_FULL (done is then not called).
  int ping(PingDone done);
  // Remembered: sent now when connected and after every reconnect. DERP_OK or DERP_ERR_CLOSED after stop.
  int note_preferred(bool preferred);
  // Mesh clients only (a mesh key in the info): DERP_OK, _NOT_CONNECTED, _CLOSED.
  int watch_conns();
  int close_peer(const crypto::NodePublic& peer);
  // Mesh clients: ForwardPacket (client/connection.hpp). Results as send_packet; nothing queues while disconnected.
  int forward_packet(const crypto::NodePublic& source, const crypto::NodePublic& destination, Bytes payload);

  // ---- any thread ----
  // Copies the packet into the bounded queue the loop drains. DERP_OK; DERP_ERR_QUEUE_FULL (dropped, counted);
  // DERP_ERR_FRAME_TOO_LARGE; DERP_ERR_CLOSED once stopping.
  int send_packet_threadsafe(const crypto::NodePublic& destination, Bytes payload);
  void stop_threadsafe();
  std::uint64_t threadsafe_packets_dropped() const { return outbox_dropped_.load(); }

  // ---- state (loop thread) ----
  UvClientState state() const { return status_.state; }
  const UvClientStatus& status() const { return status_; }
  bool connected() const { return status_.state == UvClientState::Connected; }
  const crypto::NodePublic& public_key() const { return public_key_; }
  // The key of the server last connected to (zero before the first connect).
  const crypto::NodePublic& server_key() const { return server_key_; }
  // The ServerInfo of the current connection, once it arrived.
  const std::optional<crypto::ServerInfo>& server_info() const { return server_info_; }
  const UvClientCounters& counters() const { return counters_; }
  // The core of the current connection (null while not connected), for its counters.
  const client::ClientConnection* connection() const;
  // The direct path (null unless options.direct.enabled), for its bound address, endpoint and counters.
  const UvDirectPath* direct_path() const { return direct_.get(); }
  // The peer's disco key as a control plane would hand it out (direct path only; otherwise peers announce theirs
  // over DERP). DERP_OK, DERP_ERR_UNSUPPORTED without the direct path, DERP_ERR_INVALID_ARGUMENT.
  int set_peer_disco(const crypto::NodePublic& peer, const crypto::NodePublic& disco);

 private:
  class CoreEvents;
  struct Target {
    DialNode dial;
    bool tls = true;
    tls::ClientTarget tls_target;
    bool insecure = false;
    std::string host_header;
    std::string path = "/derp";
    std::string ideal_node;
  };
  struct QueuedPacket {
    crypto::NodePublic destination;
    std::vector<std::uint8_t> payload;
  };

  UvClient(uv_loop_t* loop, UvClientOptions options, UvClientEvents* events);
  int init(std::string* detail);

  void begin_connect();
  void on_dialed(DialResult result);
  void on_core_connected(const crypto::NodePublic& key);
  void on_transport_ended(int error, const std::string& detail);
  void connection_failed(int error, std::string detail);
  void retire_transport();
  void report(UvClientStatus status);
  void log(const std::string& line) const;
  void drain_outbox();
  int send_over_derp(const crypto::NodePublic& destination, Bytes payload);
  int open_direct(std::string* detail);
  static void on_async(uv_async_t* async);
  void close_async();

  uv_loop_t* loop_;
  UvClientOptions options_;
  UvClientEvents* events_;
  std::unique_ptr<CoreEvents> core_events_;
  crypto::NodePublic public_key_;
  std::vector<Target> targets_;
  std::unique_ptr<tls::ClientConfig> tls_config_;
  std::unique_ptr<tls::ClientConfig> insecure_tls_config_;  // for nodes with InsecureForTests

  client::ReconnectPolicy policy_;
  UvDialer dialer_;
  std::unique_ptr<UvClientTransport> transport_;
  std::unique_ptr<UvDirectPath> direct_;
  // Transports that ended while their own code was on the stack; freed at the next dial or in the destructor.
  std::vector<std::unique_ptr<UvClientTransport>> retired_;
  TimerHandle connect_timer_;
  TimerHandle retry_timer_;
  std::size_t dialed_target_ = 0;
  derp_addr dialed_remote_{};

  UvClientStatus status_;
  bool started_ = false;
  bool stopping_ = false;
  bool preferred_ = false;
  // drain_outbox is queueing a batch: send_over_derp leaves the write to the end of it (one write for the batch).
  bool batching_sends_ = false;
  crypto::NodePublic server_key_;
  std::optional<crypto::ServerInfo> server_info_;
  std::map<std::uint64_t, PingDone> pings_;
  UvClientCounters counters_;

  // The thread-safe side: the queue and the async handle that wakes the loop, both under mutex_.
  std::mutex mutex_;
  uv_async_t* async_ = nullptr;  // null once closing
  std::deque<QueuedPacket> outbox_;
  std::deque<QueuedPacket> outbox_draining_;  // loop thread only: the batch drain_outbox is sending
  std::size_t outbox_bytes_ = 0;
  bool stop_requested_ = false;
  std::atomic<std::uint64_t> outbox_dropped_{0};
};

}  // namespace derp::uv
