#include "uv/uv_client_transport.hpp"

#include <algorithm>
#include <cstring>

#include "uv/clock.hpp"

namespace derp::uv {

namespace {

// One read's worth; the core copies what it keeps.
constexpr std::size_t kReadBuffer = 64 * 1024;
// One TLS record's plaintext at most.
constexpr std::size_t kPlaintextBuffer = 16 * 1024;

}  // namespace

// A write of bytes the transport copied (the core's and the session's buffers move once consumed). Freed by its
// callback; `owner` is null once the transport let go.
struct UvClientTransport::WriteRequest {
  uv_write_t req{};
  std::vector<std::uint8_t> bytes;
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
    if (const int rc = tls::Session::create_client(*setup_.tls, setup_.tls_target, &tls_, detail); rc != DERP_OK) {
      end(rc, *detail, false);
      return rc;
    }
    plaintext_buffer_.resize(kPlaintextBuffer);
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
    receive_tls(in, now);
  } else {
    core_->receive(in, now);
  }
}

// On our record layer (tls/session.hpp): whole records open in place in the read buffer, no copy.
void UvClientTransport::receive_records(MutableBytes in, Nanos now) {
  while (!ended_ && core_->phase() != client::ClientPhase::Closed) {
    std::size_t used = 0;
    MutableBytes plaintext;
    const int rc = tls_->open_next(in, &used, &plaintext);
    if (rc == DERP_ERR_TLS_CLOSED) {
      core_->receive_eof(now);  // close_notify: the server ended the stream cleanly
      return;
    }
    if (rc != DERP_OK) {
      end(rc, "TLS: " + tls_->error_detail(), true);
      return;
    }
    in = in.subspan(used);
    if (!plaintext.empty()) core_->receive(plaintext, now);
    if (used == 0 && plaintext.empty()) return;
  }
}

void UvClientTransport::receive_tls(MutableBytes in, Nanos now) {
  if (tls_->on_record_layer()) {
    receive_records(in, now);
    return;
  }
  const MutableBytes plain(plaintext_buffer_);
  for (;;) {
    std::size_t used = 0;
    if (!in.empty()) {
      if (const int rc = tls_->feed_ciphertext(in, &used); rc != DERP_OK) {
        end(rc, "TLS: " + tls_->error_detail(), true);
        return;
      }
      in = in.subspan(used);
    }
    bool got_any = false;
    while (!ended_ && core_->phase() != client::ClientPhase::Closed) {
      std::size_t got = 0;
      const int rc = tls_->read_plaintext(plain, &got);
      if (rc == DERP_ERR_TLS_CLOSED) {
        core_->receive_eof(now);  // close_notify: the server ended the stream cleanly
        return;
      }
      if (rc != DERP_OK) {
        end(rc, "TLS: " + tls_->error_detail(), true);
        return;
      }
      if (got == 0) break;
      got_any = true;
      core_->receive(Bytes(plain.data(), got), now);
    }
    if (tls_->on_record_layer() && !ended_) {
      receive_records(in, now);  // the handshake ended inside this read
      return;
    }
    if (in.empty() || ended_ || core_->phase() == client::ClientPhase::Closed) return;
    if (used == 0 && !got_any) {
      // The session took nothing and gave nothing: it cannot make progress on this input.
      end(DERP_ERR_TLS_PROTOCOL, "TLS: the session accepts no more input", true);
      return;
    }
  }
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
  while (!ended_ && write_in_flight_ == nullptr) {
    bool moved = false;
    if (tls_) {
      moved = move_plaintext_into_tls(now);
      if (ended_) return;
      const Bytes cipher = tls_->pending_ciphertext();
      if (cipher.empty()) return;
      std::size_t taken = 0;
      const bool ok = write_bytes(cipher, &taken);
      tls_->consume_ciphertext(taken);
      if (!ok) return;
      if (!moved && tls_->pending_ciphertext().empty()) return;
    } else {
      const Bytes out = core_->pending_output();
      if (out.empty()) return;
      std::size_t taken = 0;
      const bool ok = write_bytes(out, &taken);
      core_->output_written(taken, now);
      if (!ok) return;
    }
  }
}

bool UvClientTransport::move_plaintext_into_tls(Nanos now) {
  if (!tls_->handshake_done() || tls_closed_by_us_) return false;
  bool moved = false;
  for (;;) {
    const Bytes out = core_->pending_output();
    if (out.empty()) break;
    std::size_t accepted = 0;
    const int rc = tls_->write_plaintext(out, &accepted);
    core_->output_written(accepted, now);
    if (rc != DERP_OK) {
      end(rc, "TLS: " + tls_->error_detail(), true);
      return false;
    }
    if (accepted == 0) break;  // the session's output is full: send it first
    moved = true;
  }
  return moved;
}

bool UvClientTransport::write_bytes(Bytes bytes, std::size_t* taken) {
  *taken = 0;
  if (bytes.empty()) return true;
  if (write_in_flight_ != nullptr) return false;
  uv_buf_t b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                           static_cast<unsigned>(bytes.size()));
  int written = uv_try_write(stream(), &b, 1);
  if (written == UV_EAGAIN) written = 0;
  if (written < 0) {
    end(DERP_ERR_PEER_CLOSED, std::string("write: ") + uv_strerror(written), true);
    return false;
  }
  *taken = static_cast<std::size_t>(written);
  if (*taken == bytes.size()) return true;
  // The socket is full: libuv sends the rest when it can. A copy, because the producer's buffer moves once it is
  // consumed; only one such write is ever in flight, so this is bounded by what one flush hands over.
  auto* w = new WriteRequest;
  w->bytes.assign(bytes.begin() + static_cast<std::ptrdiff_t>(*taken), bytes.end());
  w->owner = this;
  w->req.data = w;
  b = uv_buf_init(reinterpret_cast<char*>(w->bytes.data()), static_cast<unsigned>(w->bytes.size()));
  if (const int rc = uv_write(&w->req, stream(), &b, 1, on_write); rc != 0) {
    delete w;
    end(DERP_ERR_PEER_CLOSED, std::string("write: ") + uv_strerror(rc), true);
    return false;
  }
  write_in_flight_ = w;
  *taken = bytes.size();
  return false;  // nothing more until the write completes
}

void UvClientTransport::on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteRequest*>(req->data);
  UvClientTransport* self = w->owner;
  delete w;
  if (self == nullptr) return;
  self->write_in_flight_ = nullptr;
  if (self->ended_) return;
  if (status < 0) {
    self->end(DERP_ERR_PEER_CLOSED, std::string("write: ") + uv_strerror(status), true);
    return;
  }
  self->service(monotonic_now());
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
  if (tcp_ != nullptr && write_in_flight_ == nullptr && core_) {
    if (tls_ && tls_->handshake_done() && tls_->error() == 0) {
      if (core_->phase() == client::ClientPhase::Closed) (void)move_plaintext_into_tls(now);
      if (!tls_closed_by_us_) {
        tls_closed_by_us_ = true;
        (void)tls_->close_notify();
      }
    }
    const Bytes pending = tls_ ? tls_->pending_ciphertext() : core_->pending_output();
    if (!pending.empty()) {
      uv_buf_t b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(pending.data())),
                               static_cast<unsigned>(pending.size()));
      (void)uv_try_write(stream(), &b, 1);
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
