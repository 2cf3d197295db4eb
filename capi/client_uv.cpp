// C entry points of include/derp/client.h for derp_uv_client: lib/uv's reconnecting UvClient on the host's loop
// (host-loop mode) or on a LoopThread of its own (thread mode), its state changes and core events turned into
// derp_client_event values for the host's callback and, with queue_events, for derp_uv_client_next_event.
//
// Threads. Everything that touches the UvClient runs on the loop thread, except what UvClient itself makes
// thread-safe (send_packet_threadsafe, stop_threadsafe). Thread mode reaches the loop with LoopThread::post/call;
// host-loop mode has no queue of ours on the host's loop, so there ping, note_preferred and stats_get are for the
// loop thread only (derp_uv_client_start records which thread that is). The event queue has its own mutex.
#include "derp/client.h"
#include "derp/frame.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <uv.h>

#include "capi/guard.hpp"
#include "uv/wake_fd.hpp"
#include "client/connection.hpp"
#include "client/derpmap.hpp"
#include "crypto/node_key.hpp"
#include "uv/loop_thread.hpp"
#include "uv/uv_client.hpp"

namespace {

using derp::Nanos;
using derp::crypto::NodePublic;

enum class Mode { Created, HostLoop, Thread, Stopped };

derp_uv_client_options default_dial_options() {
  derp_uv_client_options o{};
  o.struct_size = sizeof o;
  o.reconnect = 1;
  o.connect_timeout_ms = 10000;  // Go's client: 10 s for DNS, TCP, TLS and the handshake together
  o.queue_events = 0;
  o.max_queued_events = 1024;
  o.seal_direct = 1;
  return o;
}

// A dial options struct must reach at least the url member to name a target.
constexpr std::size_t kMinDialSize = offsetof(derp_uv_client_options, url) + sizeof(const char*);
// next_event needs at least the type.
constexpr std::size_t kMinEventSize = offsetof(derp_client_event, type) + sizeof(int);

// An event owned by the queue: the struct with its pointers cleared, and the bytes they pointed to.
struct QueuedEvent {
  derp_client_event event{};
  std::vector<std::uint8_t> data;
  std::string detail;
  bool has_detail = false;
};

derp_client_event blank(int type) {
  derp_client_event e{};
  e.struct_size = sizeof e;
  e.type = type;
  return e;
}

void add_counters(derp::client::ClientCounters* to, const derp::client::ClientCounters& k) {
  to->bytes_sent += k.bytes_sent;
  to->bytes_received += k.bytes_received;
  to->packets_dropped_queue_full += k.packets_dropped_queue_full;
  to->packets_dropped_rate_limit += k.packets_dropped_rate_limit;
  to->pings_sent += k.pings_sent;
  to->pongs_matched += k.pongs_matched;
  to->server_pings_answered += k.server_pings_answered;
}

}  // namespace

struct derp_uv_client {
  class Events;

  uv_loop_t* loop = nullptr;
  uv_loop_t* own_loop = nullptr;  // thread mode: made here, through the C API allocator
  derp_client_event_fn on_event = nullptr;
  void* user_data = nullptr;
  bool queue_events = false;
  std::size_t max_queued_events = 1024;
  std::uint8_t public_key[DERP_KEY_LEN] = {};
  bool direct = false;                             // dial option `direct`
  std::uint8_t disco_public_key[DERP_KEY_LEN] = {};  // with `direct`

  std::unique_ptr<Events> events;
  std::unique_ptr<derp::uv::UvClient> uv;
  std::unique_ptr<derp::uv::LoopThread> thread;

  std::mutex mode_mutex;
  Mode mode = Mode::Created;  // under mode_mutex
  std::atomic<std::thread::id> host_loop_thread{};  // host-loop mode: the thread derp_uv_client_start ran on

