// The libuv driver for the DERP server core: TCP listeners (optionally TLS), one UvConnection per accepted socket,
// STUN over UDP, an accept limiter, and a graceful shutdown. Everything runs on one uv_loop_t thread; the core is
// sans-IO (server.hpp) and this is one host of it among possible others.
//
//   auto server = UvServer::create(loop, options, &server, &detail);   // nothing bound yet
//   server->listen(&detail);                                           // binds TCP and UDP; ports may be 0
//   uv_run(loop, UV_RUN_DEFAULT);                                      // serve until stopped
//   server->shutdown(...)  (from a signal or timer callback)          // Restarting to clients, drain, stop
//
// Thread-safety: none. Every call, and the destructor, on the loop's thread. A server that owns its loop must not
// be destroyed from inside one of that loop's callbacks (on_stopped included): its destructor closes the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <uv.h>

#include "common/log_rate_limiter.hpp"
#include "server/server.hpp"
#include "tls/server_config.hpp"
#include "uv/accept_limiter.hpp"
#include "uv/clock.hpp"
#include "uv/uv_connection.hpp"
#include "uv/uv_listener.hpp"
#include "uv/uv_stun.hpp"

namespace derp::uv {

// TLS the server sets up (and owns) itself, the ways derper gets certificates. The values match the C API's
// DERP_UV_TLS_* (capi/ checks it).
enum class UvServerTlsMode : int {
  kOff = 0,         // plain HTTP, or UvServerOptions::tls (a configuration the host built)
  kPemFiles = 1,    // cert_file (PEM chain, leaf first) and key_file (PEM key)
  kManualDir = 2,   // derper -certmode manual: <cert_dir>/<hostname>.crt and .key (see ServerConfig::load_manual)
  kSelfSigned = 3,  // a fresh in-memory self-signed certificate for the IP hostname, valid from the wall clock
};

struct UvServerTlsOptions {
  UvServerTlsMode mode = UvServerTlsMode::kOff;
  std::string cert_file;
  std::string key_file;
  std::string cert_dir;
  // The certificate's name (manual dir, self-signed: required) and the host of derp_url(); PEM files: when not
  // empty, ClientHellos naming another host are refused.
  std::string hostname;
};

struct UvServerOptions {
  // The core's options: key, timeouts, queues, admission hook, log sink (the driver logs through it too).
  server::ServerOptions core;

  // TCP listen addresses in derper's -a form: "ip:port", "[ip6]:port", ":port" (every address, both families).
  // Port 0 picks a free port; tcp_addresses() tells which.
  std::vector<std::string> tcp_listen;
  // Non-null: every TCP listener speaks TLS with this configuration, which must outlive the server.
  const tls::ServerConfig* tls = nullptr;
  // Or the server builds its own (not together with tls).
  UvServerTlsOptions tls_setup;
  // UDP addresses for the STUN responder, same forms. Empty: no STUN.
  std::vector<std::string> stun_listen;

  // Accept limiter (derper -accept-connection-limit / -accept-connection-burst). derper applies it to its TLS
  // listener only; here it covers every TCP listener of this server.
  double accept_rate = AcceptLimiter::kUnlimited;
  std::uint64_t accept_burst = std::numeric_limits<std::uint64_t>::max();
  // Open connections beyond this are closed at once and counted (accept failure "fd_limit"), before the kernel
  // can answer EMFILE, which libuv handles silently. 0: RLIMIT_NOFILE minus 64 (listeners, STUN, loop, files).
  std::size_t fd_limit = 0;

  Nanos tcp_keepalive = 10 * 60 * server::kSecond;  // derper -tcp-keepalive-time; 0 = off
  Nanos tcp_user_timeout = 15 * server::kSecond;    // derper -tcp-user-timeout (Linux); 0 = kernel default
  // How long a closing connection may take to flush its last output (an HTTP answer, a Restarting frame).
  Nanos close_linger = 5 * server::kSecond;
  // shutdown(): how long clients get to drain before every connection is closed.
  Nanos shutdown_grace = 2 * server::kSecond;
};

// Accept limiter results (derper's tls_listener counters).
struct AcceptCounters {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  // Accepts that failed, by libuv error name ("ENFILE", "ENOBUFS", ...), plus "fd_limit": connections accepted and
  // closed at once because the process was within kFdHeadroom descriptors of RLIMIT_NOFILE.
  std::map<std::string, std::uint64_t> failures;
};

class UvServer {
 public:
  // Builds the TLS configuration (tls_setup), then the core; binds nothing. loop = nullptr: the server makes its
  // own loop (run() drives it). DERP_OK, DERP_ERR_INVALID_ARGUMENT (zero key, tls_setup incomplete or given with
  // tls), DERP_ERR_TLS_CONFIG or a file error (tls_setup), DERP_ERR_ADDRESS (a listen address; *detail names it),
  // DERP_ERR_UV_LOOP.
  static int create(uv_loop_t* loop, UvServerOptions options, std::unique_ptr<UvServer>* out, std::string* detail);

