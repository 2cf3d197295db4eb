#include "uv/uv_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>

#include "common/address.hpp"
#include "uv/socket_address.hpp"

namespace derp::uv {

namespace {

using server::LogLevel;
using server::Phase;

// Views taken from the core per write: everything routed to a receiver during one read callback (a few dozen
// frames at most before the core asks for a flush, see feed_core) goes out in one writev.
constexpr std::size_t kMaxViews = 64;
// What a connection closed for a violation may still be fed while it flushes its last answer, before it is reset.
constexpr std::size_t kMaxDrainAfterViolation = 64 * 1024;

std::size_t to_uv_bufs(const std::array<Bytes, kMaxViews>& views, std::size_t n, std::array<uv_buf_t, kMaxViews>* bufs) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    (*bufs)[i] = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(views[i].data())),
                             static_cast<unsigned>(views[i].size()));
    total += views[i].size();
  }
  return total;
}

bool is_closing_phase(Phase p) { return p == Phase::Closing || p == Phase::Closed; }

}  // namespace

void serve_ready(server::Server& core, Nanos now) {
  core.drain_ready([now](server::Connection& c) {
    if (auto* conn = static_cast<UvConnection*>(c.user_data)) conn->service(now);
  });
}

UvConnection::UvConnection(ConnectionContext& context) : ctx_(context) {}

int UvConnection::accept_from(uv_stream_t* listener) {
  uv_tcp_init(ctx_.loop, &tcp_);
  tcp_.data = this;
  ++handles_open_;
  uv_timer_init(ctx_.loop, &timer_);
  timer_.data = this;
  ++handles_open_;
  write_req_.data = this;
  shutdown_req_.data = this;
  return uv_accept(listener, stream());
}

void UvConnection::start(Nanos now) {
  tune_socket();
  sockaddr_storage peer;
  int len = sizeof peer;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    remote_ = from_sockaddr(reinterpret_cast<const sockaddr*>(&peer));
  }
  if (ctx_.tls != nullptr) {
    std::unique_ptr<tls::Session> session;
    if (const int rc = tls::Session::create_server(*ctx_.tls, &session); rc != DERP_OK) {
      log(LogLevel::Warn, std::string("no TLS session: ") + derp_strerror(rc));
      close_transport("");
      return;
    }
    tls_ = std::make_unique<UvTlsPump>(static_cast<UvTlsPump::Host*>(this), stream(), std::move(session), ctx_.plaintext_buffer);
  }
  core_ = ctx_.core->accept(remote_, now);
  core_->user_data = this;
  if (const int rc = uv_read_start(stream(), on_alloc, on_read); rc != 0) {
    close_transport(uv_strerror(rc));
    return;
  }
  service(now);
}

void UvConnection::tune_socket() {
  // Small frames must not wait for Nagle: DERP carries interactive traffic.
  uv_tcp_nodelay(&tcp_, 1);
  // derper's listener keep-alive (10 min) and TCP_USER_TIMEOUT (15 s) find dead peers after the handshake, when
  // the server no longer reads with a deadline (reference §1.7, §4.5).
  if (ctx_.tcp_keepalive > 0) {
    const auto seconds = std::max<Nanos>(1, ctx_.tcp_keepalive / server::kSecond);
    uv_tcp_keepalive(&tcp_, 1, static_cast<unsigned>(seconds));
  }
#ifdef TCP_USER_TIMEOUT
  if (ctx_.tcp_user_timeout > 0) {
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0) {
      const unsigned ms = static_cast<unsigned>(ctx_.tcp_user_timeout / server::kMillisecond);
      setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
    }
  }
#endif
}

void UvConnection::log(LogLevel level, std::string_view text) const {
  if (ctx_.log) ctx_.log(level, format_addr(remote_) + ": " + std::string(text));
}

// ---- reading ---------------------------------------------------------------------------------------------------

