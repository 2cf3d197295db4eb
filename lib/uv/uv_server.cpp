#include "uv/uv_server.hpp"

#include <sys/resource.h>

#include <cstring>
#include <ctime>
#include <new>
#include <stdexcept>
#include <utility>

#include "common/address.hpp"
#include "crypto/key_text.hpp"
#include "tls/cert_pin.hpp"
#include "tls/pem_files.hpp"

namespace derp::uv {

namespace {

using server::LogLevel;

// Every read lands here first; 64 KiB is the most a TCP read usually returns and the largest UDP datagram.
constexpr std::size_t kReadBufferSize = 64 * 1024;
// One TLS record's plaintext (RFC 8446 §5.1: at most 2^14 bytes); read_plaintext hands out one record at a time.
constexpr std::size_t kPlaintextBufferSize = 16 * 1024;

int parse_all(const std::vector<std::string>& texts, std::vector<ListenAddress>* out, std::string* detail) {
  for (const std::string& text : texts) {
    ListenAddress where;
    if (parse_listen_address(text, &where) != DERP_OK) {
      *detail = "listen address \"" + text + "\" is not ip:port, [ip6]:port or :port";
      return DERP_ERR_ADDRESS;
    }
    out->push_back(where);
  }
  return DERP_OK;
}

int make_tls(const UvServerTlsOptions& o, std::unique_ptr<tls::ServerConfig>* out, std::string* detail) {
  switch (o.mode) {
    case UvServerTlsMode::kOff:
      return DERP_OK;
    case UvServerTlsMode::kPemFiles: {
      if (o.cert_file.empty() || o.key_file.empty()) {
        *detail = "TLS from PEM files needs a certificate file and a key file";
        return DERP_ERR_INVALID_ARGUMENT;
      }
      std::string cert;
      std::string key;
      if (int rc = tls::read_text_file(o.cert_file, &cert, detail); rc != DERP_OK) return rc;
      if (int rc = tls::read_text_file(o.key_file, &key, detail); rc != DERP_OK) return rc;
      return tls::ServerConfig::from_pem(cert, key, o.hostname, out, detail);
    }
    case UvServerTlsMode::kManualDir:
      if (o.cert_dir.empty() || o.hostname.empty()) {
        *detail = "TLS from a certificate directory needs the directory and a hostname";
        return DERP_ERR_INVALID_ARGUMENT;
      }
      return tls::ServerConfig::load_manual(o.cert_dir, o.hostname, out, detail);
    case UvServerTlsMode::kSelfSigned:
      if (o.hostname.empty()) {
        *detail = "a self-signed certificate needs a hostname (an IP address)";
        return DERP_ERR_INVALID_ARGUMENT;
      }
      // The certificate's validity starts from the wall clock; the driver, not a core, may read it.
      return tls::ServerConfig::self_signed(o.hostname, static_cast<std::int64_t>(std::time(nullptr)), out, detail);
  }
  *detail = "unknown TLS mode " + std::to_string(static_cast<int>(o.mode));
  return DERP_ERR_INVALID_ARGUMENT;
}

bool is_unspecified(const derp_addr& a) {
  const std::size_t n = a.family == DERP_AF_INET ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i) {
    if (a.ip[i] != 0) return false;
  }
  return true;
}

}  // namespace

