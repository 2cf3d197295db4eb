// What an operator can tune on a DERP server core. Defaults are Tailscale's derper's (reference §2.1, §4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/time.hpp"
#include "common/bytes.hpp"
#include "crypto/node_key.hpp"
#include "crypto/random.hpp"
#include "frame/frame_types.hpp"
#include "derp/common.h"

namespace derp::server {

// Monotonic time in nanoseconds, always passed in by the host (common/time.hpp).
using derp::Nanos;
using derp::kMillisecond;
using derp::kSecond;
using derp::kNever;

enum class LogLevel { Debug, Info, Warn, Error };

// The root page, like derper's -home flag: "" (our small HTML page), "blank", or an http(s):// URL to redirect to.
struct HomePage {
  enum class Kind { Default, Blank, Redirect } kind = Kind::Default;
  std::string redirect_url;
};

struct ServerOptions {
  // The server's identity; its public half is what clients pin in the ServerKey frame.
  crypto::NodePrivate private_key;

  // KeepAlive frame every interval + a per-connection jitter in [0, jitter) (derp server: 60 s + [0, 5 s)).
  Nanos keepalive_interval = 60 * kSecond;
  Nanos keepalive_jitter = 5 * kSecond;
  // From accept until the ClientInfo frame is handled: HTTP head, ServerKey, ClientInfo (derp server: 10 s + 10 s).
  Nanos handshake_timeout = 10 * kSecond;
  // A connection whose pending output makes no progress for this long is closed (derper -tcp-write-timeout, 2 s).
  // 0 turns it off.
  Nanos write_timeout = 2 * kSecond;

  // Per-connection send queue, counted separately for disco and other packets like Tailscale's two channels
  // (TS_DEBUG_DERP_PER_CLIENT_SEND_QUEUE_DEPTH, 32). When full, the oldest queued packet of that kind is dropped.
  std::size_t queue_packets = 32;
  // And a bound on the bytes of queued packets per connection, so 32 × 64 KiB packets cannot pile up per slow
  // receiver; the oldest are dropped first when a new packet would exceed it.
  std::size_t queue_bytes = 1u << 20;

  // Replay cache (replay_cache.hpp): client keys without a live connection whose ClientInfo nonces are kept, about
  // 300 bytes each; keys with a live connection are kept besides. 0 turns replay detection off.
  std::size_t replay_cache_keys = 16384;
  // Memory all connections together may hold for incomplete frames (a frame's bytes before its last one came).
  // Past it, a connection holding more than budget / (connections holding some) is closed. 0 = no budget.
  std::size_t partial_frame_budget = 64u << 20;

  // 0 = no limit. A connection accepted over the limit is answered 503 and closed.
  std::size_t max_connections = 0;
  // Largest HTTP request head we read.
  std::size_t max_http_head = 8192;

  // Serve /derp (derper -derp). When false /derp answers 404 and the plain endpoints keep working.
  bool serve_derp = true;
  HomePage home;
  // The Prometheus page (/debug/varz and /metrics) is served only to loopback clients unless this is set.
  bool metrics_for_everyone = false;

  // Admission after the ClientInfo box opened and before the client is registered (derper -verify-clients and
  // friends, reference §4.10). Return false to refuse: the connection is closed with no message, as derper does.
  std::function<bool(const crypto::NodePublic& client, const derp_addr& remote)> admit;
  // A second, asynchronous admission step after `admit` (derper -verify-client-url: an HTTP check). Answer
  // Allow or Deny at once, or Pending: the connection then waits, its further input held (at most
  // kMaxHeldInputBeforeAdmission bytes), until the host calls Server::finish_admission(connection_id, ...) — not
  // from inside this call. The handshake timeout keeps running meanwhile. Mesh peers skip both steps.
  enum class Admission : std::uint8_t { Allow, Deny, Pending };
  std::function<Admission(std::uint64_t connection_id, const crypto::NodePublic& client, const derp_addr& remote)>
      admit_async;

  // Mesh key (64 hex). A client presenting the same meshKey may use WatchConns, ClosePeer and ForwardPacket.
  std::optional<std::string> mesh_key;

  // Mesh dialling (server_mesh.cpp): a packet for a key that has no local connection but that a mesh link
  // reported (Server::add_forwarder) is handed to this, to be written as ForwardPacket(src, dst, packet) on that
  // link. Return false when the link could not take it (not connected, its queue full): the packet is counted
  // dropped (reason write_error). Null: nothing is forwarded. Server::set_forward replaces it.
  std::function<bool(std::uint64_t link, const frame::Key& src, const frame::Key& dst, Bytes packet)> forward;

  // Seeds the per-connection keep-alive jitter; the host passes real randomness, tests a fixed value.
  std::uint64_t random_seed = 0x9e3779b97f4a7c15ull;
  // Where the ServerInfo box's nonces come from. Default: libsodium's CSPRNG.
  crypto::RandomSource random;

  // Appends the host's own Prometheus lines (e.g. a driver's accept-limiter counters) to the metrics page.
  std::function<void(std::string& out)> extra_metrics;

  // Log sink. Lines are plain text; keys appear in their short form. Null = silent.
  std::function<void(LogLevel, std::string_view)> log;
};

}  // namespace derp::server
