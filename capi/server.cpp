// C entry points of include/derp/server.h: the sans-IO server core (lib/server) behind opaque handles.
#include "derp/server.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include <sodium.h>

#include "capi/guard.hpp"
#include "common/hex.hpp"
#include "crypto/node_key.hpp"
#include "crypto/sodium_init.hpp"
#include "server/server.hpp"

using derp::server::Connection;
using derp::server::Phase;
using derp::server::Server;

struct derp_server_conn {
  derp_server* server;
  Connection* core;
  void* user_data = nullptr;
  // Every handle of a server, so derp_server_free can release the ones the host never removed.
  derp_server_conn* prev = nullptr;
  derp_server_conn* next = nullptr;
  bool in_ready = false;  // waiting in derp_server::ready
};

struct derp_server {
  std::unique_ptr<Server> core;
  derp_server_conn* conns = nullptr;
  // The pull form of Server::drain_ready: what the core reported, handed out one at a time.
  std::deque<derp_server_conn*> ready;
};

static_assert(DERP_SERVER_CONN_HTTP == static_cast<int>(Phase::Http));
static_assert(DERP_SERVER_CONN_HANDSHAKE == static_cast<int>(Phase::Handshake));
static_assert(DERP_SERVER_CONN_RUNNING == static_cast<int>(Phase::Running));
static_assert(DERP_SERVER_CONN_CLOSING == static_cast<int>(Phase::Closing));
static_assert(DERP_SERVER_CONN_CLOSED == static_cast<int>(Phase::Closed));
static_assert(DERP_LOG_DEBUG == static_cast<int>(derp::server::LogLevel::Debug));
static_assert(DERP_LOG_ERROR == static_cast<int>(derp::server::LogLevel::Error));

