#include "uv/uv_client_transport.hpp"

#include <algorithm>
#include <cstring>

#include "uv/clock.hpp"

namespace derp::uv {

namespace {

// One read's worth; the core copies what it keeps.
constexpr std::size_t kReadBuffer = 64 * 1024;

}  // namespace

// A plain-TCP write libuv finishes later: the bytes are the core's pending output, which stays put until
// output_written (called from the callback, plain_bytes of it), so nothing is copied; the socket closes before the
// core can go, and libuv touches no buffer of a closed socket. Freed by its callback; `owner` is null once the
// transport let go. (TLS writes are the pump's, uncopied.)
struct UvClientTransport::WriteRequest {
  uv_write_t req{};
  std::size_t plain_bytes = 0;
  UvClientTransport* owner = nullptr;
};

UvClientTransport::UvClientTransport(TransportSetup setup) : setup_(std::move(setup)), tcp_(setup_.tcp) {
  setup_.tcp = nullptr;
  if (tcp_ != nullptr) tcp_->data = this;
}

UvClientTransport::~UvClientTransport() {
  setup_.on_ended = nullptr;
  if (!ended_) end(DERP_OK, "", /*notify=*/false);
  close_handles();
  UvTlsPump::retire(std::move(tls_));  // a write in flight points into its session: it goes once that write ends
}

int UvClientTransport::start(Nanos now, std::string* detail) {
  if (tcp_ == nullptr || setup_.events == nullptr) {
    *detail = "no socket";
    end(DERP_ERR_INVALID_ARGUMENT, *detail, false);
    return DERP_ERR_INVALID_ARGUMENT;
  }
  // DERP carries interactive traffic: small frames must not wait for Nagle.
  uv_tcp_nodelay(tcp_, 1);
  if (const int rc = timer_.init(setup_.loop); rc != 0) {
    *detail = std::string("timer: ") + uv_strerror(rc);
    end(DERP_ERR_UV_LOOP, *detail, false);
    return DERP_ERR_UV_LOOP;
  }
  if (setup_.tls != nullptr) {
    std::unique_ptr<tls::Session> session;
    if (const int rc = tls::Session::create_client(*setup_.tls, setup_.tls_target, &session, detail); rc != DERP_OK) {
      end(rc, *detail, false);
      return rc;
    }
    // The pump keeps a plaintext buffer only for the handshake (our record layer opens records in place).
    tls_ = std::make_unique<UvTlsPump>(static_cast<UvTlsPump::Host*>(this), stream(), std::move(session), MutableBytes());
  }
  if (const int rc = client::ClientConnection::create(setup_.options, setup_.events, now, &core_); rc != DERP_OK) {
    *detail = std::string("client connection: ") + derp_strerror(rc);
    end(rc, *detail, false);
    return rc;
  }
  read_buffer_.resize(kReadBuffer);
  if (const int rc = uv_read_start(stream(), on_alloc, on_read); rc != 0) {
    *detail = std::string("read: ") + uv_strerror(rc);
    end(DERP_ERR_CONNECT, *detail, false);
    return DERP_ERR_CONNECT;
  }
  service(now);
  return DERP_OK;
}

// ---- reading ---------------------------------------------------------------------------------------------------

void UvClientTransport::on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<UvClientTransport*>(handle->data);
  if (self == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer_.data()),
                     static_cast<unsigned>(self->read_buffer_.size()));
}

void UvClientTransport::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<UvClientTransport*>(s->data);
  if (self == nullptr || self->ended_ || nread == 0) return;
  const Nanos now = monotonic_now();
  if (nread < 0) {
    if (nread == UV_EOF) {
      self->core_->receive_eof(now);  // the core closes with DERP_ERR_PEER_CLOSED and says in which phase
    } else {
      self->end(DERP_ERR_PEER_CLOSED, std::string("read: ") + uv_strerror(static_cast<int>(nread)), true);
      return;
    }
  } else {
    // read_buffer_ is ours: on our TLS record layer, records are opened in place there.
    const MutableBytes in(reinterpret_cast<std::uint8_t*>(buf->base), static_cast<std::size_t>(nread));
    self->receive(in, now);
  }
  self->service(now);
}

void UvClientTransport::receive(MutableBytes in, Nanos now) {
  if (tls_) {
    (void)tls_went_on(tls_->receive(in, now), now);
  } else {
    core_->receive(in, now);
  }
}

bool UvClientTransport::takes_plaintext() const { return !ended_ && core_->phase() != client::ClientPhase::Closed; }

std::size_t UvClientTransport::plaintext_output(std::span<Bytes> views) {
  const Bytes out = core_->pending_output();
  if (out.empty() || views.empty()) return 0;
  views[0] = out;
  return 1;
}

bool UvClientTransport::tls_went_on(UvTlsPump::Outcome outcome, Nanos now) {
  switch (outcome) {
    case UvTlsPump::Outcome::kOk:
      return !ended_;
    case UvTlsPump::Outcome::kPeerClosed:
      core_->receive_eof(now);  // close_notify: the server ended the stream cleanly
      return !ended_;
    case UvTlsPump::Outcome::kTlsError:
      end(tls_->tls_error(), "TLS: " + tls_->tls_error_detail(), true);
      return false;
    case UvTlsPump::Outcome::kSocketError:
      end(DERP_ERR_PEER_CLOSED, std::string("write: ") + uv_strerror(tls_->socket_error()), true);
      return false;
  }
  return false;
}

