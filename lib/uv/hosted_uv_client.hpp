// A UvClient hosted by a LoopHost (on the host's loop or on a thread of ours), its events as UvClientEvent values
// for a callback and, optionally, a UvClientEventQueue any thread takes them from; its counters summed across
// reconnects. What the C API's derp_uv_client wraps; a C++ program gets the same.
//
//   HostedUvClientOptions o;  o.client = ...;  o.queue_events = true;   // o.host.host_loop = null: our thread
//   HostedUvClient::create(std::move(o), &c, &detail);
//   c->start_thread();  ...  c->send(peer, bytes);  c->events()->take(-1, &e, buf, &need);  c->stop();
//
// Threads. send() from any thread. In thread mode every command from any thread (posted to the loop when needed);
// in host-loop mode ping, note_preferred, set_peer_disco and totals on the loop thread only (DERP_ERR_UV_STATE
// elsewhere). Events and the callback always on the loop thread; nothing follows CLOSED. The destructor must not
// run inside the client's callback (thread mode: anywhere on its thread): may_destroy_here() tells.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "client/connection.hpp"
#include "uv/loop_host.hpp"
#include "uv/uv_client.hpp"
#include "uv/uv_client_event_queue.hpp"

namespace derp::uv {

struct HostedUvClientOptions {
  // The client. With client.direct.enabled and a zero disco_private, a disco key is generated here (so
  // disco_public_key() answers from any thread at once).
  UvClientOptions client;
  // host.host_loop: the host's loop (start), or null: a private loop run by our thread (start_thread).
  LoopHostOptions host;
  // Every event, on the loop thread. May be empty.
  std::function<void(const UvClientEvent&)> on_event;
  // Queue the events for events()->take as well, at most max_queued_events (>= 1; see the drop policy).
  bool queue_events = false;
  std::size_t max_queued_events = 1024;
};

// The counters of every connection so far, the current one included.
struct UvClientTotals {
  std::uint64_t packets_sent = 0, bytes_sent = 0, packets_received = 0, bytes_received = 0;
  std::uint64_t packets_dropped_queue_full = 0, packets_dropped_rate_limit = 0, packets_dropped_disconnected = 0;
  std::uint64_t pings_sent = 0, pongs_matched = 0, server_pings_answered = 0;
  std::uint64_t connects = 0, disconnects = 0;
  std::uint64_t events_dropped = 0;  // by the event queue's drop policy
};

class HostedUvClient {
 public:
  // DERP_OK; UvClient::create's and LoopHost::create's errors (*detail); DERP_ERR_INVALID_ARGUMENT for
  // queue_events with max_queued_events 0.
  static int create(HostedUvClientOptions options, std::unique_ptr<HostedUvClient>* out, std::string* detail);
  ~HostedUvClient();
  HostedUvClient(const HostedUvClient&) = delete;
  HostedUvClient& operator=(const HostedUvClient&) = delete;

  // Host-loop mode, on the loop thread: begins dialing. DERP_ERR_UV_STATE when started, stopped or thread mode.
  int start();
  // Thread mode: the thread starts and dials. DERP_ERR_UV_STATE when started, stopped or host-loop mode.
  int start_thread(std::string* detail);

  // Any thread. DERP_OK; DERP_ERR_CLOSED (stopped); DERP_ERR_NOT_CONNECTED (counted); UvClient's send errors.
  int send(const crypto::NodePublic& destination, Bytes payload);
  // The answer comes as a PING_RESULT event with *id (thread mode off the loop thread: every failure comes so).
  int ping(std::uint64_t* id);
  int note_preferred(bool preferred);
  int set_peer_disco(const crypto::NodePublic& peer, const crypto::NodePublic& disco);
  int totals(UvClientTotals* out);
  // Any thread, idempotent: CLOSED (DERP_OK) follows from the loop; thread mode: joins the thread, unless called
  // from it. Before any start: host-loop mode delivers CLOSED when the host next runs its loop, thread mode now.
  void stop();

  // False inside the client's own callback, or anywhere on its thread in thread mode.
  bool may_destroy_here() const;
  // Null without queue_events.
  UvClientEventQueue* events() { return queue_.get(); }
  const crypto::NodePublic& public_key() const { return public_key_; }
  bool direct() const { return direct_; }
  const crypto::NodePublic& disco_public_key() const { return disco_public_; }
  bool owns_loop() const { return host_->owns_loop(); }

 private:
  class Events;
  explicit HostedUvClient(HostedUvClientOptions& options);

  void emit(const UvClientEvent& e);
  int ping_now(std::uint64_t id);
  void snapshot();
  void fold_snapshot();
  UvClientTotals totals_now();

  std::function<void(const UvClientEvent&)> on_event_;
  std::unique_ptr<UvClientEventQueue> queue_;
  crypto::NodePublic public_key_;
  bool direct_ = false;
  crypto::NodePublic disco_public_;

  std::unique_ptr<LoopHost> host_;
  std::unique_ptr<Events> events_;
  std::unique_ptr<UvClient> uv_;

  // Written on the loop thread, read anywhere: what send and ping may decide without the loop.
  std::atomic<bool> connected_{false};
  std::atomic<bool> closed_{false};          // CLOSED delivered
  std::atomic<bool> stop_requested_{false};  // the host asked: CLOSED then carries DERP_OK
  std::atomic<std::uint64_t> next_ping_id_{1};
  std::atomic<std::uint64_t> dropped_disconnected_{0};  // refused here before reaching the loop

  // Loop thread only.
  int last_error_ = DERP_OK;
  std::string last_detail_;
  std::uint64_t disconnects_ = 0;
  client::ClientCounters earlier_;  // the core counters of connections that have ended
  client::ClientCounters current_;  // the current connection's, as last seen
  int callback_depth_ = 0;          // > 0 while on_event runs
};

}  // namespace derp::uv