  // Written on the loop thread, read anywhere: what derp_uv_client_send and _ping may decide without the loop.
  std::atomic<bool> connected{false};
  std::atomic<bool> closed{false};          // CLOSED delivered
  std::atomic<bool> stop_requested{false};  // the host asked: CLOSED then carries DERP_OK
  std::atomic<std::uint64_t> next_ping_id{1};
  std::atomic<std::uint64_t> dropped_disconnected{0};  // refused here before reaching the loop

  // Loop thread only.
  int last_error = DERP_OK;
  std::string last_detail;
  std::uint64_t disconnects = 0;
  derp::client::ClientCounters earlier;  // the core counters of connections that have ended
  derp::client::ClientCounters current;  // the current connection's, as last seen
  int callback_depth = 0;                // > 0 while the host's callback runs

  // The event queue (queue_events).
  std::mutex queue_mutex;
  std::condition_variable queue_cv;
  std::deque<QueuedEvent> queue;     // under queue_mutex
  bool closed_taken = false;         // under queue_mutex
  std::uint64_t events_dropped = 0;  // under queue_mutex
  derp::uv::WakeFd wake;           // under queue_mutex: derp_uv_client_event_fd, set while next_event would return

  bool host_mode() const { return own_loop == nullptr; }

  // True where the UvClient may be used directly: its loop thread, or a thread-mode client whose loop nobody runs.
  bool on_loop_thread() const {
    if (thread) return thread->on_loop_thread();
    if (host_mode()) return host_loop_thread.load() == std::this_thread::get_id();
    return false;
  }

  // Loop thread: the current connection's core counters, as they are now.
  void snapshot() {
    if (const derp::client::ClientConnection* core = uv->connection()) current = core->counters();
  }
  void fold_snapshot() {
    add_counters(&earlier, current);
    current = {};
  }

  // Loop thread. Nothing after CLOSED: a ping task that ran after stop, say, must not follow the last event.
  void emit(const derp_client_event& e) {
    if (closed.load()) return;
    if (e.type == DERP_CLIENT_EVENT_CLOSED) closed.store(true);
    if (queue_events) enqueue(e);
    if (on_event != nullptr) {
      ++callback_depth;
      on_event(&e, user_data);
      --callback_depth;
    }
  }

  void enqueue(const derp_client_event& e) {
    QueuedEvent q;
    q.event = e;
    q.event.data = nullptr;
    q.event.detail = nullptr;
    if (e.data != nullptr && e.len != 0) q.data.assign(e.data, e.data + e.len);
    if (e.detail != nullptr) {
      q.detail = e.detail;
      q.has_detail = true;
    }
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      if (queue.size() >= max_queued_events) {
        // Full: the oldest PACKET goes (the newest one itself when none is queued). Every other kind is kept, so
        // the queue may exceed its bound by them: they are few, and losing CONNECTED or CLOSED would lie.
        const auto oldest_packet = std::find_if(queue.begin(), queue.end(), [](const QueuedEvent& x) {
          return x.event.type == DERP_CLIENT_EVENT_PACKET;
        });
        if (oldest_packet != queue.end()) {
          queue.erase(oldest_packet);
          events_dropped++;
        } else if (e.type == DERP_CLIENT_EVENT_PACKET) {
          events_dropped++;
          return;
        }
      }
      queue.push_back(std::move(q));
      wake.set();
    }
    queue_cv.notify_all();
  }

  // Loop thread: asks the UvClient for a ping whose result comes as PING_RESULT with our id.
  int ping_now(std::uint64_t id) {
    return uv->ping([this, id](int result, Nanos rtt) {
      snapshot();
      derp_client_event e = blank(DERP_CLIENT_EVENT_PING_RESULT);
      e.ping_id = id;
      e.error = result;
      e.rtt_ns = result == DERP_OK ? rtt : 0;
      emit(e);
    });
  }

  // Loop thread (or, before the thread started, the only thread touching the loop).
  derp_client_stats_t stats_now() {
    snapshot();
    derp::client::ClientCounters k = earlier;
    add_counters(&k, current);
    const derp::uv::UvClientCounters& u = uv->counters();
    derp_client_stats_t s{};
    s.struct_size = sizeof s;
    s.packets_sent = u.packets_sent;
    s.bytes_sent = k.bytes_sent;
    s.packets_received = u.packets_received;
    s.bytes_received = k.bytes_received;
    s.packets_dropped_queue_full = k.packets_dropped_queue_full + uv->threadsafe_packets_dropped();
    s.packets_dropped_rate_limit = k.packets_dropped_rate_limit;
    s.packets_dropped_disconnected = u.packets_dropped_disconnected + dropped_disconnected.load();
    s.pings_sent = k.pings_sent;
    s.pongs_matched = k.pongs_matched;
    s.server_pings_answered = k.server_pings_answered;
    s.connects = u.connects;
    s.disconnects = disconnects;
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      s.events_dropped = events_dropped;
    }
    return s;
  }
};