int UvServer::create(uv_loop_t* loop, UvServerOptions options, std::unique_ptr<UvServer>* out,
                     std::string* detail) {
  std::unique_ptr<tls::ServerConfig> own_tls;
  std::string url_host;
  if (options.tls_setup.mode != UvServerTlsMode::kOff) {
    if (options.tls != nullptr) {
      *detail = "give either a TLS configuration or a TLS mode, not both";
      return DERP_ERR_INVALID_ARGUMENT;
    }
    if (const int rc = make_tls(options.tls_setup, &own_tls, detail); rc != DERP_OK) return rc;
    options.tls = own_tls.get();
    url_host = options.tls_setup.hostname;
  } else if (options.tls != nullptr) {
    url_host = options.tls->hostname();
  }
  std::vector<ListenAddress> tcp_where;
  std::vector<ListenAddress> stun_where;
  if (int rc = parse_all(options.tcp_listen, &tcp_where, detail); rc != DERP_OK) return rc;
  if (int rc = parse_all(options.stun_listen, &stun_where, detail); rc != DERP_OK) return rc;

  std::unique_ptr<server::Server> core;
  try {
    core = std::make_unique<server::Server>(std::move(options.core));
  } catch (const std::invalid_argument&) {
    *detail = "the server needs a non-zero private key";
    return DERP_ERR_INVALID_ARGUMENT;
  } catch (const std::bad_alloc&) {
    return DERP_ERR_NO_MEMORY;
  }

  std::unique_ptr<uv_loop_t> own_loop;
  if (loop == nullptr) {
    own_loop = std::make_unique<uv_loop_t>();
    if (const int rc = uv_loop_init(own_loop.get()); rc != 0) {
      *detail = std::string("uv_loop_init: ") + uv_strerror(rc);
      return DERP_ERR_UV_LOOP;
    }
    loop = own_loop.get();
  }
  std::unique_ptr<UvServer> s(
      new UvServer(loop, std::move(own_loop), std::move(own_tls), std::move(options), std::move(core)));
  s->url_host_ = std::move(url_host);
  if (s->options_.tls != nullptr) s->cert_pin_ = tls::cert_pin_of(s->options_.tls->leaf_der());
  s->tcp_where_ = std::move(tcp_where);
  s->stun_where_ = std::move(stun_where);
  // The accept limiter's counts join the core's metrics page, under derper's names for its TLS listener.
  UvServer* self = s.get();
  s->core_->set_extra_metrics([self, host = s->core_->options().extra_metrics](std::string& text) {
    text += "# TYPE tls_listener_accepted_connections counter\ntls_listener_accepted_connections " +
            std::to_string(self->accept_counters_.accepted) + "\n";
    text += "# TYPE tls_listener_rejected_connections counter\ntls_listener_rejected_connections " +
            std::to_string(self->accept_counters_.rejected) + "\n";
    text += "# HELP derp_accept_failures accepts that failed or were refused for lack of file descriptors\n"
            "# TYPE derp_accept_failures counter\n";
    for (const auto& [reason, n] : self->accept_counters_.failures) {
      text += "derp_accept_failures{reason=\"" + reason + "\"} " + std::to_string(n) + "\n";
    }
    if (host) host(text);
  });
  *out = std::move(s);
  return DERP_OK;
}

UvServer::UvServer(uv_loop_t* loop, std::unique_ptr<uv_loop_t> own_loop, std::unique_ptr<tls::ServerConfig> own_tls,
                   UvServerOptions options, std::unique_ptr<server::Server> core)
    : loop_(loop),
      own_loop_(std::move(own_loop)),
      own_tls_(std::move(own_tls)),
      options_(std::move(options)),
      core_(std::move(core)),
      limiter_(options_.accept_rate, options_.accept_burst),
      read_buffer_(kReadBufferSize),
      plaintext_buffer_(options_.tls != nullptr ? kPlaintextBufferSize : 0) {
  context_.loop = loop_;
  context_.core = core_.get();
  context_.tls = options_.tls;
  context_.read_buffer = MutableBytes(read_buffer_);
  context_.plaintext_buffer = MutableBytes(plaintext_buffer_);
  context_.tcp_keepalive = options_.tcp_keepalive;
  context_.tcp_user_timeout = options_.tcp_user_timeout;
  context_.close_linger = options_.close_linger;
  context_.on_closed = [this](UvConnection* conn) { on_connection_closed(conn); };
  context_.log = [this](LogLevel level, std::string_view text) { log(level, std::string(text)); };
  // One descriptor per connection; keep kFdHeadroom for everything else the process holds.
  constexpr rlim_t kFdHeadroom = 64;
  rlimit nofile{};
  if (options_.fd_limit > 0) {
    fd_ceiling_ = options_.fd_limit;
  } else if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
             nofile.rlim_cur > kFdHeadroom) {
    fd_ceiling_ = static_cast<std::size_t>(nofile.rlim_cur - kFdHeadroom);
  }
}

