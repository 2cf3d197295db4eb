// Mesh dialling on libuv (uv_mesh.hpp).
#include "uv/uv_mesh.hpp"

#include <utility>

#include "client/url.hpp"
#include "crypto/key_text.hpp"
#include "common/ip_literal.hpp"
#include "uv/clock.hpp"
#include "uv/uv_client.hpp"
#include "uv/uv_client_handles.hpp"
#include "uv/uv_connection.hpp"

namespace derp::uv {

using server::LogLevel;

namespace {

bool is_plain_host(std::string_view host) {
  if (host.empty()) return false;
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool parse_mesh_target(std::string_view text, MeshTarget* out, std::string* error) {
  *out = MeshTarget{};
  out->label = std::string(text);
  if (text.rfind("http://", 0) == 0 || text.rfind("https://", 0) == 0) {
    client::DerpUrl url;
    if (client::parse_derp_url(text, &url) != DERP_OK) {
      *error = "mesh peer \"" + std::string(text) + "\" is not a valid http(s) URL";
      return false;
    }
    out->url = std::string(text);
    return true;
  }
  // derper (cmd/derper/mesh.go): "host" or "host/dialhost", dialled as https://host/derp.
  const std::size_t slash = text.find('/');
  const std::string_view host = text.substr(0, slash);
  if (!is_plain_host(host)) {
    *error = "mesh peer \"" + std::string(text) + "\": want a host name, host/ip, or an http(s):// URL";
    return false;
  }
  if (slash == std::string_view::npos) {
    out->url = "https://" + std::string(host) + "/derp";
    return true;
  }
  const std::string dial(text.substr(slash + 1));
  if (dial.find('/') != std::string::npos) {
    *error = "too many components in mesh peer \"" + std::string(text) + "\"";
    return false;
  }
  if (!derp::is_ip_literal(dial)) {
    // derper would resolve a name here; our dialer connects to a name only as the TLS name itself.
    *error = "mesh peer \"" + std::string(text) + "\": the dial host after '/' must be an IP address here";
    return false;
  }
  derpmap::DerpNode node;
  node.name = std::string(host);
  node.region_id = 0;
  node.host_name = std::string(host);
  node.ipv4 = dial;  // the family it is not is turned off by the node's rules ("not an IP of this family")
  node.ipv6 = dial;
  node.derp_port = 443;
  derpmap::DerpRegion region;
  region.region_code = "mesh";
  region.nodes.push_back(std::move(node));
  out->region = std::move(region);
  return true;
}

// One mesh link: a UvClient to another server of the region and what it told us.
class UvMesh::Link : public UvClientEvents {
 public:
  Link(UvMesh& mesh, server::ForwarderId id, MeshTarget target) : mesh_(mesh), id_(id), target_(std::move(target)) {}
  ~Link() override {
    client_.reset();
    clear_timer_.close();
  }

  int create(std::string* detail) {
    UvClientOptions o;
    o.connection.private_key = mesh_.core_.options().private_key;
    o.connection.info.mesh_key = mesh_.options_.mesh_key;
    o.connection.max_pending_output = mesh_.options_.max_pending_output;
    o.connection.honour_server_rate_limit = false;  // mesh peers are exempt
    o.url = target_.url;
    o.region = target_.region;
    o.ca_bundle_path = mesh_.options_.ca_bundle_path;
    o.extra_ca_path = mesh_.options_.extra_ca_path;
    o.insecure_skip_verify = mesh_.options_.insecure_skip_verify;
    o.reconnect = true;
    o.backoff.base = mesh_.options_.retry_interval;
    o.backoff.max = mesh_.options_.retry_interval;
    o.log = [this](std::string_view line) { log(LogLevel::Debug, std::string(line)); };
    if (const int rc = clear_timer_.init(mesh_.loop_); rc != 0) {
      *detail = std::string("uv_timer_init: ") + uv_strerror(rc);
      return DERP_ERR_UV_LOOP;
    }
    return UvClient::create(mesh_.loop_, std::move(o), this, &client_, detail);
  }

  void start() { (void)client_->start(); }
  void stop() {
    client_->stop();
    forget_all(false);
  }

  bool forward(const frame::Key& src, const frame::Key& dst, Bytes packet) {
    ++forwarding_;
    const int rc = client_->forward_packet(crypto::NodePublic(src), crypto::NodePublic(dst), packet);
    --forwarding_;
    if (rc == DERP_OK) {
      forwarded_out_++;
      return true;
    }
    forward_drops_++;
    return false;
  }

  MeshPeerStatus status() const {
    MeshPeerStatus s;
    s.label = target_.label;
    s.connected = client_->connected() && !self_;
    s.self = self_;
    s.keys = mesh_.core_.forwarders().keys_of(id_);
    s.connects = client_->counters().connects;
    s.forwarded_out = forwarded_out_;
    s.forward_drops = forward_drops_;
    // The other server's own link to us uses its server key as the client key.
    if (client_->server_key() != crypto::NodePublic()) s.forwarded_in = mesh_.core_.forwarded_in_from(client_->server_key().bytes());
    return s;
  }

  // ---- the client's events ----
  void on_state(const UvClientStatus& status) override {
    switch (status.state) {
      case UvClientState::Connected:
        if (clear_pending_) forget_all(false);
        if (client_->server_key() == mesh_.core_.public_key()) {
          // The list names this server too (every server of a region usually gets the same list).
          self_ = true;
          log(LogLevel::Info, "detected self-connect; ignoring host");
          client_->stop();
          return;
        }
        log(LogLevel::Info, "connected to " + crypto::short_string(client_->server_key()) + " at " + status.node);
        if (const int rc = client_->watch_conns(); rc != DERP_OK) {
          log(LogLevel::Warn, std::string("WatchConns: ") + derp_strerror(rc));
        }
        break;
      case UvClientState::Disconnected:
        log(LogLevel::Info, "link down: " + status.detail +
                                (status.retry_in != kNever ? ", retrying in " +
                                                                 std::to_string(status.retry_in / kMillisecond) + " ms"
                                                           : ""));
        forget_all(true);
        break;
      default:
        break;
    }
  }

  void on_peer_present(const crypto::NodePublic& peer, const derp_addr&, std::uint8_t) override {
    if (self_) return;
    mesh_.core_.add_forwarder(peer.bytes(), id_, monotonic_now());
  }

  void on_peer_gone(const crypto::NodePublic& peer, std::uint8_t reason) override {
    if (self_) return;
    // Any reason (derphttp's watch loop does the same): disconnected, or not-here in answer to a forward.
    (void)reason;
    const Nanos now = monotonic_now();
    mesh_.core_.remove_forwarder(peer.bytes(), id_, now);
    serve_ready(mesh_.core_, now);  // PeerGone frames for local clients that heard from that peer
  }

 private:
  // The link broke (or is stopping): every key it reported is forgotten. When that happens inside forward() (a
  // write failed synchronously) the core is in the middle of routing, so the clearing waits for the next turn of
  // the loop; a new connection clears first whatever is still pending.
  void forget_all(bool log_it) {
    if (forwarding_ > 0) {
      if (!clear_pending_) {
        clear_pending_ = true;
        clear_timer_.start(0, [this] {
          if (clear_pending_) forget_all(true);
        });
      }
      return;
    }
    clear_pending_ = false;
    const Nanos now = monotonic_now();
    const std::size_t n = mesh_.core_.remove_forwarder_link(id_, now);
    if (n > 0 && log_it) log(LogLevel::Info, "clearing " + std::to_string(n) + " forwarding mappings");
    serve_ready(mesh_.core_, now);
  }

  void log(LogLevel level, const std::string& text) const {
    if (mesh_.options_.log) mesh_.options_.log(level, "mesh(\"" + target_.label + "\"): " + text);
  }

  UvMesh& mesh_;
  server::ForwarderId id_;
  MeshTarget target_;
  std::unique_ptr<UvClient> client_;
  TimerHandle clear_timer_;
  bool clear_pending_ = false;
  int forwarding_ = 0;
  bool self_ = false;
  std::uint64_t forwarded_out_ = 0;
  std::uint64_t forward_drops_ = 0;
};

UvMesh::UvMesh(uv_loop_t* loop, server::Server& core, UvMeshOptions options)
    : loop_(loop), core_(core), options_(std::move(options)) {}

int UvMesh::create(uv_loop_t* loop, server::Server& core, UvMeshOptions options, std::unique_ptr<UvMesh>* out,
                   std::string* detail) {
  if (options.mesh_key.empty() && core.options().mesh_key) options.mesh_key = *core.options().mesh_key;
  if (!core.options().mesh_key || options.mesh_key != *core.options().mesh_key) {
    *detail = "mesh dialling needs the server's own mesh key (-mesh-psk-file)";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  std::unique_ptr<UvMesh> mesh(new UvMesh(loop, core, std::move(options)));
  for (std::size_t i = 0; i < mesh->options_.peers.size(); ++i) {
    auto link = std::make_unique<Link>(*mesh, static_cast<server::ForwarderId>(i + 1), mesh->options_.peers[i]);
    if (const int rc = link->create(detail); rc != DERP_OK) {
      *detail = "mesh peer \"" + mesh->options_.peers[i].label + "\": " + *detail;
      return rc;
    }
    mesh->links_.push_back(std::move(link));
  }
  UvMesh* self = mesh.get();
  core.set_forward([self](std::uint64_t link, const frame::Key& src, const frame::Key& dst, Bytes packet) {
    return self->forward(link, src, dst, packet);
  });
  core.set_extra_metrics([self, host = core.options().extra_metrics](std::string& text) {
    if (host) host(text);
    self->append_metrics(text);
  });
  *out = std::move(mesh);
  return DERP_OK;
}

UvMesh::~UvMesh() {
  stop();
  core_.set_forward(nullptr);
  core_.set_extra_metrics(nullptr);
  links_.clear();
}

void UvMesh::start() {
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& link : links_) link->start();
}

void UvMesh::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& link : links_) link->stop();
}

bool UvMesh::forward(server::ForwarderId link, const frame::Key& src, const frame::Key& dst, Bytes packet) {
  if (link == 0 || link > links_.size()) return false;
  return links_[link - 1]->forward(src, dst, packet);
}

std::vector<MeshPeerStatus> UvMesh::status() const {
  std::vector<MeshPeerStatus> all;
  all.reserve(links_.size());
  for (const auto& link : links_) all.push_back(link->status());
  return all;
}

void UvMesh::append_metrics(std::string& out) const {
  const std::vector<MeshPeerStatus> peers = status();
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t (*value)(const MeshPeerStatus&);
  };
  static const Family kFamilies[] = {
      {"derp_mesh_peer_connected", "gauge", "1 while the link to this mesh peer is up",
       [](const MeshPeerStatus& s) -> std::uint64_t { return s.connected ? 1 : 0; }},
      {"derp_mesh_peer_clients", "gauge", "clients this mesh peer reported",
       [](const MeshPeerStatus& s) -> std::uint64_t { return s.keys; }},
      {"derp_mesh_peer_connects", "counter", "times the link to this mesh peer connected",
       [](const MeshPeerStatus& s) -> std::uint64_t { return s.connects; }},
      {"derp_mesh_packets_forwarded_out", "counter", "packets forwarded to this mesh peer",
       [](const MeshPeerStatus& s) -> std::uint64_t { return s.forwarded_out; }},
      {"derp_mesh_forward_drops", "counter", "packets for this mesh peer's clients the link could not take",
       [](const MeshPeerStatus& s) -> std::uint64_t { return s.forward_drops; }},
      {"derp_mesh_packets_forwarded_in", "counter", "packets this mesh peer forwarded to us",
       [](const MeshPeerStatus& s) -> std::uint64_t { return s.forwarded_in; }},
  };
  for (const Family& f : kFamilies) {
    out += std::string("# HELP ") + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
    for (const MeshPeerStatus& s : peers) {
      if (s.self) continue;
      std::string label;
      for (char c : s.label) {
        if (c == '"' || c == '\\') label += '\\';
        label += c;
      }
      out += std::string(f.name) + "{peer=\"" + label + "\"} " + std::to_string(f.value(s)) + "\n";
    }
  }
}

}  // namespace derp::uv
