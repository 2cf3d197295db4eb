// C entry points of include/derp/uv.h: lib/uv's UvServer on the host's loop or on a LoopThread of its own.
#include <array>
#include "derp/uv.h"

#include <atomic>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <uv.h>

#include "capi/guard.hpp"
#include "common/address.hpp"
#include "server/options.hpp"
#include "tls/cert_pin.hpp"
#include "tls/pem_files.hpp"
#include "tls/server_config.hpp"
#include "uv/loop_thread.hpp"
#include "uv/uv_server.hpp"

namespace {

using derp::server::LogLevel;

enum class Mode { Created, HostLoop, Thread, Failed, Stopped };

constexpr std::size_t kMinStructSize = sizeof(std::size_t);


derp_uv_server_options default_options() {
  derp_uv_server_options o{};
  o.struct_size = sizeof o;
  o.listen = "127.0.0.1:0";
  o.tls_mode = DERP_UV_TLS_OFF;
  o.accept_rate = 0;
  o.accept_burst = 0;
  o.restart_reconnect_in_ms = 2000;  // derper's values (cmd/derper: Restarting on SIGTERM)
  o.restart_try_for_ms = 30000;
  o.shutdown_grace_ms = 2000;
  return o;
}

bool empty(const char* s) { return s == nullptr || s[0] == '\0'; }

// Text outputs share one rule: *size_out always gets the bytes needed, NUL included.
int copy_text(const std::string& text, char* out, std::size_t cap, std::size_t* size_out) {
  *size_out = text.size() + 1;
  if (cap < text.size() + 1) return DERP_ERR_BUFFER_TOO_SMALL;
  std::memcpy(out, text.c_str(), text.size() + 1);
  return DERP_OK;
}

bool is_unspecified(const derp_addr& a) {
  const std::size_t n = a.family == DERP_AF_INET ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i) {
    if (a.ip[i] != 0) return false;
  }
  return true;
}

}  // namespace

struct derp_uv_server {
  uv_loop_t* loop = nullptr;
  uv_loop_t* own_loop = nullptr;  // made here when the host passed none (through the C API allocator)
  std::unique_ptr<derp::tls::ServerConfig> tls;
  std::unique_ptr<derp::uv::UvServer> server;
  std::function<void(LogLevel, std::string_view)> log;  // the core's sink: the host's callback or the global one
  std::string tls_hostname;
  std::string cert_pin;  // empty without TLS
  std::array<std::uint8_t, DERP_KEY_LEN> public_key{};  // the server's key, copied at creation (immutable)
  bool has_stun = false;
  std::uint32_t reconnect_in_ms = 0;
  std::uint32_t try_for_ms = 0;

  std::mutex mode_mutex;
  Mode mode = Mode::Created;  // under mode_mutex
  std::atomic<bool> started{false};  // addresses below are set, then never change
  derp_addr tcp{};
  derp_addr stun{};
  std::atomic<bool> shutdown_begun{false};

  // Host-loop mode: how derp_uv_server_stop reaches the loop from any thread. Unreferenced, so it never keeps the
  // host's loop alive; closed once the server has stopped.
  std::unique_ptr<derp::uv::LoopTaskQueue> queue;
  // Thread mode.
  std::unique_ptr<derp::uv::LoopThread> thread;

  void log_error(const std::string& text) const {
    if (log) log(LogLevel::Error, text);
  }

  // On the loop thread.
  void begin_shutdown() {
    server->shutdown(reconnect_in_ms, try_for_ms, [this] {
      if (queue) queue->close();
    });
  }
};