namespace {

using derp::Nanos;
using derp::kMillisecond;

// A struct_size below this cannot even hold struct_size: the caller forgot to set it.
constexpr std::size_t kMinStructSize = sizeof(std::size_t);
// derp_server_conn_output fills at most this many views per call: enough for a writev of a busy queue without
// a heap allocation on the hot path.
constexpr std::size_t kMaxViewsPerCall = 64;


derp_server_options default_options() {
  derp_server_options o{};
  o.struct_size = sizeof o;
  o.keepalive_ms = 60'000;
  o.keepalive_jitter_ms = 5'000;
  o.handshake_timeout_ms = 10'000;
  o.write_timeout_ms = 2'000;
  o.queue_packets = 32;
  o.queue_bytes = 1u << 20;
  o.max_connections = 0;
  o.serve_derp = 1;
  o.metrics_for_everyone = 0;
  return o;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  std::uint8_t acc = 0;
  for (std::size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

derp_server_conn* handle_of(Connection& c) { return static_cast<derp_server_conn*>(c.user_data); }

// Moves what the core reported ready into the pull queue, once per connection.
void collect_ready(derp_server* s) {
  s->core->drain_ready([s](Connection& c) {
    derp_server_conn* h = handle_of(c);
    if (h == nullptr || h->in_ready) return;
    h->in_ready = true;
    s->ready.push_back(h);
  });
}

void unlink(derp_server_conn* h) {
  derp_server* s = h->server;
  if (h->prev != nullptr) {
    h->prev->next = h->next;
  } else {
    s->conns = h->next;
  }
  if (h->next != nullptr) h->next->prev = h->prev;
  if (h->in_ready) s->ready.erase(std::remove(s->ready.begin(), s->ready.end(), h), s->ready.end());
}

}  // namespace

namespace derp::capi {

int server_options_from_c(const derp_server_options* opts, server::ServerOptions* out, std::string* detail) {
  derp_server_options o = default_options();
  if (opts != nullptr) {
    if (opts->struct_size < kMinStructSize) {
      *detail = "derp_server_options.struct_size is not set";
      return DERP_ERR_INVALID_ARGUMENT;
    }
    derp::capi::copy_struct_prefix(*opts, &o, opts->struct_size);
  }
  if (o.keepalive_ms == 0 || o.handshake_timeout_ms == 0 || o.queue_packets == 0 || o.queue_bytes == 0) {
    *detail = "keepalive_ms, handshake_timeout_ms, queue_packets and queue_bytes must be at least 1";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  server::ServerOptions core;
  if (all_zero(o.private_key, sizeof o.private_key)) {
    if (const int rc = crypto::generate_private(&core.private_key); rc != DERP_OK) {
      *detail = "cannot generate a server key";
      return rc;
    }
  } else {
    core.private_key = crypto::NodePrivate::from_raw(o.private_key);
  }
  core.keepalive_interval = Nanos{o.keepalive_ms} * kMillisecond;
  core.keepalive_jitter = Nanos{o.keepalive_jitter_ms} * kMillisecond;
  core.handshake_timeout = Nanos{o.handshake_timeout_ms} * kMillisecond;
  core.write_timeout = Nanos{o.write_timeout_ms} * kMillisecond;
  core.queue_packets = o.queue_packets;
  core.queue_bytes = o.queue_bytes;
  core.max_connections = o.max_connections;
  core.serve_derp = o.serve_derp != 0;
  core.metrics_for_everyone = o.metrics_for_everyone != 0;
  if (o.mesh_key != nullptr) {
    const std::string_view mesh(o.mesh_key);
    std::uint8_t raw[32];
    if (mesh.size() != 64 || !read_hex(mesh, raw, sizeof raw)) {
      *detail = "mesh_key must be 64 hex digits";
      return DERP_ERR_INVALID_ARGUMENT;
    }
    core.mesh_key = std::string(mesh);
  }
  if (o.home != nullptr && o.home[0] != '\0') {
    const std::string_view home(o.home);
    if (home == "blank") {
      core.home.kind = server::HomePage::Kind::Blank;
    } else if (home.starts_with("http://") || home.starts_with("https://")) {
      core.home.kind = server::HomePage::Kind::Redirect;
      core.home.redirect_url = std::string(home);
    } else {
      *detail = "home must be \"\", \"blank\" or an http(s):// URL";
      return DERP_ERR_INVALID_ARGUMENT;
    }
  }
  if (o.random_seed != 0) {
    core.random_seed = o.random_seed;
  } else {
    if (crypto::ensure_sodium() != DERP_OK) return DERP_ERR_CRYPTO_INIT;
    randombytes_buf(&core.random_seed, sizeof core.random_seed);
  }
  if (o.log != nullptr) {
    core.log = [fn = o.log, user_data = o.user_data](server::LogLevel level, std::string_view text) {
      const std::string line(text);
      fn(static_cast<int>(level), line.c_str(), user_data);
    };
  } else {
    // Resolved per line, so derp_set_log after derp_server_new still takes effect.
    core.log = [](server::LogLevel level, std::string_view text) { log_global(static_cast<int>(level), text); };
  }
  if (o.admit != nullptr) {
    core.admit = [fn = o.admit, user_data = o.user_data](const crypto::NodePublic& client, const derp_addr& remote) {
      return fn(client.bytes().data(), &remote, user_data) != 0;
    };
  }
  *out = std::move(core);
  return DERP_OK;
}

}  // namespace derp::capi

extern "C" {

int derp_server_options_init(derp_server_options* opts, size_t struct_size) {
  return derp::capi::init_versioned(opts, struct_size, default_options());
}

int derp_server_new(const derp_server_options* opts, derp_server** out) {
  return derp::capi::guarded([&]() -> int {
    if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    derp::server::ServerOptions core;
    std::string detail;
    if (const int rc = derp::capi::server_options_from_c(opts, &core, &detail); rc != DERP_OK) {
      derp::capi::log_global(DERP_LOG_ERROR, "derp_server_new: " + detail);
      return rc;
    }
    derp_server* s = derp::capi::create<derp_server>();
    try {
      s->core = std::make_unique<Server>(std::move(core));
    } catch (...) {
      derp::capi::destroy(s);
      throw;
    }
    *out = s;
    return DERP_OK;
  });
}

void derp_server_free(derp_server* server) {
  if (server == nullptr) return;
  for (derp_server_conn* h = server->conns; h != nullptr;) {
    derp_server_conn* next = h->next;
    h->core->user_data = nullptr;
    derp::capi::destroy(h);
    h = next;
  }
  server->conns = nullptr;
  server->ready.clear();
  derp::capi::destroy(server);  // the core frees its connections
}

int derp_server_public_key(const derp_server* server, uint8_t public_key_out[DERP_KEY_LEN]) {
  if (server == nullptr || public_key_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  const auto& key = server->core->public_key().bytes();
  std::memcpy(public_key_out, key.data(), key.size());
  return DERP_OK;
}

int derp_server_accept(derp_server* server, const derp_addr* remote, uint64_t now_ns, derp_server_conn** out) {
  return derp::capi::guarded([&]() -> int {
    if (out != nullptr) *out = nullptr;
    if (server == nullptr || remote == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    derp_server_conn* h = derp::capi::create<derp_server_conn>();
    h->server = server;
    try {
      h->core = server->core->accept(*remote, now_ns);
    } catch (...) {
      derp::capi::destroy(h);
      throw;
    }
    h->core->user_data = h;
    h->next = server->conns;
    if (h->next != nullptr) h->next->prev = h;
    server->conns = h;
    *out = h;
    return DERP_OK;
  });
}

int derp_server_conn_receive(derp_server_conn* conn, const uint8_t* data, size_t len, uint64_t now_ns) {
  return derp::capi::guarded([&]() -> int {
    if (conn == nullptr || (data == nullptr && len != 0)) return DERP_ERR_INVALID_ARGUMENT;
    return conn->core->receive(derp::Bytes(data, len), now_ns);
  });
}

int derp_server_conn_output(derp_server_conn* conn, derp_bytes* views, size_t max, size_t* count) {
  return derp::capi::guarded([&]() -> int {
    if (count != nullptr) *count = 0;
    if (conn == nullptr || count == nullptr || (views == nullptr && max != 0)) return DERP_ERR_INVALID_ARGUMENT;
    std::array<derp::Bytes, kMaxViewsPerCall> spans;
    const std::size_t n = conn->core->output(std::span<derp::Bytes>(spans.data(), std::min(max, spans.size())));
    for (std::size_t i = 0; i < n; ++i) views[i] = derp_bytes{spans[i].data(), spans[i].size()};
    *count = n;
    return DERP_OK;
  });
}

size_t derp_server_conn_output_size(const derp_server_conn* conn) {
  return conn == nullptr ? 0 : conn->core->output_size();
}

int derp_server_conn_output_written(derp_server_conn* conn, size_t n, uint64_t now_ns) {
  return derp::capi::guarded([&]() -> int {
    if (conn == nullptr || n > conn->core->output_size()) return DERP_ERR_INVALID_ARGUMENT;
    conn->core->output_written(n, now_ns);
    return DERP_OK;
  });
}

uint64_t derp_server_conn_deadline(const derp_server_conn* conn) {
  return conn == nullptr ? UINT64_MAX : conn->core->deadline();
}

int derp_server_conn_tick(derp_server_conn* conn, uint64_t now_ns) {
  return derp::capi::guarded([&]() -> int {
    if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    conn->core->tick(now_ns);
    return DERP_OK;
  });
}

int derp_server_conn_state(const derp_server_conn* conn) {
  if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  return static_cast<int>(conn->core->phase());
}

const char* derp_server_conn_close_reason(const derp_server_conn* conn) {
  if (conn == nullptr) return derp_strerror(DERP_ERR_INVALID_ARGUMENT);
  return derp::server::close_reason_text(conn->core->close_reason());
}

const char* derp_server_conn_close_detail(const derp_server_conn* conn) {
  if (conn == nullptr) return "";
  return conn->core->close_detail().c_str();
}

int derp_server_conn_remote(const derp_server_conn* conn, derp_addr* out) {
  if (conn == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  *out = conn->core->remote();
  return DERP_OK;
}

int derp_server_conn_client_key(const derp_server_conn* conn, uint8_t key_out[DERP_KEY_LEN]) {
  if (conn == nullptr || key_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  const auto& key = conn->core->client_key();
  std::memcpy(key_out, key.data(), key.size());
  return all_zero(key.data(), key.size()) ? DERP_ERR_NOT_CONNECTED : DERP_OK;
}

int derp_server_conn_set_user_data(derp_server_conn* conn, void* user_data) {
  if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  conn->user_data = user_data;
  return DERP_OK;
}

void* derp_server_conn_user_data(const derp_server_conn* conn) {
  return conn == nullptr ? nullptr : conn->user_data;
}

int derp_server_conn_remove(derp_server_conn* conn, uint64_t now_ns) {
  return derp::capi::guarded([&]() -> int {
    if (conn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    unlink(conn);
    conn->server->core->remove(conn->core, now_ns);  // frees the Connection
    derp::capi::destroy(conn);
    return DERP_OK;
  });
}

int derp_server_next_ready(derp_server* server, derp_server_conn** out) {
  return derp::capi::guarded([&]() -> int {
    if (out != nullptr) *out = nullptr;
    if (server == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    if (server->ready.empty()) collect_ready(server);
    if (server->ready.empty()) return 0;
    derp_server_conn* h = server->ready.front();
    server->ready.pop_front();
    h->in_ready = false;
    *out = h;
    return 1;
  });
}

int derp_server_metrics_text(const derp_server* server, char* out, size_t cap, size_t* size_out) {
  return derp::capi::guarded([&]() -> int {
    if (size_out != nullptr) *size_out = 0;
    if (server == nullptr || size_out == nullptr || (out == nullptr && cap != 0)) return DERP_ERR_INVALID_ARGUMENT;
    const std::string text = server->core->metrics_text();
    *size_out = text.size() + 1;
    if (cap < text.size() + 1) return DERP_ERR_BUFFER_TOO_SMALL;
    std::memcpy(out, text.c_str(), text.size() + 1);
    return DERP_OK;
  });
}

int derp_server_shutdown(derp_server* server, uint32_t reconnect_in_ms, uint32_t try_for_ms, uint64_t now_ns) {
  return derp::capi::guarded([&]() -> int {
    if (server == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    server->core->shutdown(reconnect_in_ms, try_for_ms, now_ns);
    return DERP_OK;
  });
}

}  // extern "C"
