#include "uv/hosted_uv_client.hpp"

#include <utility>

#include "crypto/node_key.hpp"

namespace derp::uv {

namespace {

using crypto::NodePublic;

void add_counters(client::ClientCounters* to, const client::ClientCounters& k) {
  to->bytes_sent += k.bytes_sent;
  to->bytes_received += k.bytes_received;
  to->packets_dropped_queue_full += k.packets_dropped_queue_full;
  to->packets_dropped_rate_limit += k.packets_dropped_rate_limit;
  to->pings_sent += k.pings_sent;
  to->pongs_matched += k.pongs_matched;
  to->server_pings_answered += k.server_pings_answered;
}

UvClientEvent event_of(UvClientEventType type) {
  UvClientEvent e;
  e.type = type;
  return e;
}

}  // namespace

// The UvClient's events, on the loop thread, as UvClientEvent values.
class HostedUvClient::Events : public UvClientEvents {
 public:
  explicit Events(HostedUvClient& c) : c_(c) {}

  void on_state(const UvClientStatus& status) override {
    switch (status.state) {
      case UvClientState::Connected: {
        c_.current_ = {};
        c_.connected_.store(true);
        UvClientEvent e = event_of(UvClientEventType::kConnected);
        e.key = c_.uv_->server_key();
        c_.emit(e);
        break;
      }
      case UvClientState::Disconnected: {
        c_.connected_.store(false);
        c_.fold_snapshot();
        c_.disconnects_++;
        c_.last_error_ = status.error;
        c_.last_detail_ = status.detail;
        UvClientEvent e = event_of(UvClientEventType::kDisconnected);
        e.error = status.error;
        e.detail = c_.last_detail_.c_str();
        e.retry_in = status.retry_in;  // kNever: no retry
        c_.emit(e);
        break;
      }
      case UvClientState::Stopped: {
        c_.connected_.store(false);
        c_.fold_snapshot();
        UvClientEvent e = event_of(UvClientEventType::kClosed);
        std::string detail;
        if (c_.stop_requested_.load() || c_.last_error_ == DERP_OK) {
          e.error = DERP_OK;
          detail = "stopped";
        } else {
          // A one-shot client (reconnect off) stops by itself after its failure or loss: CLOSED says why.
          e.error = c_.last_error_;
          detail = c_.last_detail_;
        }
        e.detail = detail.c_str();
        c_.emit(e);
        break;
      }
      case UvClientState::Idle:
      case UvClientState::Connecting:
        break;
    }
  }
  void on_server_info(const crypto::ServerInfo& info) override {
    UvClientEvent e = event_of(UvClientEventType::kServerInfo);
    e.server_version = info.version;
    e.token_bucket_bytes_per_second = info.token_bucket_bytes_per_second;
    e.token_bucket_bytes_burst = info.token_bucket_bytes_burst;
    c_.emit(e);
  }
  void on_packet_via(const NodePublic& source, Bytes payload, path::Via via) override {
    c_.snapshot();
    UvClientEvent e = event_of(UvClientEventType::kPacket);
    e.key = source;
    e.data = payload;
    e.via = via;
    c_.emit(e);
  }
  void on_path_changed(const NodePublic& peer, path::Via via, const derp_addr& addr, Nanos rtt) override {
    UvClientEvent e = event_of(UvClientEventType::kPathChanged);
    e.key = peer;
    e.via = via;
    e.endpoint = addr;
    e.rtt = rtt;
    c_.emit(e);
  }
  void on_peer_gone(const NodePublic& peer, std::uint8_t reason) override {
    UvClientEvent e = event_of(UvClientEventType::kPeerGone);
    e.key = peer;
    e.reason = reason;
    c_.emit(e);
  }
  void on_peer_present(const NodePublic& peer, const derp_addr& endpoint, std::uint8_t flags) override {
    UvClientEvent e = event_of(UvClientEventType::kPeerPresent);
    e.key = peer;
    e.endpoint = endpoint;
    e.flags = flags;
    c_.emit(e);
  }
  void on_health(std::string_view problem) override {
    UvClientEvent e = event_of(UvClientEventType::kHealth);
    e.data = Bytes(reinterpret_cast<const std::uint8_t*>(problem.data()), problem.size());
    c_.emit(e);
  }
  void on_restarting(Nanos reconnect_in, Nanos try_for) override {
    c_.snapshot();
    UvClientEvent e = event_of(UvClientEventType::kRestarting);
    e.reconnect_in = reconnect_in;
    e.try_for = try_for;
    c_.emit(e);
  }