namespace {

int make_tls(const derp_uv_server_options& o, derp_uv_server* s, std::string* detail) {
  switch (o.tls_mode) {
    case DERP_UV_TLS_OFF:
      return DERP_OK;
    case DERP_UV_TLS_PEM_FILES: {
      if (empty(o.tls_cert_file) || empty(o.tls_key_file)) {
        *detail = "DERP_UV_TLS_PEM_FILES needs tls_cert_file and tls_key_file";
        return DERP_ERR_INVALID_ARGUMENT;
      }
      std::string cert;
      std::string key;
      if (int rc = derp::tls::read_text_file(o.tls_cert_file, &cert, detail); rc != DERP_OK) return rc;
      if (int rc = derp::tls::read_text_file(o.tls_key_file, &key, detail); rc != DERP_OK) return rc;
      return derp::tls::ServerConfig::from_pem(cert, key, s->tls_hostname, &s->tls, detail);
    }
    case DERP_UV_TLS_MANUAL_DIR:
      if (empty(o.tls_cert_dir) || s->tls_hostname.empty()) {
        *detail = "DERP_UV_TLS_MANUAL_DIR needs tls_cert_dir and tls_hostname";
        return DERP_ERR_INVALID_ARGUMENT;
      }
      return derp::tls::ServerConfig::load_manual(o.tls_cert_dir, s->tls_hostname, &s->tls, detail);
    case DERP_UV_TLS_SELF_SIGNED:
      if (s->tls_hostname.empty()) {
        *detail = "DERP_UV_TLS_SELF_SIGNED needs tls_hostname (an IP address)";
        return DERP_ERR_INVALID_ARGUMENT;
      }
      // The certificate's validity starts from the wall clock; the driver, not a core, may read it.
      return derp::tls::ServerConfig::self_signed(s->tls_hostname, static_cast<std::int64_t>(std::time(nullptr)),
                                                  &s->tls, detail);
    default:
      *detail = "unknown tls_mode " + std::to_string(o.tls_mode);
      return DERP_ERR_INVALID_ARGUMENT;
  }
}

void release_own_loop(derp_uv_server* s) {
  if (s->own_loop == nullptr) return;
  uv_run(s->own_loop, UV_RUN_NOWAIT);  // any close callbacks still due
  uv_loop_close(s->own_loop);
  derp::capi::deallocate(s->own_loop);
  s->own_loop = nullptr;
}

// Binds; on success records the addresses. On the loop thread or while nobody runs the loop.
int listen_now(derp_uv_server* s) {
  std::string detail;
  if (const int rc = s->server->listen(&detail); rc != DERP_OK) {
    s->log_error("derp_uv_server start: " + detail);
    return rc;
  }
  s->tcp = s->server->tcp_addresses().at(0);
  if (!s->server->stun_addresses().empty()) s->stun = s->server->stun_addresses().front();
  s->started.store(true, std::memory_order_release);
  return DERP_OK;
}

}  // namespace

