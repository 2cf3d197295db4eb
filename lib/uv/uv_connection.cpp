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

// Views taken from the core per write: a burst of WireGuard-sized packets goes out in one writev.
constexpr std::size_t kMaxViews = 32;
// Reads are fed to the core in slices of this size, with the connections they made ready written out between
// slices. One 64 KiB read can hold ~60 packets of 1 KB for the same receiver, and the core's per-receiver queue
// holds 32 (reference §4.3): fed whole, the read would overflow that queue although the receiver's socket is
// free. 4 KiB holds at most 32 frames of 128 bytes (a 91-byte packet + key + header).
constexpr std::size_t kReceiveSlice = 4096;
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
    if (const int rc = tls::Session::create_server(*ctx_.tls, &tls_); rc != DERP_OK) {
      log(LogLevel::Warn, std::string("no TLS session: ") + derp_strerror(rc));
      close_transport("");
      return;
    }
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
    self->receive_tls(MutableBytes(reinterpret_cast<std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)), now);
  } else {
    self->feed_core(in, now);
  }
  self->service(now);
  serve_ready(*self->ctx_.core, now);
}

// Plaintext to the core, slice by slice (kReceiveSlice). Errors show in the phase, which service() follows.
void UvConnection::feed_core(Bytes in, Nanos now) {
  while (!in.empty() && !is_closing_phase(core_->phase())) {
    const std::size_t n = std::min(in.size(), kReceiveSlice);
    core_->receive(in.first(n), now);
    in = in.subspan(n);
    serve_ready(*ctx_.core, now);  // this connection included
    if (closing_) return;
  }
}

void UvConnection::receive_tls(MutableBytes in, Nanos now) {
  if (tls_->on_record_layer()) {
    receive_records(in, now);
    return;
  }
  const MutableBytes plain = ctx_.plaintext_buffer;
  for (;;) {
    std::size_t used = 0;
    if (!in.empty()) {
      if (const int rc = tls_->feed_ciphertext(in, &used); rc != DERP_OK) {
        fail_tls(rc);
        return;
      }
      in = in.subspan(used);
    }
    bool got_any = false;
    while (!closing_ && !is_closing_phase(core_->phase())) {
      std::size_t got = 0;
      const int rc = tls_->read_plaintext(plain, &got);
      if (rc == DERP_ERR_TLS_CLOSED) {
        send_pending_best_effort();  // our answering close_notify, when there is one
        close_transport("");         // the client's close_notify: same as EOF
        return;
      }
      if (rc != DERP_OK) {
        fail_tls(rc);
        return;
      }
      if (got == 0) break;
      got_any = true;
      feed_core(Bytes(plain.data(), got), now);
      if (closing_) return;
    }
    if (tls_->on_record_layer() && !closing_) {
      // The handshake ended inside this read: the rest of it goes the in-place way.
      receive_records(in, now);
      return;
    }
    if (in.empty() || closing_ || is_closing_phase(core_->phase())) return;
    if (used == 0 && !got_any) {
      // The session took nothing and gave nothing: it cannot make progress on this input.
      fail_tls(DERP_ERR_TLS_PROTOCOL);
      return;
    }
  }
}

// After our own record layer took over from mbedTLS (tls/session.hpp): each whole record in the read is opened in
// place and its plaintext goes to the core from where it lies, with no copy; only a record split across reads is
// buffered in the session.
void UvConnection::receive_records(MutableBytes in, Nanos now) {
  while (!closing_ && !is_closing_phase(core_->phase())) {
    std::size_t used = 0;
    MutableBytes plaintext;
    const int rc = tls_->open_next(in, &used, &plaintext);
    if (rc == DERP_ERR_TLS_CLOSED) {
      send_pending_best_effort();  // our answering close_notify
      close_transport("");
      return;
    }
    if (rc != DERP_OK) {
      fail_tls(rc);
      return;
    }
    in = in.subspan(used);
    if (!plaintext.empty()) feed_core(plaintext, now);
    if (used == 0 && plaintext.empty()) return;  // everything taken
  }
}