  // Closes everything still open, running the loop (UV_RUN_NOWAIT) until libuv has released the handles.
  ~UvServer();
  UvServer(const UvServer&) = delete;
  UvServer& operator=(const UvServer&) = delete;

  // Binds every TCP and UDP address and starts accepting. On failure nothing stays bound: DERP_ERR_UV_LISTEN with
  // *detail; DERP_ERR_UV_STATE when called twice or after stopping.
  int listen(std::string* detail);

  // The addresses actually bound (ports resolved), in the order given.
  const std::vector<derp_addr>& tcp_addresses() const { return tcp_bound_; }
  const std::vector<derp_addr>& stun_addresses() const { return stun_bound_; }

  // The URL a client dials, once listening (empty before): https://<TLS hostname>:<port>/derp with TLS and a
  // hostname, else http(s)://<first TCP address>/derp with a wildcard address named by its family's loopback.
  std::string derp_url() const;
  // The TLS configuration in use (null without TLS), and its leaf's "sha256-raw:<hex>" pin (empty without TLS).
  const tls::ServerConfig* tls() const { return options_.tls; }
  const std::string& cert_pin() const { return cert_pin_; }

  // Graceful stop: listeners close, clients get Restarting(reconnect_in_ms, try_for_ms), HTTP connections close,
  // connections drain for up to shutdown_grace, then the rest are closed. on_stopped runs once every handle of
  // the server is closed; the loop then ends by itself unless the host has handles of its own.
  void shutdown(std::uint32_t reconnect_in_ms, std::uint32_t try_for_ms, std::function<void()> on_stopped = {});
  // Immediate stop: every connection and listener closed now. on_stopped as above.
  void close(std::function<void()> on_stopped = {});
  bool stopped() const { return state_ == State::Stopped; }

  // Own loop only: runs it until the server stops (returns uv_run's result).
  int run();
  uv_loop_t* loop() const { return loop_; }

  server::Server& core() { return *core_; }
  const server::Counters& counters() const { return core_->counters(); }
  const AcceptCounters& accept_counters() const { return accept_counters_; }
  // UvConnections alive, including ones whose handles are closing.
  std::size_t connection_count() const { return connections_.size(); }

 private:
  enum class State { Created, Listening, Draining, Closing, Stopped };

  UvServer(uv_loop_t* loop, std::unique_ptr<uv_loop_t> own_loop, std::unique_ptr<tls::ServerConfig> own_tls,
           UvServerOptions options, std::unique_ptr<server::Server> core);

  void on_connection(uv_stream_t* listener, int status);
  void on_connection_closed(UvConnection* conn);
  // Counts a failed or refused accept and logs it, at most a few lines per 10 s with the count of the rest.
  void count_accept_failure(const std::string& reason, Nanos now);
  void close_listeners();
  void maybe_finish();
  void log(server::LogLevel level, const std::string& text) const;

  uv_loop_t* loop_;
  std::unique_ptr<uv_loop_t> own_loop_;
  std::unique_ptr<tls::ServerConfig> own_tls_;  // tls_setup's; before options_, which points at it
  std::string url_host_;                        // the TLS hostname for derp_url(), empty: the address
  std::string cert_pin_;
  UvServerOptions options_;
  std::unique_ptr<server::Server> core_;
  AcceptLimiter limiter_;
  AcceptCounters accept_counters_;
  LogRateLimiter accept_failure_log_{5, 10 * server::kSecond};
  // Connections beyond this are closed at once (reason "fd_limit"): RLIMIT_NOFILE minus a headroom for listeners,
  // STUN sockets, the loop and files, so that the kernel never answers EMFILE (which libuv handles silently).
  std::size_t fd_ceiling_ = std::numeric_limits<std::size_t>::max();

  // One read buffer for every socket of this server (the core copies what it keeps; libuv runs one read
  // callback at a time), so idle connections hold none; and one for decrypted TLS records.
  std::vector<std::uint8_t> read_buffer_;
  std::vector<std::uint8_t> plaintext_buffer_;
  ConnectionContext context_;

  std::vector<ListenAddress> tcp_where_;
  std::vector<ListenAddress> stun_where_;
  std::vector<std::unique_ptr<UvListener>> listeners_;
  std::vector<std::unique_ptr<UvStunListener>> stun_;
  std::vector<derp_addr> tcp_bound_;
  std::vector<derp_addr> stun_bound_;
  std::unordered_set<UvConnection*> connections_;

  uv_timer_t grace_timer_{};
  bool grace_timer_open_ = false;
  bool grace_timer_closing_ = false;
  bool listeners_closed_ = false;
  int handle_closes_pending_ = 0;

  State state_ = State::Created;
  std::function<void()> on_stopped_;
};

}  // namespace derp::uv