extern "C" {

int derp_uv_server_options_init(derp_uv_server_options* opts, size_t struct_size) {
  return derp::capi::init_versioned(opts, struct_size, default_options());
}

int derp_uv_server_new(struct uv_loop_s* loop, const derp_uv_server_options* opts, derp_uv_server** out) {
  return derp::capi::guarded([&]() -> int {
    if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    derp_uv_server_options o = default_options();
    if (opts != nullptr) {
      if (opts->struct_size < kMinStructSize) return DERP_ERR_INVALID_ARGUMENT;
      derp::capi::copy_struct_prefix(*opts, &o, opts->struct_size);
    }
    std::string detail;
    derp::uv::UvServerOptions uo;
    if (const int rc = derp::capi::server_options_from_c(o.server, &uo.core, &detail); rc != DERP_OK) {
      derp::capi::log_global(DERP_LOG_ERROR, "derp_uv_server_new: " + detail);
      return rc;
    }
    if (empty(o.listen)) {
      derp::capi::log_global(DERP_LOG_ERROR, "derp_uv_server_new: listen is empty");
      return DERP_ERR_INVALID_ARGUMENT;
    }

    struct Deleter {
      void operator()(derp_uv_server* s) const {
        s->server.reset();
        release_own_loop(s);
        derp::capi::destroy(s);
      }
    };
    std::unique_ptr<derp_uv_server, Deleter> s(derp::capi::create<derp_uv_server>());
    s->log = uo.core.log;
    s->tls_hostname = empty(o.tls_hostname) ? "" : o.tls_hostname;
    s->reconnect_in_ms = o.restart_reconnect_in_ms;
    s->try_for_ms = o.restart_try_for_ms;
    if (const int rc = make_tls(o, s.get(), &detail); rc != DERP_OK) {
      s->log_error("derp_uv_server_new: " + detail);
      return rc;
    }
    if (s->tls) s->cert_pin = derp::tls::cert_pin_of(s->tls->leaf_der());

    if (loop == nullptr) {
      void* memory = derp::capi::allocate(sizeof(uv_loop_t));
      if (memory == nullptr) return DERP_ERR_NO_MEMORY;
      auto* own = static_cast<uv_loop_t*>(memory);
      if (const int rc = uv_loop_init(own); rc != 0) {
        derp::capi::deallocate(own);
        s->log_error(std::string("derp_uv_server_new: uv_loop_init: ") + uv_strerror(rc));
        return DERP_ERR_UV_LOOP;
      }
      s->own_loop = own;
      loop = own;
    }
    s->loop = loop;

    uo.tcp_listen = {o.listen};
    if (!empty(o.stun_listen)) uo.stun_listen = {o.stun_listen};
    s->has_stun = !empty(o.stun_listen);
    uo.tls = s->tls.get();
    if (o.accept_rate > 0) {
      uo.accept_rate = o.accept_rate;
      uo.accept_burst = o.accept_burst == 0 ? 1 : o.accept_burst;
    }
    uo.shutdown_grace = derp::Nanos{o.shutdown_grace_ms} * derp::kMillisecond;
    if (const int rc = derp::uv::UvServer::create(loop, std::move(uo), &s->server, &detail); rc != DERP_OK) {
      s->log_error("derp_uv_server_new: " + detail);
      return rc;
    }
    s->public_key = s->server->core().public_key().bytes();
    *out = s.release();
    return DERP_OK;
  });
}

int derp_uv_server_start(derp_uv_server* server) {
  return derp::capi::guarded([&]() -> int {
    if (server == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    std::lock_guard<std::mutex> lock(server->mode_mutex);
    if (server->mode != Mode::Created || server->own_loop != nullptr) return DERP_ERR_UV_STATE;
    auto queue = std::make_unique<derp::uv::LoopTaskQueue>();
    std::string detail;
    if (const int rc = queue->open(server->loop, /*keep_alive=*/false, &detail); rc != DERP_OK) {
      server->log_error("derp_uv_server_start: " + detail);
      return rc;
    }
    server->queue = std::move(queue);
    if (const int rc = listen_now(server); rc != DERP_OK) {
      server->mode = Mode::Failed;
      server->queue->close();  // released when the host runs its loop, or by derp_uv_server_free
      return rc;
    }
    server->mode = Mode::HostLoop;
    return DERP_OK;
  });
}

int derp_uv_server_start_thread(derp_uv_server* server) {
  return derp::capi::guarded([&]() -> int {
    if (server == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    std::lock_guard<std::mutex> lock(server->mode_mutex);
    if (server->mode != Mode::Created) return DERP_ERR_UV_STATE;
    // Bind first, on this thread (nobody runs the loop yet): errors come back synchronously.
    if (const int rc = listen_now(server); rc != DERP_OK) {
      server->mode = Mode::Failed;
      return rc;
    }
    std::string detail;
    if (const int rc = derp::uv::LoopThread::start(server->loop, &server->thread, &detail); rc != DERP_OK) {
      server->log_error("derp_uv_server_start_thread: " + detail);
      server->mode = Mode::Failed;
      server->server->close();
      return rc;
    }
    server->mode = Mode::Thread;
    return DERP_OK;
  });
}

int derp_uv_server_stop(derp_uv_server* server) {
  return derp::capi::guarded([&]() -> int {
    if (server == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    Mode mode;
    {
      std::lock_guard<std::mutex> lock(server->mode_mutex);
      if (server->mode == Mode::Created) server->mode = Mode::Stopped;
      mode = server->mode;
    }
    if (mode == Mode::HostLoop) {
      if (!server->shutdown_begun.exchange(true)) {
        // Refused when the queue is already closed: the server has stopped.
        server->queue->post([server] { server->begin_shutdown(); });
      }
    } else if (mode == Mode::Thread) {
      if (!server->shutdown_begun.exchange(true)) {
        if (server->thread->on_loop_thread()) {
          server->begin_shutdown();
        } else {
          server->thread->post([server] { server->begin_shutdown(); });
        }
      }
      server->thread->stop();  // joins, except from the loop thread itself
    }
    return DERP_OK;
  });
}

void derp_uv_server_free(derp_uv_server* server) {
  if (server == nullptr) return;
  if (server->thread) {
    // Not yet stopped: close at once rather than gracefully (free promises no grace).
    if (!server->shutdown_begun.exchange(true)) {
      server->thread->post([server] { server->server->close(); });
    }
    server->thread.reset();  // stop + join
  }
  // Host-loop mode: a stop posted but never run (the host did not run its loop) runs now, while the server still
  // exists; later posts are refused.
  if (server->queue) server->queue->close();
  server->server.reset();  // closes what is still open, running the loop until libuv released its handles
  if (server->queue) {
    while (!server->queue->released()) uv_run(server->loop, UV_RUN_NOWAIT);
    server->queue.reset();
  }
  release_own_loop(server);
  derp::capi::destroy(server);
}

int derp_uv_server_public_key(const derp_uv_server* server, std::uint8_t key_out[DERP_KEY_LEN]) {
  if (server == nullptr || key_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  std::memcpy(key_out, server->public_key.data(), DERP_KEY_LEN);
  return DERP_OK;
}

int derp_uv_server_derp_address(const derp_uv_server* server, derp_addr* out) {
  if (server == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (!server->started.load(std::memory_order_acquire)) return DERP_ERR_UV_STATE;
  *out = server->tcp;
  return DERP_OK;
}

int derp_uv_server_stun_address(const derp_uv_server* server, derp_addr* out) {
  if (server == nullptr || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (!server->has_stun) return DERP_ERR_UNSUPPORTED;
  if (!server->started.load(std::memory_order_acquire)) return DERP_ERR_UV_STATE;
  *out = server->stun;
  return DERP_OK;
}

int derp_uv_server_url(const derp_uv_server* server, char* out, size_t cap, size_t* size_out) {
  return derp::capi::guarded([&]() -> int {
    if (size_out != nullptr) *size_out = 0;
    if (server == nullptr || size_out == nullptr || (out == nullptr && cap != 0)) return DERP_ERR_INVALID_ARGUMENT;
    if (!server->started.load(std::memory_order_acquire)) return DERP_ERR_UV_STATE;
    std::string host;
    if (server->tls && !server->tls_hostname.empty()) {
      host = server->tls_hostname.find(':') != std::string::npos ? "[" + server->tls_hostname + "]"
                                                                 : server->tls_hostname;
      host += ":" + std::to_string(server->tcp.port);
    } else {
      derp_addr where = server->tcp;
      if (is_unspecified(where)) {
        // A wildcard bind: name the loopback address of its family, which always reaches it.
        std::memset(where.ip, 0, sizeof where.ip);
        if (where.family == DERP_AF_INET) {
          where.ip[0] = 127;
          where.ip[3] = 1;
        } else {
          where.ip[15] = 1;
        }
      }
      host = derp::format_addr(where);
    }
    return copy_text(std::string(server->tls ? "https://" : "http://") + host + "/derp", out, cap, size_out);
  });
}

int derp_uv_server_cert_pin(const derp_uv_server* server, char* out, size_t cap, size_t* size_out) {
  return derp::capi::guarded([&]() -> int {
    if (size_out != nullptr) *size_out = 0;
    if (server == nullptr || size_out == nullptr || (out == nullptr && cap != 0)) return DERP_ERR_INVALID_ARGUMENT;
    if (server->cert_pin.empty()) return DERP_ERR_UNSUPPORTED;
    return copy_text(server->cert_pin, out, cap, size_out);
  });
}

int derp_uv_server_metrics_text(derp_uv_server* server, char* out, size_t cap, size_t* size_out) {
  return derp::capi::guarded([&]() -> int {
    if (size_out != nullptr) *size_out = 0;
    if (server == nullptr || size_out == nullptr || (out == nullptr && cap != 0)) return DERP_ERR_INVALID_ARGUMENT;
    std::string text;
    if (server->thread) {
      // The counters belong to the loop thread: read them there (or after it finished, see LoopThread::call).
      server->thread->call([&] { text = server->server->core().metrics_text(); });
    } else {
      text = server->server->core().metrics_text();
    }
    return copy_text(text, out, cap, size_out);
  });
}

}  // extern "C"