UvServer::~UvServer() {
  on_stopped_ = nullptr;  // the host is tearing down: no callbacks into it
  if (state_ != State::Stopped) close();
  // libuv frees nothing of ours, but it must be done with every handle before their memory goes; closes
  // complete within one loop iteration.
  while (state_ != State::Stopped) uv_run(loop_, UV_RUN_NOWAIT);
  if (own_loop_) {
    uv_run(own_loop_.get(), UV_RUN_NOWAIT);
    uv_loop_close(own_loop_.get());
  }
}

std::string UvServer::derp_url() const {
  if (tcp_bound_.empty()) return {};
  std::string host;
  if (options_.tls != nullptr && !url_host_.empty()) {
    host = url_host_.find(':') != std::string::npos ? "[" + url_host_ + "]" : url_host_;
    host += ":" + std::to_string(tcp_bound_.front().port);
  } else {
    derp_addr where = tcp_bound_.front();
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
    host = format_addr(where);
  }
  return std::string(options_.tls != nullptr ? "https://" : "http://") + host + "/derp";
}

void UvServer::log(LogLevel level, const std::string& text) const {
  if (core_->options().log) core_->options().log(level, text);
}

int UvServer::listen(std::string* detail) {
  if (state_ != State::Created) {
    *detail = "listen() was already called, or the server is stopping";
    return DERP_ERR_UV_STATE;
  }
  state_ = State::Listening;
  auto fail = [&](int rc) {
    close();  // whatever was bound goes again
    return rc;
  };
  for (const ListenAddress& where : tcp_where_) {
    std::unique_ptr<UvListener> l;
    const int rc = UvListener::open(
        loop_, where, [this](uv_stream_t* listener, int status) { on_connection(listener, status); }, &l, detail);
    if (rc != DERP_OK) return fail(rc);
    tcp_bound_.push_back(l->address());
    listeners_.push_back(std::move(l));
  }
  for (const ListenAddress& where : stun_where_) {
    std::unique_ptr<UvStunListener> l;
    const int rc = UvStunListener::open(loop_, where, MutableBytes(read_buffer_), &core_->counters(), &l, detail);
    if (rc != DERP_OK) return fail(rc);
    stun_bound_.push_back(l->address());
    stun_.push_back(std::move(l));
  }
  for (const derp_addr& a : tcp_bound_) {
    log(LogLevel::Info, "listening on " + format_addr(a) + (options_.tls != nullptr ? " (TLS)" : " (plain HTTP)"));
  }
  for (const derp_addr& a : stun_bound_) log(LogLevel::Info, "STUN on UDP " + format_addr(a));
  return DERP_OK;
}

int UvServer::run() { return uv_run(loop_, UV_RUN_DEFAULT); }

void UvServer::count_accept_failure(const std::string& reason, Nanos now) {
  accept_counters_.failures[reason]++;
  if (!accept_failure_log_.allow(now)) return;
  const std::uint64_t left_out = accept_failure_log_.take_suppressed();
  log(LogLevel::Warn, "accept failed: " + reason + " (" + std::to_string(accept_counters_.failures[reason]) +
                          " so far" + (left_out > 0 ? ", " + std::to_string(left_out) + " more failures not logged" : "") +
                          ")");
}