void UvConnection::on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<UvConnection*>(handle->data);
  *buf = uv_buf_init(reinterpret_cast<char*>(self->ctx_.read_buffer.data()),
                     static_cast<unsigned>(self->ctx_.read_buffer.size()));
}

void UvConnection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<UvConnection*>(s->data);
  if (nread == 0 || self->closing_) return;  // 0: nothing to read after all (EAGAIN)
  if (nread < 0) {
    // EOF or a reset: the peer is gone (when lingering, this is the end it waited for); Server::remove (after the
    // handles close) tells the core.
    self->close_transport(nread == UV_EOF ? "" : uv_strerror(static_cast<int>(nread)));
    return;
  }
  // The core is done with this connection (closing or lingering): what the peer sends is discarded. After a
  // violation only a little of it, then the connection is reset.
  if (self->core_ != nullptr && is_closing_phase(self->core_->phase())) {
    self->read_after_close_ += static_cast<std::size_t>(nread);
    if (self->core_->closed_for_violation() && self->read_after_close_ > kMaxDrainAfterViolation) {
      self->reset_transport("still sending after a violation");
      return;
    }
  }
  // Lingering: read only so that nothing is left unread at the close (which would send RST); the loop-wide buffer
  // is reused, so however much the peer sends costs no memory (and is bounded by the linger time).
  if (self->lingering_) return;
  const Nanos now = monotonic_now();
  const Bytes in(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread));
  if (self->tls_) {
    // The loop-wide read buffer is ours until this callback returns: records are opened in place there.
    (void)self->tls_went_on(self->tls_->receive(
        MutableBytes(reinterpret_cast<std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)), now));
  } else {
    self->feed_core(in, now);
  }
  self->service(now);
  serve_ready(*self->ctx_.core, now);
}

// Plaintext to the core, all of it at once: the frames it routes are queued at their receivers and written out
// together when the read callback ends (one writev per receiver per read, not one per packet). The core stops
// early only when a receiver's queue is half full (Connection::receive_some); those receivers are written out
// then, before the rest is fed, so a large read for one receiver is not cut by its queue limit (reference §4.3:
// 32 packets) while its socket would take everything. Errors show in the phase, which service() follows.
void UvConnection::feed_core(Bytes in, Nanos now) {
  while (!in.empty() && !is_closing_phase(core_->phase())) {
    std::size_t used = 0;
    core_->receive_some(in, now, &used);
    in = in.subspan(used);
    if (in.empty() || used == 0) return;
    serve_ready(*ctx_.core, now);  // this connection included
    if (closing_) return;
  }
}

void UvConnection::deliver_plaintext(Bytes plaintext, Nanos now) {
  feed_core(plaintext, now);
  serve_ready(*ctx_.core, now);  // per record over TLS (see the header)
}

bool UvConnection::takes_plaintext() const { return !closing_ && !is_closing_phase(core_->phase()); }

bool UvConnection::tls_went_on(UvTlsPump::Outcome outcome) {
  switch (outcome) {
    case UvTlsPump::Outcome::kOk:
      return !closing_;
    case UvTlsPump::Outcome::kPeerClosed:
      tls_->send_best_effort(/*close_stream=*/false, monotonic_now());  // our answering close_notify
      close_transport("");                                              // the client's close_notify: same as EOF
      return false;
    case UvTlsPump::Outcome::kTlsError:
      fail_tls();
      return false;
    case UvTlsPump::Outcome::kSocketError:
      close_transport(uv_strerror(tls_->socket_error()));
      return false;
  }
  return false;
}

void UvConnection::fail_tls() {
  const int code = tls_->tls_error();
  const std::string detail = tls_->tls_error_detail();
  log(LogLevel::Info, std::string("TLS: ") + derp_strerror(code) + (detail.empty() ? "" : " (" + detail + ")"));
  tls_->send_best_effort(/*close_stream=*/false, monotonic_now());  // an alert may be waiting; it tells the peer why
  close_transport("");
}