// The UvClient's events, on the loop thread.
class derp_uv_client::Events : public derp::uv::UvClientEvents {
 public:
  explicit Events(derp_uv_client& c) : c_(c) {}

  void on_state(const derp::uv::UvClientStatus& status) override {
    switch (status.state) {
      case derp::uv::UvClientState::Connected: {
        c_.current = {};
        c_.connected.store(true);
        derp_client_event e = blank(DERP_CLIENT_EVENT_CONNECTED);
        std::memcpy(e.key, c_.uv->server_key().bytes().data(), DERP_KEY_LEN);
        c_.emit(e);
        break;
      }
      case derp::uv::UvClientState::Disconnected: {
        c_.connected.store(false);
        c_.fold_snapshot();
        c_.disconnects++;
        c_.last_error = status.error;
        c_.last_detail = status.detail;
        derp_client_event e = blank(DERP_CLIENT_EVENT_DISCONNECTED);
        e.error = status.error;
        e.detail = c_.last_detail.c_str();
        e.retry_in_ns = status.retry_in;  // kNever is UINT64_MAX: no retry
        c_.emit(e);
        break;
      }
      case derp::uv::UvClientState::Stopped: {
        c_.connected.store(false);
        c_.fold_snapshot();
        derp_client_event e = blank(DERP_CLIENT_EVENT_CLOSED);
        std::string detail;
        if (c_.stop_requested.load() || c_.last_error == DERP_OK) {
          e.error = DERP_OK;
          detail = "stopped";
        } else {
          // A one-shot client (reconnect 0) stops by itself after its failure or loss: CLOSED says why.
          e.error = c_.last_error;
          detail = c_.last_detail;
        }
        e.detail = detail.c_str();
        c_.emit(e);
        break;
      }
      case derp::uv::UvClientState::Idle:
      case derp::uv::UvClientState::Connecting:
        break;
    }
  }
  void on_server_info(const derp::crypto::ServerInfo& info) override {
    derp_client_event e = blank(DERP_CLIENT_EVENT_SERVER_INFO);
    e.server_version = info.version;
    e.token_bucket_bytes_per_second = info.token_bucket_bytes_per_second;
    e.token_bucket_bytes_burst = info.token_bucket_bytes_burst;
    c_.emit(e);
  }
  void on_packet_via(const NodePublic& source, derp::Bytes payload, derp::path::Via via) override {
    c_.snapshot();
    derp_client_event e = blank(DERP_CLIENT_EVENT_PACKET);
    std::memcpy(e.key, source.bytes().data(), DERP_KEY_LEN);
    e.data = payload.data();
    e.len = payload.size();
    e.via = via == derp::path::Via::kDirect ? DERP_PATH_DIRECT : DERP_PATH_DERP;
    c_.emit(e);
  }
  void on_path_changed(const NodePublic& peer, derp::path::Via via, const derp_addr& addr, Nanos rtt) override {
    derp_client_event e = blank(DERP_CLIENT_EVENT_PATH_CHANGED);
    std::memcpy(e.key, peer.bytes().data(), DERP_KEY_LEN);
    e.via = via == derp::path::Via::kDirect ? DERP_PATH_DIRECT : DERP_PATH_DERP;
    e.endpoint = addr;
    e.rtt_ns = rtt;
    c_.emit(e);
  }
  void on_peer_gone(const NodePublic& peer, std::uint8_t reason) override {
    derp_client_event e = blank(DERP_CLIENT_EVENT_PEER_GONE);
    std::memcpy(e.key, peer.bytes().data(), DERP_KEY_LEN);
    e.reason = reason;
    c_.emit(e);
  }
  void on_peer_present(const NodePublic& peer, const derp_addr& endpoint, std::uint8_t flags) override {
    derp_client_event e = blank(DERP_CLIENT_EVENT_PEER_PRESENT);
    std::memcpy(e.key, peer.bytes().data(), DERP_KEY_LEN);
    e.endpoint = endpoint;
    e.flags = flags;
    c_.emit(e);
  }
  void on_health(std::string_view problem) override {
    derp_client_event e = blank(DERP_CLIENT_EVENT_HEALTH);
    e.data = reinterpret_cast<const std::uint8_t*>(problem.data());
    e.len = problem.size();
    c_.emit(e);
  }
  void on_restarting(Nanos reconnect_in, Nanos try_for) override {
    c_.snapshot();
    derp_client_event e = blank(DERP_CLIENT_EVENT_RESTARTING);
    e.reconnect_in_ns = reconnect_in;
    e.try_for_ns = try_for;
    c_.emit(e);
  }

