#include "uv/uv_client.hpp"

#include <sodium.h>

#include "common/address.hpp"
#include "crypto/sodium_init.hpp"
#include "frame/limits.hpp"
#include "uv/clock.hpp"

namespace derp::uv {

const char* uv_client_state_name(UvClientState state) {
  switch (state) {
    case UvClientState::Idle:
      return "idle";
    case UvClientState::Connecting:
      return "connecting";
    case UvClientState::Connected:
      return "connected";
    case UvClientState::Disconnected:
      return "disconnected";
    case UvClientState::Stopped:
      return "stopped";
  }
  return "unknown";
}

// The current connection's core events, forwarded to the host; the ones that change the client's state come to
// the UvClient first. on_closed is not forwarded: the transport reports the end (with a TLS or socket error the
// core does not know about) and the client turns it into Disconnected.
class UvClient::CoreEvents : public client::ClientEvents {
 public:
  explicit CoreEvents(UvClient& client) : c_(client) {}
  void on_connected(const crypto::NodePublic& server_key) override {
    if (c_.events_ != nullptr) c_.on_core_connected(server_key);
  }
  void on_server_info(const crypto::ServerInfo& info) override {
    c_.server_info_ = info;
    if (c_.events_ != nullptr) c_.events_->on_server_info(info);
  }
  void on_packet(const crypto::NodePublic& source, Bytes payload) override {
    c_.counters_.packets_received++;
    if (c_.direct_) {
      c_.direct_->receive_derp(source, payload);  // disco and announcements stay inside; data comes back out
    } else if (c_.events_ != nullptr) {
      c_.events_->on_packet_via(source, payload, path::Via::kDerp);
    }
  }
  void on_peer_gone(const crypto::NodePublic& peer, std::uint8_t reason) override {
    if (c_.events_ != nullptr) c_.events_->on_peer_gone(peer, reason);
  }
  void on_peer_present(const crypto::NodePublic& peer, const derp_addr& endpoint, std::uint8_t flags) override {
    if (c_.events_ != nullptr) c_.events_->on_peer_present(peer, endpoint, flags);
  }
  void on_health(std::string_view problem) override {
    if (c_.events_ != nullptr) c_.events_->on_health(problem);
  }
  void on_restarting(Nanos reconnect_in, Nanos try_for) override {
    c_.policy_.on_restarting(monotonic_now(), reconnect_in, try_for);
    if (c_.events_ != nullptr) c_.events_->on_restarting(reconnect_in, try_for);
  }
  void on_ping_result(std::uint64_t id, int result, Nanos rtt) override {
    const auto it = c_.pings_.find(id);
    if (it == c_.pings_.end()) return;
    PingDone done = std::move(it->second);
    c_.pings_.erase(it);
    if (done) done(result, rtt);
  }

