// C entry points of include/derp/client.h shared by both clients (options, event names, stats) and the sans-IO
// derp_client over lib/client's ClientConnection: the core's events become derp_client_event values handed
// to the host's callback synchronously, from inside the call that caused them.
#include "derp/client.h"

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "capi/guard.hpp"
#include "client/connection.hpp"
#include "crypto/node_key.hpp"

namespace {

using derp::Nanos;
using derp::crypto::NodePublic;

derp_client_options default_client_options() {
  derp_client_options o{};
  o.struct_size = sizeof o;
  // ClientOptions' defaults, which are Go's client's (lib/client/connection.hpp says where each comes from).
  o.handshake_timeout_ms = 10000;
  o.idle_timeout_ms = 120000;
  o.ping_timeout_ms = 5000;
  o.keepalive_ping_after_ms = 0;
  o.max_pending_output = std::size_t{1} << 20;
  o.honour_server_rate_limit = 1;
  return o;
}

// The smallest options struct that can still name a key: everything else may take its default, the key may not.
constexpr std::size_t kMinOptionsSize = offsetof(derp_client_options, private_key) + DERP_KEY_LEN;

}  // namespace

namespace derp::capi {

int client_options_read(const derp_client_options* opts, derp_client_options* out, std::string* detail) {
  *out = default_client_options();
  if (opts == nullptr) {
    *detail = "options are required (at least the private key)";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  if (opts->struct_size < kMinOptionsSize) {
    *detail = "derp_client_options.struct_size is too small (call derp_client_options_init)";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  copy_struct_prefix(*opts, out, opts->struct_size);
  return DERP_OK;
}

int client_options_to_core(const derp_client_options& o, client::ClientOptions* out, std::string* detail) {
  out->private_key = crypto::NodePrivate::from_raw(o.private_key);
  if (out->private_key.is_zero()) {
    *detail = "private_key is all zero";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  out->fast_start = o.fast_start != 0;
  out->websocket = o.websocket != 0;
  out->ideal_node = o.ideal_node != nullptr ? o.ideal_node : "";
  out->info = client::ClientOptions::default_client_info();
  if (o.mesh_key != nullptr) {
    // Reference §9.4: an empty mesh key breaks the handshake on current servers, so "" means none too.
    if (o.mesh_key[0] != '\0') out->info.mesh_key = std::string(o.mesh_key);
  }
  out->info.is_prober = o.is_prober != 0;
  out->info.app_name = o.app_name != nullptr ? o.app_name : "";
  if (o.handshake_timeout_ms == 0 || o.ping_timeout_ms == 0) {
    *detail = "handshake_timeout_ms and ping_timeout_ms must be at least 1";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  if (o.max_pending_output == 0) {
    *detail = "max_pending_output must be at least 1";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  out->handshake_timeout = Nanos{o.handshake_timeout_ms} * kMillisecond;
  out->idle_timeout = Nanos{o.idle_timeout_ms} * kMillisecond;
  out->ping_timeout = Nanos{o.ping_timeout_ms} * kMillisecond;
  out->keepalive_ping_after = Nanos{o.keepalive_ping_after_ms} * kMillisecond;
  out->max_pending_output = o.max_pending_output;
  out->honour_server_rate_limit = o.honour_server_rate_limit != 0;
  return DERP_OK;
}

int client_stats_write(const derp_client_stats_t& from, derp_client_stats_t* to) {
  if (to == nullptr || to->struct_size < sizeof(std::size_t)) return DERP_ERR_INVALID_ARGUMENT;
  copy_struct_prefix(from, to, to->struct_size);
  return DERP_OK;
}

}  // namespace derp::capi

// ---- the sans-IO client ---------------------------------------------------------------------------------------------

struct derp_client {
  // The core's events as derp_client_event values, handed to the host's callback.
  class Events : public derp::client::ClientEvents {
   public:
    explicit Events(derp_client& c) : c_(c) {}
    void on_connected(const NodePublic& server_key) override {
      c_.connected_seen = true;
      derp_client_event e = blank(DERP_CLIENT_EVENT_CONNECTED);
      std::memcpy(e.key, server_key.bytes().data(), DERP_KEY_LEN);
      deliver(e);
    }
    void on_server_info(const derp::crypto::ServerInfo& info) override {
      derp_client_event e = blank(DERP_CLIENT_EVENT_SERVER_INFO);
      e.server_version = info.version;
      e.token_bucket_bytes_per_second = info.token_bucket_bytes_per_second;
      e.token_bucket_bytes_burst = info.token_bucket_bytes_burst;
      deliver(e);
    }
    void on_packet(const NodePublic& source, derp::Bytes payload) override {
      derp_client_event e = blank(DERP_CLIENT_EVENT_PACKET);
      std::memcpy(e.key, source.bytes().data(), DERP_KEY_LEN);
      e.data = payload.data();
      e.len = payload.size();
      deliver(e);
    }
    void on_peer_gone(const NodePublic& peer, std::uint8_t reason) override {
      derp_client_event e = blank(DERP_CLIENT_EVENT_PEER_GONE);
      std::memcpy(e.key, peer.bytes().data(), DERP_KEY_LEN);
      e.reason = reason;
      deliver(e);
    }
    void on_peer_present(const NodePublic& peer, const derp_addr& endpoint, std::uint8_t flags) override {
      derp_client_event e = blank(DERP_CLIENT_EVENT_PEER_PRESENT);
      std::memcpy(e.key, peer.bytes().data(), DERP_KEY_LEN);
      e.endpoint = endpoint;
      e.flags = flags;
      deliver(e);
    }
    void on_health(std::string_view problem) override {
      derp_client_event e = blank(DERP_CLIENT_EVENT_HEALTH);
      e.data = reinterpret_cast<const std::uint8_t*>(problem.data());
      e.len = problem.size();
      deliver(e);
    }
    void on_restarting(Nanos reconnect_in, Nanos try_for) override {
      derp_client_event e = blank(DERP_CLIENT_EVENT_RESTARTING);
      e.reconnect_in_ns = reconnect_in;
      e.try_for_ns = try_for;
      deliver(e);
    }
    void on_ping_result(std::uint64_t id, int result, Nanos rtt) override {
      derp_client_event e = blank(DERP_CLIENT_EVENT_PING_RESULT);
      e.ping_id = id;
      e.error = result;
      e.rtt_ns = rtt;
      deliver(e);
    }
    void on_closed(int error, std::string_view detail) override {
      derp_client_event e = blank(DERP_CLIENT_EVENT_CLOSED);
      e.error = error;
      const std::string text(detail);  // the event promises a NUL-terminated sentence
      e.detail = text.c_str();
      deliver(e);
    }

   private:
    static derp_client_event blank(int type) {
      derp_client_event e{};
      e.struct_size = sizeof e;
      e.type = type;
      return e;
    }
    void deliver(const derp_client_event& e) {
      if (c_.opts.on_event != nullptr) c_.opts.on_event(&e, c_.opts.user_data);
    }
    derp_client& c_;
  };

  derp_client_options opts{};  // the caller's, whole; its strings are not kept (the core copied them)
  Events events{*this};
  std::unique_ptr<derp::client::ClientConnection> core;
  bool connected_seen = false;
  std::uint64_t dropped_disconnected = 0;
  // Calls in progress on this connection (callbacks may call in again). derp_client_free from inside one
  // only marks free_requested; the outermost call frees the connection as it returns, so no frame of ours ever
  // touches freed memory.
  int depth = 0;
  bool free_requested = false;
};

namespace {

// Runs body as one entry into conn (see derp_client::depth), with the exception guard.
template <class Body>
auto entered(derp_client* conn, Body&& body) {
  struct Exit {
    derp_client* c;
    ~Exit() {
      if (--c->depth == 0 && c->free_requested) derp::capi::destroy(c);
    }
  };
  ++conn->depth;
  Exit exit{conn};
  return body();
}

}  // namespace

extern "C" {

const char* derp_client_event_name(int type) {
  switch (type) {
    case DERP_CLIENT_EVENT_CONNECTED:
      return "CONNECTED";
    case DERP_CLIENT_EVENT_SERVER_INFO:
      return "SERVER_INFO";
    case DERP_CLIENT_EVENT_PACKET:
      return "PACKET";
    case DERP_CLIENT_EVENT_PEER_GONE:
      return "PEER_GONE";
    case DERP_CLIENT_EVENT_PEER_PRESENT:
      return "PEER_PRESENT";
    case DERP_CLIENT_EVENT_HEALTH:
      return "HEALTH";
    case DERP_CLIENT_EVENT_RESTARTING:
      return "RESTARTING";
    case DERP_CLIENT_EVENT_PING_RESULT:
      return "PING_RESULT";
    case DERP_CLIENT_EVENT_DISCONNECTED:
      return "DISCONNECTED";
    case DERP_CLIENT_EVENT_PATH_CHANGED:
      return "PATH_CHANGED";
    case DERP_CLIENT_EVENT_CLOSED:
      return "CLOSED";
    default:
      return "UNKNOWN";
  }
}

int derp_client_options_init(derp_client_options* opts, size_t struct_size) {
  return derp::capi::init_versioned(opts, struct_size, default_client_options());
}

int derp_client_stats_init(derp_client_stats_t* stats, size_t struct_size) {
  return derp::capi::init_versioned(stats, struct_size, derp_client_stats_t{});
}

int derp_client_new(const derp_client_options* opts, const char* host, const char* path, uint64_t now_ns,
                    derp_client** out) {
  return derp::capi::guarded([&]() -> int {
    if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    if (host == nullptr || host[0] == '\0') return DERP_ERR_INVALID_ARGUMENT;
    std::string detail;
    derp_client_options o;
    if (const int rc = derp::capi::client_options_read(opts, &o, &detail); rc != DERP_OK) {
      derp::capi::log_global(DERP_LOG_ERROR, "derp_client_new: " + detail);
      return rc;
    }
    derp::client::ClientOptions co;
    if (const int rc = derp::capi::client_options_to_core(o, &co, &detail); rc != DERP_OK) {
      derp::capi::log_global(DERP_LOG_ERROR, "derp_client_new: " + detail);
      return rc;
    }
    co.host = host;
    co.path = path != nullptr ? path : "/derp";

    struct Deleter {
      void operator()(derp_client* c) const { derp::capi::destroy(c); }
    };
    std::unique_ptr<derp_client, Deleter> c(derp::capi::create<derp_client>());
    c->opts = o;
    c->opts.ideal_node = c->opts.mesh_key = c->opts.app_name = nullptr;  // not ours to keep
    if (const int rc = derp::client::ClientConnection::create(co, &c->events, now_ns, &c->core); rc != DERP_OK) {
      return rc;
    }
    *out = c.release();
    return DERP_OK;
  });
}

void derp_client_free(derp_client* conn) {
  if (conn == nullptr) return;
  if (conn->depth > 0) {
    // Inside one of its own callbacks (not allowed, see the header): defer to the outermost call's return.
    conn->free_requested = true;
    return;
  }
  derp::capi::destroy(conn);
}

int derp_client_receive(derp_client* conn, const uint8_t* data, size_t len, uint64_t now_ns) {
  if (conn == nullptr || (data == nullptr && len != 0)) return DERP_ERR_INVALID_ARGUMENT;
  if (conn->free_requested) return DERP_ERR_CLOSED;
  return entered(conn, [&] {
    return derp::capi::guarded([&] { return conn->core->receive(derp::Bytes(data, len), now_ns); });
  });
}

int derp_client_receive_eof(derp_client* conn, uint64_t now_ns) {
  if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (conn->free_requested) return DERP_ERR_CLOSED;
  return entered(conn, [&] {
    return derp::capi::guarded([&] {
      conn->core->receive_eof(now_ns);
      return DERP_OK;
    });
  });
}

int derp_client_output(const derp_client* conn, derp_bytes* views, size_t max, size_t* count) {
  if (count != nullptr) *count = 0;
  if (conn == nullptr || count == nullptr || (views == nullptr && max != 0)) return DERP_ERR_INVALID_ARGUMENT;
  // The core keeps its output in one contiguous buffer, so it is at most one view; the scatter form is the
  // server's, so that a host writes both the same way.
  const derp::Bytes out = conn->core->pending_output();
  if (out.empty() || max == 0) return DERP_OK;
  views[0].data = out.data();
  views[0].len = out.size();
  *count = 1;
  return DERP_OK;
}

size_t derp_client_output_size(const derp_client* conn) {
  if (conn == nullptr) return 0;
  return conn->core->pending_output().size();
}

int derp_client_output_written(derp_client* conn, size_t n, uint64_t now_ns) {
  if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (conn->free_requested) return DERP_ERR_CLOSED;
  if (n > conn->core->pending_output().size()) return DERP_ERR_INVALID_ARGUMENT;  // a host bug: consume nothing
  return entered(conn, [&] {
    return derp::capi::guarded([&] {
      conn->core->output_written(n, now_ns);
      return DERP_OK;
    });
  });
}

uint64_t derp_client_deadline(const derp_client* conn) {
  if (conn == nullptr) return UINT64_MAX;
  return conn->core->deadline();
}

int derp_client_tick(derp_client* conn, uint64_t now_ns) {
  if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (conn->free_requested) return DERP_ERR_CLOSED;
  return entered(conn, [&] {
    return derp::capi::guarded([&] {
      conn->core->tick(now_ns);
      return DERP_OK;
    });
  });
}

int derp_client_state(const derp_client* conn) {
  if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  switch (conn->core->phase()) {
    case derp::client::ClientPhase::Upgrade:
      return DERP_CLIENT_UPGRADE;
    case derp::client::ClientPhase::ServerKey:
      return DERP_CLIENT_SERVER_KEY;
    case derp::client::ClientPhase::Running:
      return DERP_CLIENT_RUNNING;
    case derp::client::ClientPhase::Closed:
      return DERP_CLIENT_CLOSED;
  }
  return DERP_ERR_INTERNAL;
}

int derp_client_send(derp_client* conn, const uint8_t dst[32], const uint8_t* data, size_t len,
                     uint64_t now_ns) {
  if (conn == nullptr || dst == nullptr || (data == nullptr && len != 0)) return DERP_ERR_INVALID_ARGUMENT;
  if (conn->free_requested) return DERP_ERR_CLOSED;
  return entered(conn, [&] {
    return derp::capi::guarded([&] {
      const int rc = conn->core->send_packet(NodePublic::from_raw(dst), derp::Bytes(data, len), now_ns);
      if (rc == DERP_ERR_NOT_CONNECTED || rc == DERP_ERR_CLOSED) conn->dropped_disconnected++;
      return rc;
    });
  });
}

int derp_client_note_preferred(derp_client* conn, int preferred) {
  if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (conn->free_requested) return DERP_ERR_CLOSED;
  return entered(conn, [&] { return derp::capi::guarded([&] { return conn->core->note_preferred(preferred != 0); }); });
}

int derp_client_ping(derp_client* conn, uint64_t now_ns, uint64_t* id_out) {
  if (id_out != nullptr) *id_out = 0;
  if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (conn->free_requested) return DERP_ERR_CLOSED;
  return entered(conn, [&] {
    return derp::capi::guarded([&] {
      std::uint64_t id = 0;
      const int rc = conn->core->ping(now_ns, &id);
      if (rc == DERP_OK && id_out != nullptr) *id_out = id;
      return rc;
    });
  });
}

int derp_client_close(derp_client* conn, uint64_t now_ns) {
  if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (conn->free_requested) return DERP_ERR_CLOSED;
  return entered(conn, [&] {
    return derp::capi::guarded([&] {
      conn->core->close(now_ns);
      return DERP_OK;
    });
  });
}

int derp_client_server_key(const derp_client* conn, uint8_t key_out[32]) {
  if (conn == nullptr || key_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (!conn->connected_seen) {
    std::memset(key_out, 0, DERP_KEY_LEN);
    return DERP_ERR_NOT_CONNECTED;
  }
  std::memcpy(key_out, conn->core->server_key().bytes().data(), DERP_KEY_LEN);
  return DERP_OK;
}

int derp_client_stats(const derp_client* conn, derp_client_stats_t* out) {
  if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  const derp::client::ClientCounters& k = conn->core->counters();
  derp_client_stats_t s{};
  s.struct_size = sizeof s;
  s.packets_sent = k.packets_sent;
  s.bytes_sent = k.bytes_sent;
  s.packets_received = k.packets_received;
  s.bytes_received = k.bytes_received;
  s.packets_dropped_queue_full = k.packets_dropped_queue_full;
  s.packets_dropped_rate_limit = k.packets_dropped_rate_limit;
  s.packets_dropped_disconnected = conn->dropped_disconnected;
  s.pings_sent = k.pings_sent;
  s.pongs_matched = k.pongs_matched;
  s.server_pings_answered = k.server_pings_answered;
  s.connects = conn->connected_seen ? 1 : 0;
  return derp::capi::client_stats_write(s, out);
}

}  // extern "C"