// ---- writing ---------------------------------------------------------------------------------------------------

void UvClientTransport::service(Nanos now) {
  if (ended_ || !core_) return;
  flush(now);
  if (ended_) return;
  if (core_->phase() == client::ClientPhase::Closed) {
    // Whatever the core still queued (a WebSocket close) went out above as far as the socket took it.
    end(core_->close_error(), core_->close_detail(), true);
    return;
  }
  arm_timer(now);
}

void UvClientTransport::flush(Nanos now) {
  if (tls_) {
    (void)tls_went_on(tls_->flush(now), now);
    return;
  }
  while (!ended_ && write_in_flight_ == nullptr) {
    if (!write_plain(now)) return;
  }
}

// Everything the core has pending, in one write: what the socket takes now, the rest as one queued write of the
// same bytes (no copy; see WriteRequest). True when all of it went out at once.
bool UvClientTransport::write_plain(Nanos now) {
  const Bytes out = core_->pending_output();
  if (out.empty()) return false;
  uv_buf_t b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(out.data())),
                           static_cast<unsigned>(out.size()));
  int written = uv_try_write(stream(), &b, 1);
  if (written == UV_EAGAIN) written = 0;
  if (written < 0) {
    end(DERP_ERR_PEER_CLOSED, std::string("write: ") + uv_strerror(written), true);
    return false;
  }
  core_->output_written(static_cast<std::size_t>(written), now);
  if (static_cast<std::size_t>(written) == out.size()) return true;
  const Bytes rest = core_->pending_output();  // the same bytes from where the socket stopped, pinned again
  auto* w = new WriteRequest;
  w->plain_bytes = rest.size();
  w->owner = this;
  w->req.data = w;
  b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(rest.data())), static_cast<unsigned>(rest.size()));
  if (const int rc = uv_write(&w->req, stream(), &b, 1, on_write); rc != 0) {
    delete w;
    end(DERP_ERR_PEER_CLOSED, std::string("write: ") + uv_strerror(rc), true);
    return false;
  }
  write_in_flight_ = w;
  return false;  // nothing more until the write completes
}

void UvClientTransport::on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteRequest*>(req->data);
  UvClientTransport* self = w->owner;
  const std::size_t plain_bytes = w->plain_bytes;
  delete w;
  if (self == nullptr) return;
  self->write_in_flight_ = nullptr;
  if (self->ended_) return;
  if (status < 0) {
    self->end(DERP_ERR_PEER_CLOSED, std::string("write: ") + uv_strerror(status), true);
    return;
  }
  const Nanos now = monotonic_now();
  if (plain_bytes > 0) self->core_->output_written(plain_bytes, now);
  self->service(now);
}

void UvClientTransport::tls_write_done(int status) {
  if (ended_) return;
  if (status < 0) {
    end(DERP_ERR_PEER_CLOSED, std::string("write: ") + uv_strerror(status), true);
    return;
  }
  service(monotonic_now());
}

// ---- time ------------------------------------------------------------------------------------------------------

void UvClientTransport::arm_timer(Nanos now) {
  const Nanos deadline = core_->deadline();
  if (deadline == armed_deadline_) return;
  armed_deadline_ = deadline;
  if (deadline == kNever) {
    timer_.stop();
    return;
  }
  timer_.start(millis_until(deadline, now), [this] {
    armed_deadline_ = kNever;
    if (ended_) return;
    const Nanos t = monotonic_now();
    core_->tick(t);
    service(t);
  });
}

// ---- ending ----------------------------------------------------------------------------------------------------

void UvClientTransport::abort(Nanos now) {
  if (ended_) return;
  if (core_ && core_->phase() != client::ClientPhase::Closed) core_->close(now);
  end(DERP_OK, "closed by the client", /*notify=*/false);
}

void UvClientTransport::end(int error, std::string detail, bool notify) {
  if (ended_) return;
  ended_ = true;
  const Nanos now = monotonic_now();
  // Best effort, no waiting: what is already queued (a WebSocket close frame, our close_notify) helps the server
  // see a clean close.
  if (tcp_ != nullptr && core_) {
    if (tls_) {
      tls_->send_best_effort(/*close_stream=*/true, now);
    } else if (write_in_flight_ == nullptr) {
      const Bytes pending = core_->pending_output();
      if (!pending.empty()) {
        uv_buf_t b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(pending.data())),
                                 static_cast<unsigned>(pending.size()));
        (void)uv_try_write(stream(), &b, 1);
      }
    }
  }
  close_handles();
  // The core learns it is over (pending pings report DERP_ERR_CLOSED); its on_closed is the driver's to ignore.
  if (core_ && core_->phase() != client::ClientPhase::Closed) core_->close(now);
  if (notify && setup_.on_ended) {
    const auto on_ended = setup_.on_ended;  // a copy: the owner may retire this transport from inside
    on_ended(error, detail);
  }
}

void UvClientTransport::close_handles() {
  if (write_in_flight_ != nullptr) {
    write_in_flight_->owner = nullptr;  // its callback (UV_ECANCELED) frees it
    write_in_flight_ = nullptr;
  }
  if (tcp_ != nullptr) {
    close_tcp_handle(tcp_);
    tcp_ = nullptr;
  }
  timer_.close();
}

}  // namespace derp::uv