// ---- writing ---------------------------------------------------------------------------------------------------

void UvConnection::service(Nanos now) {
  if (closing_ || core_ == nullptr) return;
  if (lingering_) {
    arm_timer(now);  // only the linger deadline is left to follow
    return;
  }
  if (core_->phase() == Phase::Closed && core_->closed_for_violation()) {
    reset_transport("");  // nothing to send; nothing more to read
    return;
  }
  if (core_->phase() == Phase::Closed && !tls_) {
    // Whatever the core discarded may be under a write in flight: close now, before libuv touches it again.
    // Without one, nothing of the core's is in libuv's hands and the close can be a clean one.
    if (write_in_flight_) {
      close_transport("");
    } else {
      linger(now);
    }
    return;
  }
  if (tls_) {
    flush_tls(now);
  } else {
    flush_plain(now);
  }
  if (closing_) return;
  const Phase phase = core_->phase();
  // One budget for the whole close: flushing the last bytes, then waiting for the peer's EOF.
  if (is_closing_phase(phase) && linger_deadline_ == server::kNever) linger_deadline_ = now + ctx_.close_linger;
  if (phase == Phase::Closed) {
    if (!tls_) {
      linger(now);  // flush_plain wrote everything: a Closed core has no output left
      return;
    }
    finish_tls(now);
    if (closing_ || lingering_) return;
  }
  arm_timer(now);
}

void UvConnection::flush_plain(Nanos now) {
  std::array<Bytes, kMaxViews> views;
  std::array<uv_buf_t, kMaxViews> bufs;
  while (!write_in_flight_ && core_->output_size() > 0) {
    std::size_t n = core_->output(views);
    std::size_t total = to_uv_bufs(views, n, &bufs);
    int written = uv_try_write(stream(), bufs.data(), static_cast<unsigned>(n));
    if (written == UV_EAGAIN) written = 0;
    if (written < 0) {
      close_transport(uv_strerror(written));
      return;
    }
    core_->output_written(static_cast<std::size_t>(written), now);
    if (static_cast<std::size_t>(written) == total) continue;
    // The socket is full: libuv writes the rest when it can. The core keeps these buffers unchanged until
    // output_written, so the views stay valid without a copy.
    n = core_->output(views);
    total = to_uv_bufs(views, n, &bufs);
    if (const int rc = uv_write(&write_req_, stream(), bufs.data(), static_cast<unsigned>(n), on_write); rc != 0) {
      close_transport(uv_strerror(rc));
      return;
    }
    write_in_flight_ = true;
    in_flight_bytes_ = total;
  }
}

// The TLS pump seals the core's output and writes it without copies (uv_tls_pump.hpp).
void UvConnection::flush_tls(Nanos now) { (void)tls_went_on(tls_->flush(now)); }

void UvConnection::tls_write_done(int status) {
  if (closing_) return;  // UV_ECANCELED from close_transport, or a write that ended as the handle closed
  if (status < 0) {
    close_transport(uv_strerror(status));
    return;
  }
  const Nanos now = monotonic_now();
  service(now);
  serve_ready(*ctx_.core, now);
}

// The core is done with a TLS connection: say close_notify (RFC 8446 §6.1), send it, then close. The peer need
// not answer with its own close_notify before we close (§6.1), so the close is the same lingering one as over
// plain TCP: what it still sends is discarded as ciphertext.
void UvConnection::finish_tls(Nanos now) {
  tls_->finish(now);
  if (!tls_went_on(tls_->flush(now))) return;
  if (tls_->drained()) linger(now);
}