 private:
  UvClient& c_;
};

namespace {

std::uint64_t random_seed() {
  std::uint64_t seed = 0;
  if (crypto::ensure_sodium() == DERP_OK) randombytes_buf(&seed, sizeof seed);
  return seed != 0 ? seed : 0x9e3779b97f4a7c15ull;
}

}  // namespace

UvClient::UvClient(uv_loop_t* loop, UvClientOptions options, UvClientEvents* events)
    : loop_(loop),
      options_(std::move(options)),
      events_(events),
      core_events_(std::make_unique<CoreEvents>(*this)),
      policy_(options_.backoff, options_.backoff_seed != 0 ? options_.backoff_seed : random_seed()),
      dialer_(loop) {
  preferred_ = options_.preferred;
}

int UvClient::create(uv_loop_t* loop, UvClientOptions options, UvClientEvents* events, std::unique_ptr<UvClient>* out,
                     std::string* detail) {
  std::string ignored;
  if (detail == nullptr) detail = &ignored;
  if (out == nullptr || loop == nullptr || events == nullptr) {
    *detail = "loop, events and out are required";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  out->reset();
  std::unique_ptr<UvClient> c(new UvClient(loop, std::move(options), events));
  if (const int rc = c->init(detail); rc != DERP_OK) return rc;
  *out = std::move(c);
  return DERP_OK;
}

int UvClient::init(std::string* detail) {
  if (options_.connection.private_key.is_zero()) {
    *detail = "a private key is required";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  if (const int rc = crypto::ensure_sodium(); rc != DERP_OK) return rc;
  if (const int rc = crypto::public_of(options_.connection.private_key, &public_key_); rc != DERP_OK) return rc;
  if (options_.url.empty() == !options_.region.has_value()) {
    *detail = "give exactly one target: a URL or a region";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  bool need_tls = false;
  bool need_insecure = options_.insecure_skip_verify;
  if (!options_.url.empty()) {
    client::DerpUrl url;
    if (const int rc = client::parse_derp_url(options_.url, &url); rc != DERP_OK) {
      *detail = "not a DERP URL: " + options_.url;
      return rc;
    }
    Target t;
    t.dial = dial_node_for_host(url.host, url.port);
    t.tls = url.tls;
    t.tls_target = tls::ClientTarget{url.host, options_.cert_name};
    t.insecure = options_.insecure_skip_verify;
    t.host_header = url.host_header;
    t.path = url.path;
    targets_.push_back(std::move(t));
    need_tls = url.tls;
  } else {
    const derpmap::DerpRegion& region = *options_.region;
    for (const derpmap::DerpNode* node : derpmap::region_nodes_for_derp(region)) {
      const auto port = derpmap::effective_derp_port(*node);
      if (!port || *port == 0) continue;  // a port outside 1..65535 cannot be dialled
      Target t;
      t.dial.name = node->name;
      t.dial.host_name = node->host_name;
      t.dial.ipv4 = derpmap::node_ipv4_dial(*node);
      t.dial.ipv6 = derpmap::node_ipv6_dial(*node);
      t.dial.port = *port;
      t.tls = !options_.plain_http;
      t.tls_target = tls::ClientTarget{node->host_name, node->cert_name};
      t.insecure = options_.insecure_skip_verify || node->insecure_for_tests;
      std::string host = node->host_name;
      if (host.empty()) host = t.dial.ipv4.kind == derpmap::DialAddress::Kind::kAddress ? t.dial.ipv4.ip : t.dial.ipv6.ip;
      // Reference §1.1: the port shows only when it is not the scheme's default.
      t.host_header = client::host_header_for(host, *port, t.tls ? 443 : 80);
      // Ideal-Node names the region's first node when another one is dialled (reference §1.1).
      if (!region.nodes.empty() && region.nodes.front().name != node->name) t.ideal_node = region.nodes.front().name;
      need_tls = need_tls || t.tls;
      need_insecure = need_insecure || (t.tls && t.insecure);
      targets_.push_back(std::move(t));
    }
    if (targets_.empty()) {
      *detail = "region " + std::to_string(region.region_id) + " has no node to dial for DERP";
      return DERP_ERR_INVALID_ARGUMENT;
    }
  }
  if (need_tls) {
    tls::ClientOptions o;
    o.ca_bundle_path = options_.ca_bundle_path;
    o.extra_ca_path = options_.extra_ca_path;
    bool all_insecure = true;
    for (const Target& t : targets_) all_insecure = all_insecure && (!t.tls || t.insecure);
    if (!all_insecure) {
      if (const int rc = tls::ClientConfig::create(o, &tls_config_, detail); rc != DERP_OK) return rc;
    }
    if (need_insecure) {
      o.ca_bundle_path.clear();
      o.extra_ca_path.clear();
      o.insecure_skip_verify = true;
      if (const int rc = tls::ClientConfig::create(o, &insecure_tls_config_, detail); rc != DERP_OK) return rc;
    }
  }
  if (connect_timer_.init(loop_) != 0 || retry_timer_.init(loop_) != 0) {
    *detail = "cannot create timers";
    return DERP_ERR_UV_LOOP;
  }
  auto* async = new uv_async_t{};
  if (uv_async_init(loop_, async, on_async) != 0) {
    delete async;
    *detail = "cannot create the wake-up handle";
    return DERP_ERR_UV_LOOP;
  }
  async->data = this;
  async_ = async;
  if (options_.direct.enabled) return open_direct(detail);
  return DERP_OK;
}

int UvClient::open_direct(std::string* detail) {
  // Default STUN server: the DERP node's STUN port (3478) on the URL's host, a name or an IP literal.
  const std::optional<StunTarget> default_stun =
      options_.url.empty() ? std::nullopt : default_stun_target(options_.url);
  UvDirectPath::Host host;
  host.send_derp = [this](const crypto::NodePublic& to, Bytes payload) { (void)send_over_derp(to, payload); };
  host.on_data = [this](const crypto::NodePublic& from, Bytes payload, path::Via via) {
    if (events_ != nullptr) events_->on_packet_via(from, payload, via);
  };
  host.on_path_changed = [this](const path::Event& e) {
    if (events_ != nullptr) events_->on_path_changed(e.peer, e.via, e.addr, e.rtt);
  };
  host.log = [this](const std::string& line) { log(line); };
  return UvDirectPath::create(loop_, options_.direct, default_stun, options_.connection.private_key, std::move(host),
                              &direct_, detail);
}

int UvClient::set_peer_disco(const crypto::NodePublic& peer, const crypto::NodePublic& disco) {
  if (!direct_) return DERP_ERR_UNSUPPORTED;
  return direct_->set_peer_disco(peer, disco);
}

UvClient::~UvClient() {
  // The host is tearing down: no callbacks into it, not even for pings the closing connection still reports.
  events_ = nullptr;
  pings_.clear();
  stopping_ = true;
  direct_.reset();
  dialer_.cancel();
  transport_.reset();
  retired_.clear();
  close_async();
}

// ---- connecting ------------------------------------------------------------------------------------------------

int UvClient::start() {
  if (started_ || stopping_) return DERP_ERR_UV_STATE;
  started_ = true;
  begin_connect();
  return DERP_OK;
}

void UvClient::begin_connect() {
  if (stopping_) return;
  retired_.clear();  // from a timer callback or start(): no transport code is on the stack
  counters_.dials++;
  server_info_.reset();
  UvClientStatus s;
  s.state = UvClientState::Connecting;
  const Nanos budget = options_.connect_timeout > 0 ? options_.connect_timeout : 10 * kSecond;
  connect_timer_.start(millis_until(budget, 0), [this, budget] {
    connection_failed(DERP_ERR_TIMEOUT,
                      "no DERP connection within " + std::to_string(budget / kMillisecond) + " ms (DNS, TCP, TLS and handshake)");
  });
  std::vector<DialNode> nodes;
  for (const Target& t : targets_) nodes.push_back(t.dial);
  dialer_.start(std::move(nodes), options_.node_dial_timeout, [this](DialResult r) { on_dialed(std::move(r)); });
  report(std::move(s));
}

void UvClient::on_dialed(DialResult result) {
  if (stopping_) {
    if (result.tcp != nullptr) close_tcp_handle(result.tcp);
    return;
  }
  if (result.error != DERP_OK) {
    connection_failed(result.error, result.detail);
    return;
  }
  const Target& t = targets_.at(result.node_index);
  dialed_target_ = result.node_index;
  dialed_remote_ = result.remote;
  log("TCP connected to " + t.dial.name + " at " + format_addr(result.remote));
  TransportSetup setup;
  setup.loop = loop_;
  setup.tcp = result.tcp;
  if (t.tls) setup.tls = t.insecure ? insecure_tls_config_.get() : tls_config_.get();
  setup.tls_target = t.tls_target;
  setup.options = options_.connection;
  setup.options.host = t.host_header;
  setup.options.path = t.path;
  setup.options.ideal_node = t.ideal_node;
  // The connect budget is the driver's (connect_timer_); the core's own handshake timer is only a backstop.
  setup.options.handshake_timeout = options_.connect_timeout > 0 ? options_.connect_timeout : 10 * kSecond;
  setup.events = core_events_.get();
  setup.on_ended = [this](int error, const std::string& detail) { on_transport_ended(error, detail); };
  transport_ = std::make_unique<UvClientTransport>(std::move(setup));
  std::string detail;
  if (const int rc = transport_->start(monotonic_now(), &detail); rc != DERP_OK) {
    connection_failed(rc, detail);
  }
}

void UvClient::on_core_connected(const crypto::NodePublic& key) {
  connect_timer_.stop();
  policy_.on_success();
  counters_.connects++;
  server_key_ = key;
  if (preferred_ && transport_ && transport_->core() != nullptr) (void)transport_->core()->note_preferred(true);
  UvClientStatus s;
  s.state = UvClientState::Connected;
  s.node = targets_.at(dialed_target_).dial.name;
  s.remote = dialed_remote_;
  log("connected to " + s.node + " (" + format_addr(s.remote) + ")");
  report(std::move(s));
}

void UvClient::on_transport_ended(int error, const std::string& detail) {
  connection_failed(error == DERP_OK ? DERP_ERR_CLOSED : error, detail);
}

void UvClient::retire_transport() {
  if (!transport_) return;
  transport_->abort(monotonic_now());
  retired_.push_back(std::move(transport_));
}

void UvClient::connection_failed(int error, std::string detail) {
  if (stopping_) return;
  connect_timer_.stop();
  dialer_.cancel();
  retire_transport();
  counters_.failures++;
  server_info_.reset();
  UvClientStatus s;
  s.state = UvClientState::Disconnected;
  s.error = error;
  s.detail = std::move(detail);
  if (!options_.reconnect) {
    log(std::string("disconnected: ") + derp_strerror(error) + ": " + s.detail);
    report(std::move(s));
    stop();
    return;
  }
  const Nanos now = monotonic_now();
  s.retry_at = policy_.on_failure(now);
  s.retry_in = s.retry_at > now ? s.retry_at - now : 0;
  log(std::string("disconnected: ") + derp_strerror(error) + ": " + s.detail + "; retrying in " +
      std::to_string(s.retry_in / kMillisecond) + " ms");
  retry_timer_.start(millis_until(s.retry_at, now), [this] { begin_connect(); });
  report(std::move(s));
}

void UvClient::stop() {
  if (stopping_) return;
  stopping_ = true;
  started_ = true;
  dialer_.cancel();
  retire_transport();  // pending pings report DERP_ERR_CLOSED from here
  if (direct_) direct_->close();
  connect_timer_.close();
  retry_timer_.close();
  close_async();
  UvClientStatus s;
  s.state = UvClientState::Stopped;
  report(std::move(s));
}

void UvClient::report(UvClientStatus status) {
  status_ = std::move(status);
  if (events_ != nullptr) events_->on_state(status_);
}

void UvClient::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

// ---- commands --------------------------------------------------------------------------------------------------

const client::ClientConnection* UvClient::connection() const {
  return connected() && transport_ ? transport_->core() : nullptr;
}

int UvClient::send_packet(const crypto::NodePublic& destination, Bytes payload) {
  if (stopping_) return DERP_ERR_CLOSED;
  if (payload.size() > frame::kMaxPacketSize) return DERP_ERR_FRAME_TOO_LARGE;
  // With the direct path, the path core decides: direct when trusted, else DERP (through send_over_derp).
  if (direct_) return direct_->send(destination, payload);
  return send_over_derp(destination, payload);
}

int UvClient::send_over_derp(const crypto::NodePublic& destination, Bytes payload) {
  if (stopping_) return DERP_ERR_CLOSED;
  if (!connected() || !transport_ || transport_->ended()) {
    counters_.packets_dropped_disconnected++;
    return DERP_ERR_NOT_CONNECTED;
  }
  const Nanos now = monotonic_now();
  const int rc = transport_->core()->send_packet(destination, payload, now);
  if (rc == DERP_OK) {
    counters_.packets_sent++;
  } else if (rc == DERP_ERR_QUEUE_FULL) {
    counters_.packets_dropped_queue_full++;
  }
  // In a batch, the write waits for the batch's end, unless half the core's output cap is used: then what is
  // queued goes now, so that a batch larger than the cap is not refused while the socket would take it.
  if (!batching_sends_ ||
      transport_->core()->pending_bytes() * 2 >= options_.connection.max_pending_output) {
    transport_->service(now);
  }
  return rc;
}

int UvClient::ping(PingDone done) {
  if (stopping_) return DERP_ERR_CLOSED;
  if (!connected() || !transport_ || transport_->ended()) return DERP_ERR_NOT_CONNECTED;
  const Nanos now = monotonic_now();
  std::uint64_t id = 0;
  const int rc = transport_->core()->ping(now, &id);
  if (rc != DERP_OK) return rc;
  pings_[id] = std::move(done);
  transport_->service(now);
  return DERP_OK;
}

int UvClient::note_preferred(bool preferred) {
  if (stopping_) return DERP_ERR_CLOSED;
  preferred_ = preferred;
  if (!connected() || !transport_ || transport_->ended()) return DERP_OK;
  const int rc = transport_->core()->note_preferred(preferred);
  transport_->service(monotonic_now());
  return rc;
}

int UvClient::watch_conns() {
  if (stopping_) return DERP_ERR_CLOSED;
  if (!connected() || !transport_ || transport_->ended()) return DERP_ERR_NOT_CONNECTED;
  const int rc = transport_->core()->watch_conns();
  transport_->service(monotonic_now());
  return rc;
}

int UvClient::forward_packet(const crypto::NodePublic& source, const crypto::NodePublic& destination,
                             Bytes payload) {
  if (stopping_) return DERP_ERR_CLOSED;
  if (!connected() || !transport_ || transport_->ended()) {
    counters_.packets_dropped_disconnected++;
    return DERP_ERR_NOT_CONNECTED;
  }
  const int rc = transport_->core()->forward_packet(source, destination, payload);
  if (rc == DERP_OK) {
    counters_.packets_sent++;
  } else if (rc == DERP_ERR_QUEUE_FULL) {
    counters_.packets_dropped_queue_full++;
  }
  transport_->service(monotonic_now());
  return rc;
}

int UvClient::close_peer(const crypto::NodePublic& peer) {
  if (stopping_) return DERP_ERR_CLOSED;
  if (!connected() || !transport_ || transport_->ended()) return DERP_ERR_NOT_CONNECTED;
  const int rc = transport_->core()->close_peer(peer);
  transport_->service(monotonic_now());
  return rc;
}

// ---- the thread-safe side ----------------------------------------------------------------------------------------

int UvClient::send_packet_threadsafe(const crypto::NodePublic& destination, Bytes payload) {
  if (payload.size() > frame::kMaxPacketSize) return DERP_ERR_FRAME_TOO_LARGE;
  std::lock_guard<std::mutex> lock(mutex_);
  if (async_ == nullptr || stop_requested_) return DERP_ERR_CLOSED;
  if (outbox_.size() >= options_.max_queued_packets || outbox_bytes_ + payload.size() > options_.max_queued_bytes) {
    outbox_dropped_++;
    return DERP_ERR_QUEUE_FULL;
  }
  outbox_.push_back(QueuedPacket{destination, std::vector<std::uint8_t>(payload.begin(), payload.end())});
  outbox_bytes_ += payload.size();
  uv_async_send(async_);  // under the mutex: the loop cannot close the handle meanwhile
  return DERP_OK;
}

void UvClient::stop_threadsafe() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (async_ == nullptr) return;
  stop_requested_ = true;
  uv_async_send(async_);
}

void UvClient::on_async(uv_async_t* async) {
  auto* self = static_cast<UvClient*>(async->data);
  if (self != nullptr) self->drain_outbox();
}

// Everything queued from other threads since the last wake-up goes into the core first and out in one write
// (UvClientTransport::service), not one write per packet.
void UvClient::drain_outbox() {
  bool stop_now = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    outbox_draining_.swap(outbox_);
    outbox_bytes_ = 0;
    stop_now = stop_requested_;
  }
  batching_sends_ = true;
  for (const QueuedPacket& p : outbox_draining_) {
    if (stopping_) break;
    (void)send_packet(p.destination, Bytes(p.payload));
  }
  batching_sends_ = false;
  outbox_draining_.clear();
  if (!stopping_ && connected() && transport_ && !transport_->ended()) transport_->service(monotonic_now());
  if (stop_now) stop();
}

void UvClient::close_async() {
  uv_async_t* async = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    async = async_;
    async_ = nullptr;
    outbox_.clear();
    outbox_bytes_ = 0;
  }
  if (async == nullptr) return;
  async->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(async), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

}  // namespace derp::uv