void UvServer::on_connection(uv_stream_t* listener, int status) {
  if (status < 0) {
    count_accept_failure(uv_err_name(status), monotonic_now());
    return;
  }
  auto* conn = new UvConnection(context_);
  connections_.insert(conn);
  if (const int rc = conn->accept_from(listener); rc != 0) {
    count_accept_failure(uv_err_name(rc), monotonic_now());
    conn->close_transport("");
    return;
  }
  const Nanos now = monotonic_now();
  if (connections_.size() > fd_ceiling_) {
    count_accept_failure("fd_limit", now);
    conn->close_transport("");
    return;
  }
  if (state_ != State::Listening) {
    conn->close_transport("");
    return;
  }
  // Over the limit: accepted and closed at once, so the client sees a quick failure (reference §4.9).
  if (!limiter_.allow(now)) {
    accept_counters_.rejected++;
    log(LogLevel::Debug, "connection over the accept limit closed");
    conn->close_transport("");
    return;
  }
  accept_counters_.accepted++;
  conn->start(now);
  serve_ready(*core_, now);
}

void UvServer::on_connection_closed(UvConnection* conn) {
  const Nanos now = monotonic_now();
  if (conn->core() != nullptr) core_->remove(conn->core(), now);
  connections_.erase(conn);
  delete conn;
  // Removing a client may have queued PeerGone frames for others.
  serve_ready(*core_, now);
  maybe_finish();
}

void UvServer::close_listeners() {
  if (listeners_closed_) return;
  listeners_closed_ = true;
  for (auto& l : listeners_) {
    ++handle_closes_pending_;
    l->close([this] {
      --handle_closes_pending_;
      maybe_finish();
    });
  }
  for (auto& l : stun_) {
    ++handle_closes_pending_;
    l->close([this] {
      --handle_closes_pending_;
      maybe_finish();
    });
  }
}

void UvServer::shutdown(std::uint32_t reconnect_in_ms, std::uint32_t try_for_ms, std::function<void()> on_stopped) {
  if (state_ == State::Stopped) {
    if (on_stopped) on_stopped();
    return;
  }
  if (on_stopped) on_stopped_ = std::move(on_stopped);
  if (state_ == State::Draining || state_ == State::Closing) return;
  state_ = State::Draining;
  close_listeners();
  log(LogLevel::Info, "shutting down: " + std::to_string(connections_.size()) + " connections to drain");
  const Nanos now = monotonic_now();
  core_->shutdown(reconnect_in_ms, try_for_ms, now);
  serve_ready(*core_, now);
  uv_timer_init(loop_, &grace_timer_);
  grace_timer_.data = this;
  grace_timer_open_ = true;
  uv_timer_start(&grace_timer_, [](uv_timer_t* t) { static_cast<UvServer*>(t->data)->close(); },
                 millis_until(now + options_.shutdown_grace, now), 0);
  maybe_finish();
}

void UvServer::close(std::function<void()> on_stopped) {
  if (state_ == State::Stopped) {
    if (on_stopped) on_stopped();
    return;
  }
  if (on_stopped) on_stopped_ = std::move(on_stopped);
  if (state_ == State::Draining && !connections_.empty()) {
    log(LogLevel::Info, "closing " + std::to_string(connections_.size()) + " connections that did not drain");
  }
  state_ = State::Closing;
  close_listeners();
  if (grace_timer_open_ && !grace_timer_closing_) uv_timer_stop(&grace_timer_);
  for (UvConnection* conn : connections_) conn->close_transport("");  // frees nothing synchronously
  maybe_finish();
}

void UvServer::maybe_finish() {
  if (state_ != State::Draining && state_ != State::Closing) return;
  if (!connections_.empty()) return;
  if (grace_timer_open_) {
    if (!grace_timer_closing_) {
      grace_timer_closing_ = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&grace_timer_), [](uv_handle_t* h) {
        auto* self = static_cast<UvServer*>(h->data);
        self->grace_timer_open_ = false;
        self->maybe_finish();
      });
    }
    return;
  }
  if (handle_closes_pending_ > 0) return;
  state_ = State::Stopped;
  log(LogLevel::Info, "stopped");
  std::function<void()> done = std::move(on_stopped_);
  if (done) done();
}

}  // namespace derp::uv