// Every byte for the peer is written (or queued in libuv, which sends it before the FIN): half-close, then wait for
// the peer's EOF in on_read, for at most the rest of the linger time. Closing at once would send RST if any input
// were unread (RFC 1122 §4.2.2.13), and the peer could lose the last bytes we sent it.
void UvConnection::linger(Nanos now) {
  if (lingering_ || closing_) return;
  lingering_ = true;
  if (linger_deadline_ == server::kNever) linger_deadline_ = now + ctx_.close_linger;
  if (const int rc = uv_shutdown(&shutdown_req_, stream(), on_shutdown); rc != 0) {
    close_transport(uv_strerror(rc));  // e.g. not connected any more: nothing to wait for
    return;
  }
  arm_timer(now);
}

void UvConnection::on_shutdown(uv_shutdown_t* req, int status) {
  auto* self = static_cast<UvConnection*>(req->data);
  if (self->closing_) return;  // UV_ECANCELED: closed meanwhile (linger deadline, UvServer::close)
  // Success: the FIN is out and on_read waits for the peer's. A failure means the peer is gone already.
  if (status < 0) self->close_transport(uv_strerror(status));
}

void UvConnection::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<UvConnection*>(req->data);
  self->write_in_flight_ = false;
  if (self->closing_) return;  // UV_ECANCELED from close_transport, or a write that ended as the handle closed
  if (status < 0) {
    self->close_transport(uv_strerror(status));
    return;
  }
  const Nanos now = monotonic_now();
  self->core_->output_written(self->in_flight_bytes_, now);  // plain TCP: TLS writes end in tls_write_done
  self->in_flight_bytes_ = 0;
  self->service(now);
  serve_ready(*self->ctx_.core, now);
}

// ---- time ------------------------------------------------------------------------------------------------------

void UvConnection::arm_timer(Nanos now) {
  // A closing connection waits only for its last bytes, and not forever. (The core's own deadline is not used
  // then: it only tracks the write timeout, which close_linger bounds here.)
  const Nanos deadline = is_closing_phase(core_->phase()) ? linger_deadline_ : core_->deadline();
  if (deadline == armed_deadline_) return;  // the packet path re-services often; the timer is already right
  armed_deadline_ = deadline;
  if (deadline == server::kNever) {
    uv_timer_stop(&timer_);
  } else {
    uv_timer_start(&timer_, on_timer, millis_until(deadline, now), 0);
  }
}

void UvConnection::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<UvConnection*>(timer->data);
  self->armed_deadline_ = server::kNever;
  if (self->closing_ || self->core_ == nullptr) return;
  const Nanos now = monotonic_now();
  if (is_closing_phase(self->core_->phase()) || (self->tls_ && self->tls_->finishing())) {
    if (now >= self->linger_deadline_) {
      if (self->lingering_) {
        // Common enough (a peer that ignores our FIN), and harmless: everything was delivered.
        self->log(LogLevel::Debug, "the peer did not close within the linger time");
      } else {
        self->log(LogLevel::Info, "closing output did not drain within the linger time; dropping it");
      }
      self->close_transport("");
      return;
    }
  } else {
    self->core_->tick(now);
  }
  self->service(now);
  serve_ready(*self->ctx_.core, now);
}

// ---- closing ---------------------------------------------------------------------------------------------------

void UvConnection::close_transport(std::string_view why) {
  if (closing_) return;
  closing_ = true;
  if (!why.empty()) log(LogLevel::Debug, std::string("transport: ") + std::string(why));
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_handle_closed);
}

void UvConnection::reset_transport(std::string_view why) {
  if (closing_) return;
  // SO_LINGER with a zero timeout: close() sends RST and drops whatever is queued either way (RFC 793 ABORT).
  // Set by hand rather than uv_tcp_close_reset, which refuses a handle with a shutdown request pending.
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0) {
    const struct ::linger abort_now{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
  }
  close_transport(why.empty() ? std::string_view("reset after a violation") : why);
}

void UvConnection::on_handle_closed(uv_handle_t* handle) {
  auto* self = static_cast<UvConnection*>(handle->data);
  if (--self->handles_open_ > 0) return;
  self->ctx_.on_closed(self);  // frees self
}

}  // namespace derp::uv