 private:
  derp_uv_client& c_;
};

namespace {

void release_own_loop(derp_uv_client* c) {
  if (c->own_loop == nullptr) return;
  // Close callbacks still due (a client that never ran, or handles its destructor closed).
  while (uv_run(c->own_loop, UV_RUN_NOWAIT) != 0) {
  }
  if (uv_loop_close(c->own_loop) != 0) {
    derp::capi::log_global(DERP_LOG_ERROR, "derp_uv_client_free: the client's loop still has handles; leaked");
    return;
  }
  derp::capi::deallocate(c->own_loop);
  c->own_loop = nullptr;
}

int dial_target(const derp_uv_client_options& d, derp::uv::UvClientOptions* uo, std::string* detail) {
  if (d.url != nullptr && d.url[0] != '\0') {
    uo->url = d.url;
    return DERP_OK;
  }
  if (d.derpmap_json == nullptr) {
    *detail = "give a url or a derpmap_json";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  const std::size_t len = d.derpmap_len != 0 ? d.derpmap_len : std::strlen(d.derpmap_json);
  derp::client::DerpMap map;
  if (const int rc = derp::client::parse_derp_map(std::string_view(d.derpmap_json, len), &map); rc != DERP_OK) {
    *detail = "the DERPMap JSON does not parse";
    return rc;
  }
  const auto it = map.regions.find(d.region_id);
  if (it == map.regions.end()) {
    *detail = "the DERPMap has no region " + std::to_string(d.region_id);
    return DERP_ERR_INVALID_ARGUMENT;
  }
  uo->region = it->second;
  return DERP_OK;
}

}  // namespace

extern "C" {

int derp_uv_client_options_init(derp_uv_client_options* opts, size_t struct_size) {
  return derp::capi::init_versioned(opts, struct_size, default_dial_options());
}

int derp_uv_client_new(struct uv_loop_s* loop, const derp_client_options* opts, const derp_uv_client_options* dial,
                       derp_uv_client** out) {
  return derp::capi::guarded([&]() -> int {
    if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    std::string detail;
    const auto fail = [&detail](int rc) {
      derp::capi::log_global(DERP_LOG_ERROR, "derp_uv_client_new: " + detail);
      return rc;
    };
    derp_client_options o;
    if (const int rc = derp::capi::client_options_read(opts, &o, &detail); rc != DERP_OK) return fail(rc);
    derp::uv::UvClientOptions uo;
    if (const int rc = derp::capi::client_options_to_core(o, &uo.connection, &detail); rc != DERP_OK) return fail(rc);
    if (dial == nullptr || dial->struct_size < kMinDialSize) {
      detail = "dial options are required (call derp_uv_client_options_init)";
      return fail(DERP_ERR_INVALID_ARGUMENT);
    }
    derp_uv_client_options d = default_dial_options();
    derp::capi::copy_struct_prefix(*dial, &d, dial->struct_size);
    if (const int rc = dial_target(d, &uo, &detail); rc != DERP_OK) return fail(rc);
    if (d.queue_events != 0 && d.max_queued_events == 0) {
      detail = "max_queued_events must be at least 1";
      return fail(DERP_ERR_INVALID_ARGUMENT);
    }
    if (d.ca_file != nullptr) uo.extra_ca_path = d.ca_file;
    uo.insecure_skip_verify = d.insecure_skip_verify != 0;
    uo.reconnect = d.reconnect != 0;
    if (d.connect_timeout_ms != 0) uo.connect_timeout = Nanos{d.connect_timeout_ms} * derp::kMillisecond;
    std::uint8_t disco_public[DERP_KEY_LEN] = {};
    if (d.direct != 0) {
      uo.direct.enabled = true;
      if (d.udp_bind != nullptr) uo.direct.udp_bind = d.udp_bind;
      if (d.stun_server != nullptr) uo.direct.stun_server = d.stun_server;
      if (d.udp_bind6 != nullptr) uo.direct.udp_bind6 = d.udp_bind6;
      if (d.stun_server6 != nullptr) uo.direct.stun_server6 = d.stun_server6;
      uo.direct.path.seal_data = d.seal_direct != 0;
      // Made here, not in the driver, so derp_uv_client_disco_public_key can answer from any thread at once.
      if (const int rc = derp::crypto::generate_private(&uo.direct.disco_private); rc != DERP_OK) return fail(rc);
      NodePublic disco;
      if (const int rc = derp::crypto::public_of(uo.direct.disco_private, &disco); rc != DERP_OK) return fail(rc);
      std::memcpy(disco_public, disco.bytes().data(), DERP_KEY_LEN);
    }
    uo.log = [](std::string_view line) {
      derp::capi::log_global(DERP_LOG_INFO, "derp_uv_client: " + std::string(line));
    };

    struct Deleter {
      void operator()(derp_uv_client* c) const {
        c->uv.reset();
        release_own_loop(c);
        derp::capi::destroy(c);
      }
    };
    std::unique_ptr<derp_uv_client, Deleter> c(derp::capi::create<derp_uv_client>());
    c->on_event = o.on_event;
    c->user_data = o.user_data;
    c->queue_events = d.queue_events != 0;
    c->max_queued_events = d.max_queued_events;
    NodePublic pub;
    if (const int rc = derp::crypto::public_of(uo.connection.private_key, &pub); rc != DERP_OK) return rc;
    std::memcpy(c->public_key, pub.bytes().data(), DERP_KEY_LEN);
    c->events = std::make_unique<derp_uv_client::Events>(*c);
    c->direct = d.direct != 0;
    std::memcpy(c->disco_public_key, disco_public, DERP_KEY_LEN);

    if (loop == nullptr) {
      void* memory = derp::capi::allocate(sizeof(uv_loop_t));
      if (memory == nullptr) return DERP_ERR_NO_MEMORY;
      auto* own = static_cast<uv_loop_t*>(memory);
      if (const int rc = uv_loop_init(own); rc != 0) {
        derp::capi::deallocate(own);
        detail = std::string("uv_loop_init: ") + uv_strerror(rc);
        return fail(DERP_ERR_UV_LOOP);
      }
      c->own_loop = own;
      loop = own;
    }
    c->loop = loop;
    if (const int rc = derp::uv::UvClient::create(loop, std::move(uo), c->events.get(), &c->uv, &detail);
        rc != DERP_OK) {
      return fail(rc);
    }
    *out = c.release();
    return DERP_OK;
  });
}

int derp_uv_client_start(derp_uv_client* client) {
  return derp::capi::guarded([&]() -> int {
    if (client == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    std::lock_guard<std::mutex> lock(client->mode_mutex);
    if (client->mode != Mode::Created || !client->host_mode()) return DERP_ERR_UV_STATE;
    client->host_loop_thread.store(std::this_thread::get_id());
    if (const int rc = client->uv->start(); rc != DERP_OK) return rc;
    client->mode = Mode::HostLoop;
    return DERP_OK;
  });
}

int derp_uv_client_start_thread(derp_uv_client* client) {
  return derp::capi::guarded([&]() -> int {
    if (client == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    std::lock_guard<std::mutex> lock(client->mode_mutex);
    if (client->mode != Mode::Created || client->host_mode()) return DERP_ERR_UV_STATE;
    std::string detail;
    if (const int rc = derp::uv::LoopThread::start(client->loop, &client->thread, &detail); rc != DERP_OK) {
      derp::capi::log_global(DERP_LOG_ERROR, "derp_uv_client_start_thread: " + detail);
      return rc;
    }
    // The dial starts on the loop thread, so every event comes from there.
    client->thread->post([client] { (void)client->uv->start(); });
    client->mode = Mode::Thread;
    return DERP_OK;
  });
}

int derp_uv_client_send(derp_uv_client* client, const uint8_t dst[32], const uint8_t* data, size_t len) {
  return derp::capi::guarded([&]() -> int {
    if (client == nullptr || dst == nullptr || (data == nullptr && len != 0)) return DERP_ERR_INVALID_ARGUMENT;
    if (len > DERP_MAX_PACKET_SIZE) return DERP_ERR_FRAME_TOO_LARGE;
    if (client->closed.load() || client->stop_requested.load()) return DERP_ERR_CLOSED;
    if (!client->connected.load()) {
      client->dropped_disconnected++;
      return DERP_ERR_NOT_CONNECTED;
    }
    const NodePublic to = NodePublic::from_raw(dst);
    if (client->on_loop_thread()) return client->uv->send_packet(to, derp::Bytes(data, len));
    return client->uv->send_packet_threadsafe(to, derp::Bytes(data, len));
  });
}

int derp_uv_client_note_preferred(derp_uv_client* client, int preferred) {
  return derp::capi::guarded([&]() -> int {
    if (client == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    if (client->closed.load() || client->stop_requested.load()) return DERP_ERR_CLOSED;
    const bool p = preferred != 0;
    if (client->thread && !client->thread->on_loop_thread()) {
      return client->thread->post([client, p] { (void)client->uv->note_preferred(p); }) ? DERP_OK : DERP_ERR_CLOSED;
    }
    if (client->host_mode() && client->host_loop_thread.load() != std::thread::id() && !client->on_loop_thread()) {
      return DERP_ERR_UV_STATE;  // host-loop mode: the loop thread only
    }
    // The loop thread, or a client whose loop nobody runs yet (the UvClient remembers it for its connects).
    return client->uv->note_preferred(p);
  });
}

int derp_uv_client_ping(derp_uv_client* client, uint64_t* id_out) {
  return derp::capi::guarded([&]() -> int {
    if (id_out != nullptr) *id_out = 0;
    if (client == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    if (client->closed.load() || client->stop_requested.load()) return DERP_ERR_CLOSED;
    if (!client->connected.load()) return DERP_ERR_NOT_CONNECTED;
    const std::uint64_t id = client->next_ping_id++;
    if (client->thread && !client->thread->on_loop_thread()) {
      // Any thread in thread mode: the ping starts on the loop; whatever happens there comes as PING_RESULT.
      const bool posted = client->thread->post([client, id] {
        if (const int rc = client->ping_now(id); rc != DERP_OK) {
          derp_client_event e = blank(DERP_CLIENT_EVENT_PING_RESULT);
          e.ping_id = id;
          e.error = rc;
          client->emit(e);
        }
      });
      if (!posted) return DERP_ERR_CLOSED;
    } else {
      if (!client->on_loop_thread()) return DERP_ERR_UV_STATE;  // host-loop mode: the loop thread only
      if (const int rc = client->ping_now(id); rc != DERP_OK) return rc;
    }
    if (id_out != nullptr) *id_out = id;
    return DERP_OK;
  });
}

int derp_uv_client_next_event(derp_uv_client* client, int timeout_ms, derp_client_event* event, uint8_t* buf,
                              size_t cap) {
  return derp::capi::guarded([&]() -> int {
    if (client == nullptr || event == nullptr || event->struct_size < kMinEventSize || (buf == nullptr && cap != 0)) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    if (!client->queue_events) return DERP_ERR_UNSUPPORTED;
    std::unique_lock<std::mutex> lock(client->queue_mutex);
    if (client->closed_taken) return DERP_ERR_CLOSED;
    const auto ready = [client] { return !client->queue.empty(); };
    if (timeout_ms < 0) {
      client->queue_cv.wait(lock, ready);
    } else if (!client->queue_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready)) {
      return DERP_ERR_TIMEOUT;
    }
    const QueuedEvent& q = client->queue.front();
    const std::size_t need = q.data.size() + (q.has_detail ? q.detail.size() + 1 : 0);
    derp_client_event e = q.event;
    const std::size_t caller_size = event->struct_size;
    if (need > cap) {
      e.len = need;  // what cap must be; the event stays queued
      derp::capi::copy_struct_prefix(e, event, caller_size);
      event->struct_size = std::min(caller_size, sizeof e);
      return DERP_ERR_BUFFER_TOO_SMALL;
    }
    if (!q.data.empty()) {
      std::memcpy(buf, q.data.data(), q.data.size());
      e.data = buf;
    }
    if (q.has_detail) {
      char* text = reinterpret_cast<char*>(buf + q.data.size());
      std::memcpy(text, q.detail.c_str(), q.detail.size() + 1);
      e.detail = text;
    }
    derp::capi::copy_struct_prefix(e, event, caller_size);
    event->struct_size = std::min(caller_size, sizeof e);
    if (e.type == DERP_CLIENT_EVENT_CLOSED) client->closed_taken = true;
    client->queue.pop_front();
    // After CLOSED it stays readable: every later call returns DERP_ERR_CLOSED at once.
    if (client->queue.empty() && !client->closed_taken) client->wake.clear();
    return DERP_OK;
  });
}

int derp_uv_client_event_fd(derp_uv_client* client, int* fd_out) {
  return derp::capi::guarded([&]() -> int {
    if (fd_out != nullptr) *fd_out = -1;
    if (client == nullptr || fd_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    if (!client->queue_events) return DERP_ERR_UNSUPPORTED;
    std::lock_guard<std::mutex> lock(client->queue_mutex);
    if (!client->wake.is_open()) {
      if (const int rc = client->wake.open(); rc != DERP_OK) return rc;
      if (!client->queue.empty() || client->closed_taken) client->wake.set();
    }
    *fd_out = client->wake.fd();
    return DERP_OK;
  });
}

int derp_uv_client_stats(derp_uv_client* client, derp_client_stats_t* out) {
  return derp::capi::guarded([&]() -> int {
    if (client == nullptr || out == nullptr || out->struct_size < sizeof(std::size_t)) return DERP_ERR_INVALID_ARGUMENT;
    derp_client_stats_t s{};
    if (client->thread) {
      // On the loop thread (inline from it), or on this one once the loop has finished: never concurrently.
      client->thread->call([&] { s = client->stats_now(); });
    } else if (client->host_mode() && client->host_loop_thread.load() != std::thread::id() &&
               !client->on_loop_thread()) {
      return DERP_ERR_UV_STATE;  // host-loop mode: the loop thread only
    } else {
      s = client->stats_now();
    }
    return derp::capi::client_stats_write(s, out);
  });
}

int derp_uv_client_public_key(const derp_uv_client* client, uint8_t key_out[32]) {
  if (client == nullptr || key_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  std::memcpy(key_out, client->public_key, DERP_KEY_LEN);
  return DERP_OK;
}

int derp_uv_client_disco_public_key(const derp_uv_client* client, uint8_t key_out[32]) {
  if (client == nullptr || key_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (!client->direct) return DERP_ERR_UNSUPPORTED;
  std::memcpy(key_out, client->disco_public_key, DERP_KEY_LEN);
  return DERP_OK;
}

int derp_uv_client_set_peer_disco(derp_uv_client* client, const uint8_t peer[32], const uint8_t disco[32]) {
  return derp::capi::guarded([&]() -> int {
    if (client == nullptr || peer == nullptr || disco == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    if (!client->direct) return DERP_ERR_UNSUPPORTED;
    if (client->closed.load() || client->stop_requested.load()) return DERP_ERR_CLOSED;
    const NodePublic p = NodePublic::from_raw(peer), d = NodePublic::from_raw(disco);
    if (p.is_zero() || d.is_zero()) return DERP_ERR_INVALID_ARGUMENT;
    if (client->thread && !client->thread->on_loop_thread()) {
      return client->thread->post([client, p, d] { (void)client->uv->set_peer_disco(p, d); }) ? DERP_OK
                                                                                             : DERP_ERR_CLOSED;
    }
    if (client->host_mode() && client->host_loop_thread.load() != std::thread::id() && !client->on_loop_thread()) {
      return DERP_ERR_UV_STATE;
    }
    return client->uv->set_peer_disco(p, d);
  });
}

int derp_uv_client_stop(derp_uv_client* client) {
  return derp::capi::guarded([&]() -> int {
    if (client == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    client->stop_requested.store(true);
    Mode mode;
    {
      std::lock_guard<std::mutex> lock(client->mode_mutex);
      mode = client->mode;
      if (mode == Mode::Created) client->mode = Mode::Stopped;
    }
    switch (mode) {
      case Mode::Created:
        if (client->host_mode()) {
          client->uv->stop_threadsafe();  // the host's loop delivers CLOSED when it next runs
        } else {
          client->uv->stop();  // nobody runs the private loop: CLOSED comes now, on this thread
        }
        break;
      case Mode::HostLoop:
        client->uv->stop_threadsafe();  // from any thread, the loop thread too: CLOSED comes from the loop
        break;
      case Mode::Thread: {
        derp_uv_client* c = client;
        (void)client->thread->post([c] { c->uv->stop(); });  // refused only when the loop has already finished
        // Joins once CLOSED was delivered and the client's handles are closed; from the loop thread (a callback)
        // it only asks, and derp_uv_client_free joins.
        client->thread->stop();
        break;
      }
      case Mode::Stopped:
        break;
    }
    return DERP_OK;
  });
}

void derp_uv_client_free(derp_uv_client* client) {
  if (client == nullptr) return;
  if (client->on_loop_thread() && (client->thread || client->callback_depth > 0)) {
    // Inside the client's own callback (thread mode: anywhere on its thread). Freeing here would destroy the
    // UvClient under its own stack frames or join the thread from itself: refuse, and say so.
    derp::capi::log_global(DERP_LOG_ERROR, "derp_uv_client_free called from the client's own loop callback; not freed");
    return;
  }
  if (client->thread) {
    if (!client->stop_requested.exchange(true)) {
      derp_uv_client* c = client;
      (void)client->thread->post([c] { c->uv->stop(); });
    }
    client->thread->stop();  // joins
    client->uv.reset();      // the loop has finished: nobody else touches it
    client->thread.reset();
  } else {
    // Host-loop mode: on the loop thread, outside uv_run (or a thread-mode client never started). Handles the
    // UvClient still had are closed now and released when the loop next runs (release_own_loop runs it for ours).
    client->uv.reset();
  }
  release_own_loop(client);
  derp::capi::destroy(client);
}

}  // extern "C"