// Sends what the session holds (an alert, close_notify) if the socket takes it now; no waiting for it.
void UvConnection::send_pending_best_effort() {
  if (write_in_flight_) return;
  const Bytes alert = tls_->pending_ciphertext();
  if (alert.empty()) return;
  uv_buf_t b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(alert.data())),
                           static_cast<unsigned>(alert.size()));
  uv_try_write(stream(), &b, 1);
}

void UvConnection::fail_tls(int code) {
  const std::string& detail = tls_->error_detail();
  log(LogLevel::Info, std::string("TLS: ") + derp_strerror(code) + (detail.empty() ? "" : " (" + detail + ")"));
  send_pending_best_effort();  // an alert may be waiting; it helps the peer to see why
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

void UvConnection::flush_tls(Nanos now) {
  while (!write_in_flight_ && !closing_) {
    const bool moved = move_plaintext_into_tls(now);
    if (closing_) return;
    const bool sent_all = send_ciphertext();
    if (!sent_all || !moved) return;
  }
}

// Feeds core output to the session while it accepts; true when some was taken.
bool UvConnection::move_plaintext_into_tls(Nanos now) {
  if (!tls_->handshake_done() || tls_finishing_) return false;
  std::array<Bytes, kMaxViews> views;
  bool moved = false;
  while (core_->output_size() > 0) {
    const std::size_t n = core_->output(views);
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i) total += views[i].size();
    // Frames queued together share records (up to 16 KiB each) on our record layer.
    std::size_t accepted_total = 0;
    const int rc = tls_->write_gather(std::span<const Bytes>(views.data(), n), &accepted_total);
    const bool session_full = rc != DERP_OK || accepted_total < total;
    core_->output_written(accepted_total, now);
    if (rc != DERP_OK) {
      fail_tls(rc);
      return false;
    }
    if (accepted_total > 0) moved = true;
    if (session_full) break;
  }
  return moved;
}

// Sends the session's ciphertext: what the socket takes now, the rest as one write straight from the session's
// buffer, held in place until the write ends (Session::hold_pending: later records queue behind it), so nothing
// is copied on EAGAIN. True when everything went out at once.
bool UvConnection::send_ciphertext() {
  Bytes pending = tls_->pending_ciphertext();
  if (pending.empty()) return true;
  uv_buf_t b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(pending.data())),
                           static_cast<unsigned>(pending.size()));
  int written = uv_try_write(stream(), &b, 1);
  if (written == UV_EAGAIN) written = 0;
  if (written < 0) {
    close_transport(uv_strerror(written));
    return false;
  }
  tls_->consume_ciphertext(static_cast<std::size_t>(written));
  pending = tls_->pending_ciphertext();
  if (pending.empty()) return true;
  b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(pending.data())),
                  static_cast<unsigned>(pending.size()));
  if (const int rc = uv_write(&write_req_, stream(), &b, 1, on_write); rc != 0) {
    close_transport(uv_strerror(rc));
    return false;
  }
  tls_->hold_pending(true);
  write_in_flight_ = true;
  in_flight_bytes_ = pending.size();
  return false;
}

// The core is done with a TLS connection: say close_notify (RFC 8446 §6.1), send it, then close. The peer need
// not answer with its own close_notify before we close (§6.1), so the close is the same lingering one as over
// plain TCP: what it still sends is discarded as ciphertext.
void UvConnection::finish_tls(Nanos now) {
  if (!tls_finishing_) {
    tls_finishing_ = true;
    if (tls_->handshake_done() && tls_->error() == 0) tls_->close_notify();
  }
  if (!write_in_flight_ && !send_ciphertext()) return;
  if (!write_in_flight_ && !closing_) linger(now);
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
  if (!self->tls_) {
    self->core_->output_written(self->in_flight_bytes_, now);
  } else {
    self->tls_->consume_ciphertext(self->in_flight_bytes_);
    self->tls_->hold_pending(false);
  }
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
  if (is_closing_phase(self->core_->phase()) || self->tls_finishing_) {
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
