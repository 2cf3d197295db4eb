// Mesh dialling, the driver's half: one reconnecting mesh client per other server of the region (derper's
// -mesh-with, cmd/derper/mesh.go and derphttp's RunWatchConnectionLoop). Each client speaks with the server's own
// key and the mesh key, sends WatchConns after every connect, and turns what it hears into the core's forwarding
// table (server_mesh.cpp): PeerPresent adds the key for this link, PeerGone removes it, a broken link forgets all
// of its keys. The core hands back packets for those keys, which go out as ForwardPacket on the link.
//
//   UvMesh::create(loop, server->core(), options, &mesh, &detail);   // after UvServer::create
//   mesh->start();                                                    // dials every peer
//   mesh->stop();                                                     // before the server goes
//
// A link that reaches our own server (same server key: the list names this host too) stops and is ignored, as
// derper does. Loop thread only; the UvMesh must be destroyed before the core it feeds.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <uv.h>

#include "derpmap/derpmap.hpp"
#include "server/server.hpp"
#include "tls/client_config.hpp"

namespace derp::uv {

// One -mesh-with entry, resolved to what the client dials.
struct MeshTarget {
  std::string label;  // as written, for logs and the metrics' peer label
  // Exactly one of: a URL, or a one-node region (derper's "host/dialhost": TLS name host, dial the IP dialhost).
  std::string url;
  std::optional<derpmap::DerpRegion> region;
};

// derper's forms: "host" (dialled as https://host/derp: port 443, SNI and certificate name host, the system CA
// store), "host/ip" (the same, but connect to the IP literal ip); and ours, for tests and private setups: a full
// URL, "http://127.0.0.1:3341/derp", "https://host:8443/derp". false with *error for anything else.
bool parse_mesh_target(std::string_view text, MeshTarget* out, std::string* error);

struct UvMeshOptions {
  std::string mesh_key;  // 64 hex digits, the same as the server's own (ServerOptions::mesh_key)
  std::vector<MeshTarget> peers;
  // TLS for https targets: the system store by default, one more PEM file of roots, or no check (tests only).
  std::string ca_bundle_path = tls::kSystemCaBundle;
  std::string extra_ca_path;
  bool insecure_skip_verify = false;
  // Wait before dialling a link again (derper: a fixed 5 s). Our client jitters it by [0.5, 1.5).
  Nanos retry_interval = 5 * kSecond;
  // The link's output bound: mesh links are exempt from the per-client limits but not unbounded.
  std::size_t max_pending_output = 16u << 20;
  std::function<void(server::LogLevel, std::string_view)> log;
};

struct MeshPeerStatus {
  std::string label;
  bool connected = false;
  bool self = false;            // the link reached this very server and stopped
  std::size_t keys = 0;         // clients of that server we know of
  std::uint64_t connects = 0;
  std::uint64_t forwarded_out = 0;   // ForwardPacket frames queued on the link
  std::uint64_t forward_drops = 0;   // packets for that server's clients the link could not take
  std::uint64_t forwarded_in = 0;    // ForwardPacket frames that server's own link sent us
};

class UvMesh {
 public:
  // DERP_OK; DERP_ERR_INVALID_ARGUMENT (no mesh key in the core, or a bad target) with *detail; the client's
  // errors (DERP_ERR_URL, DERP_ERR_TLS_CONFIG).
  static int create(uv_loop_t* loop, server::Server& core, UvMeshOptions options, std::unique_ptr<UvMesh>* out,
                    std::string* detail);
  ~UvMesh();
  UvMesh(const UvMesh&) = delete;
  UvMesh& operator=(const UvMesh&) = delete;

  void start();
  // Stops every link and forgets what they reported. Idempotent.
  void stop();

  std::vector<MeshPeerStatus> status() const;
  // Prometheus lines per peer: derp_mesh_peer_connected, derp_mesh_peer_clients, derp_mesh_packets_forwarded_out,
  // derp_mesh_forward_drops, derp_mesh_packets_forwarded_in, each {peer="<label>"}.
  void append_metrics(std::string& out) const;

 private:
  class Link;
  UvMesh(uv_loop_t* loop, server::Server& core, UvMeshOptions options);
  bool forward(server::ForwarderId link, const frame::Key& src, const frame::Key& dst, Bytes packet);

  uv_loop_t* loop_;
  server::Server& core_;
  UvMeshOptions options_;
  std::vector<std::unique_ptr<Link>> links_;  // link id = index + 1
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace derp::uv