 private:
  HostedUvClient& c_;
};

HostedUvClient::HostedUvClient(HostedUvClientOptions& o) : on_event_(std::move(o.on_event)) {
  if (o.queue_events) queue_ = std::make_unique<UvClientEventQueue>(o.max_queued_events);
}

int HostedUvClient::create(HostedUvClientOptions options, std::unique_ptr<HostedUvClient>* out,
                           std::string* detail) {
  if (options.queue_events && options.max_queued_events == 0) {
    *detail = "max_queued_events must be at least 1";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  std::unique_ptr<HostedUvClient> c(new HostedUvClient(options));
  UvClientOptions& uo = options.client;
  if (uo.direct.enabled) {
    c->direct_ = true;
    if (uo.direct.disco_private.is_zero()) {
      if (const int rc = crypto::generate_private(&uo.direct.disco_private); rc != DERP_OK) return rc;
    }
    if (const int rc = crypto::public_of(uo.direct.disco_private, &c->disco_public_); rc != DERP_OK) return rc;
  }
  if (const int rc = crypto::public_of(uo.connection.private_key, &c->public_key_); rc != DERP_OK) {
    *detail = "the private key is not usable";
    return rc;
  }
  if (const int rc = LoopHost::create(std::move(options.host), &c->host_, detail); rc != DERP_OK) return rc;
  c->events_ = std::make_unique<Events>(*c);
  if (const int rc = UvClient::create(c->host_->loop(), std::move(uo), c->events_.get(), &c->uv_, detail);
      rc != DERP_OK) {
    return rc;
  }
  *out = std::move(c);
  return DERP_OK;
}

HostedUvClient::~HostedUvClient() {
  if (host_) host_->wind_down([this] { uv_->stop(); });
  // The loop has finished (thread mode), or this is the host's loop thread outside uv_run: handles the UvClient
  // still has are closed now and released when the loop next runs (the LoopHost runs a private one).
  uv_.reset();
  host_.reset();
}

void HostedUvClient::emit(const UvClientEvent& e) {
  // Nothing after CLOSED: a ping task that ran after stop, say, must not follow the last event.
  if (closed_.load()) return;
  if (e.type == UvClientEventType::kClosed) closed_.store(true);
  if (queue_) queue_->push(e);
  if (on_event_) {
    ++callback_depth_;
    on_event_(e);
    --callback_depth_;
  }
}

void HostedUvClient::snapshot() {
  if (const client::ClientConnection* core = uv_->connection()) current_ = core->counters();
}

void HostedUvClient::fold_snapshot() {
  add_counters(&earlier_, current_);
  current_ = {};
}

int HostedUvClient::ping_now(std::uint64_t id) {
  return uv_->ping([this, id](int result, Nanos rtt) {
    snapshot();
    UvClientEvent e = event_of(UvClientEventType::kPingResult);
    e.ping_id = id;
    e.error = result;
    e.rtt = result == DERP_OK ? rtt : 0;
    emit(e);
  });
}

UvClientTotals HostedUvClient::totals_now() {
  snapshot();
  client::ClientCounters k = earlier_;
  add_counters(&k, current_);
  const UvClientCounters& u = uv_->counters();
  UvClientTotals s;
  s.packets_sent = u.packets_sent;
  s.bytes_sent = k.bytes_sent;
  s.packets_received = u.packets_received;
  s.bytes_received = k.bytes_received;
  s.packets_dropped_queue_full = k.packets_dropped_queue_full + uv_->threadsafe_packets_dropped();
  s.packets_dropped_rate_limit = k.packets_dropped_rate_limit;
  s.packets_dropped_disconnected = u.packets_dropped_disconnected + dropped_disconnected_.load();
  s.pings_sent = k.pings_sent;
  s.pongs_matched = k.pongs_matched;
  s.server_pings_answered = k.server_pings_answered;
  s.connects = u.connects;
  s.disconnects = disconnects_;
  s.events_dropped = queue_ ? queue_->dropped() : 0;
  return s;
}

int HostedUvClient::start() {
  std::string detail;
  return host_->start_on_host_loop(/*tasks=*/false, [this] { return uv_->start(); }, &detail);
}

int HostedUvClient::start_thread(std::string* detail) {
  if (!host_->owns_loop()) {
    *detail = "thread mode needs a client made without a loop";
    return DERP_ERR_UV_STATE;
  }
  // The dial starts on the loop thread, so every event comes from there.
  return host_->start_thread({}, [this] { (void)uv_->start(); }, detail);
}

int HostedUvClient::send(const NodePublic& to, Bytes payload) {
  if (closed_.load() || stop_requested_.load()) return DERP_ERR_CLOSED;
  if (!connected_.load()) {
    dropped_disconnected_++;
    return DERP_ERR_NOT_CONNECTED;
  }
  if (host_->on_loop_thread()) return uv_->send_packet(to, payload);
  return uv_->send_packet_threadsafe(to, payload);
}

int HostedUvClient::note_preferred(bool preferred) {
  if (closed_.load() || stop_requested_.load()) return DERP_ERR_CLOSED;
  if (host_->thread_mode() && !host_->on_loop_thread()) {
    return host_->post([this, preferred] { (void)uv_->note_preferred(preferred); }) ? DERP_OK : DERP_ERR_CLOSED;
  }
  if (host_->loop_is_elsewhere()) return DERP_ERR_UV_STATE;  // host-loop mode: the loop thread only
  // The loop thread, or a client whose loop nobody runs yet (the UvClient remembers it for its connects).
  return uv_->note_preferred(preferred);
}

int HostedUvClient::ping(std::uint64_t* id_out) {
  if (closed_.load() || stop_requested_.load()) return DERP_ERR_CLOSED;
  if (!connected_.load()) return DERP_ERR_NOT_CONNECTED;
  const std::uint64_t id = next_ping_id_++;
  if (host_->thread_mode() && !host_->on_loop_thread()) {
    // Any thread in thread mode: the ping starts on the loop; whatever happens there comes as PING_RESULT.
    const bool posted = host_->post([this, id] {
      if (const int rc = ping_now(id); rc != DERP_OK) {
        UvClientEvent e = event_of(UvClientEventType::kPingResult);
        e.ping_id = id;
        e.error = rc;
        emit(e);
      }
    });
    if (!posted) return DERP_ERR_CLOSED;
  } else {
    if (!host_->on_loop_thread()) return DERP_ERR_UV_STATE;  // host-loop mode: the loop thread only
    if (const int rc = ping_now(id); rc != DERP_OK) return rc;
  }
  *id_out = id;
  return DERP_OK;
}

int HostedUvClient::set_peer_disco(const NodePublic& peer, const NodePublic& disco) {
  if (!direct_) return DERP_ERR_UNSUPPORTED;
  if (closed_.load() || stop_requested_.load()) return DERP_ERR_CLOSED;
  if (peer.is_zero() || disco.is_zero()) return DERP_ERR_INVALID_ARGUMENT;
  if (host_->thread_mode() && !host_->on_loop_thread()) {
    return host_->post([this, peer, disco] { (void)uv_->set_peer_disco(peer, disco); }) ? DERP_OK
                                                                                        : DERP_ERR_CLOSED;
  }
  if (host_->loop_is_elsewhere()) return DERP_ERR_UV_STATE;
  return uv_->set_peer_disco(peer, disco);
}

int HostedUvClient::totals(UvClientTotals* out) {
  // Thread mode: on the loop thread (inline from it), or here once the loop has finished; never concurrently.
  return host_->call([&] { *out = totals_now(); }) ? DERP_OK : DERP_ERR_UV_STATE;
}

void HostedUvClient::stop() {
  stop_requested_.store(true);
  switch (host_->stop([this] { uv_->stop(); })) {
    case LoopHost::Mode::Created:
      if (host_->owns_loop()) {
        uv_->stop();  // nobody runs the private loop: CLOSED comes now, on this thread
      } else {
        uv_->stop_threadsafe();  // the host's loop delivers CLOSED when it next runs
      }
      break;
    case LoopHost::Mode::HostLoop:
      uv_->stop_threadsafe();  // any thread, the loop thread too: CLOSED comes from the loop
      break;
    case LoopHost::Mode::Thread:   // stop posted uv_->stop and joined (from the loop thread: only asked)
    case LoopHost::Mode::Failed:
    case LoopHost::Mode::Stopped:
      break;
  }
}

bool HostedUvClient::may_destroy_here() const {
  return !(host_->on_loop_thread() && (host_->thread_mode() || callback_depth_ > 0));
}

}  // namespace derp::uv
