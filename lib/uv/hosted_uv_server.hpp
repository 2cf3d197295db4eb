// A UvServer hosted by a LoopHost: on the host's loop or on a thread of ours, started, stopped gracefully from any
// thread, and freed safely. What the C API's derp_uv_server wraps; a C++ program gets the same.
//
//   HostedUvServerOptions o;  o.server.tcp_listen = {"127.0.0.1:0"};   // o.host.host_loop = null: our thread
//   HostedUvServer::create(std::move(o), &s, &detail);
//   s->start_thread(&detail);   s->derp_url();   ...   s->stop();      // Restarting to clients, drain, join
//
// Threads. start on the host's loop thread (host-loop mode) or any thread (thread mode). stop, the addresses,
// derp_url, cert_pin and public_key from any thread; metrics_text from any thread in thread mode, the loop thread
// in host-loop mode. The destructor: any thread but the loop thread in thread mode; the loop thread, outside
// uv_run, in host-loop mode.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "crypto/node_key.hpp"
#include "uv/loop_host.hpp"
#include "uv/uv_server.hpp"

namespace derp::uv {

struct HostedUvServerOptions {
  UvServerOptions server;
  // host.host_loop: the host's loop (start), or null: a private loop (start_thread).
  LoopHostOptions host;
  // What stop() tells clients (derper's values on SIGTERM): reconnect in 2 s, keep trying for 30 s.
  std::uint32_t restart_reconnect_in_ms = 2000;
  std::uint32_t restart_try_for_ms = 30000;
};

class HostedUvServer {
 public:
  // UvServer::create's and LoopHost::create's errors (*detail).
  static int create(HostedUvServerOptions options, std::unique_ptr<HostedUvServer>* out, std::string* detail);
  // Not yet stopped: closes at once (no grace).
  ~HostedUvServer();
  HostedUvServer(const HostedUvServer&) = delete;
  HostedUvServer& operator=(const HostedUvServer&) = delete;

  // Host-loop mode, on the loop thread: binds. DERP_ERR_UV_STATE (started, stopped, or a private loop);
  // UvServer::listen's errors (*detail).
  int start(std::string* detail);
  // Thread mode: binds here, then the thread runs the loop. DERP_ERR_UV_STATE (started or stopped); listen's and
  // the thread's errors (*detail).
  int start_thread(std::string* detail);
  // Any thread, idempotent: the graceful shutdown (UvServer::shutdown with the restart hint) on the loop; thread
  // mode then joins (unless called from the loop thread).
  void stop();

  // True once started: the addresses below are set, then never change.
  bool started() const { return started_.load(std::memory_order_acquire); }
  const derp_addr& tcp_address() const { return tcp_; }
  bool has_stun() const { return has_stun_; }
  const derp_addr& stun_address() const { return stun_; }
  // UvServer::derp_url (empty before started).
  std::string derp_url() const { return started() ? server_->derp_url() : std::string(); }
  const std::string& cert_pin() const { return cert_pin_; }
  const crypto::NodePublic& public_key() const { return public_key_; }
  // The Prometheus page. Thread mode: read on the loop thread.
  std::string metrics_text();

  UvServer& server() { return *server_; }

 private:
  HostedUvServer() = default;
  int listen_now(std::string* detail);
  void begin_shutdown();

  std::unique_ptr<LoopHost> host_;
  std::unique_ptr<UvServer> server_;
  std::uint32_t reconnect_in_ms_ = 0;
  std::uint32_t try_for_ms_ = 0;
  std::string cert_pin_;
  crypto::NodePublic public_key_;
  bool has_stun_ = false;

  std::atomic<bool> started_{false};
  derp_addr tcp_{};
  derp_addr stun_{};
};

}  // namespace derp::uv
