#include "uv/uv_tls_pump.hpp"

#include <array>
#include <new>

namespace derp::uv {

namespace {

// Views taken from the core per pass: a burst of WireGuard-sized frames shares records.
constexpr std::size_t kMaxViews = 32;
// One TLS record's plaintext at most (mbedTLS' record path hands out a record at a time).
constexpr std::size_t kOwnPlaintextBuffer = 16 * 1024;

uv_buf_t to_uv_buf(Bytes bytes) {
  return uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                     static_cast<unsigned>(bytes.size()));
}

}  // namespace

UvTlsPump::UvTlsPump(Host* host, uv_stream_t* stream, std::unique_ptr<tls::Session> session,
                     MutableBytes plaintext_buffer)
    : host_(host), stream_(stream), session_(std::move(session)), plaintext_buffer_(plaintext_buffer) {
  write_req_.data = this;
}

UvTlsPump::~UvTlsPump() = default;

void UvTlsPump::retire(std::unique_ptr<UvTlsPump> pump) {
  if (!pump) return;
  pump->host_ = nullptr;
  if (pump->write_in_flight_) (void)pump.release();  // on_write frees it (with UV_ECANCELED once the handle closes)
}

std::string UvTlsPump::tls_error_detail() const {
  if (session_->error() != 0) return session_->error_detail();
  return stuck_error_ != 0 ? "the session accepts no more input" : "";
}

// ---- reading ---------------------------------------------------------------------------------------------------

UvTlsPump::Outcome UvTlsPump::receive(MutableBytes in, Nanos now) {
  if (session_->on_record_layer()) return receive_records(in, now);
  return receive_mbedtls(in, now);
}

// On our record layer: each whole record of the read is opened in place and its plaintext goes to the core from
// where it lies; only a record split across reads is buffered in the session.
UvTlsPump::Outcome UvTlsPump::receive_records(MutableBytes in, Nanos now) {
  while (host_->takes_plaintext()) {
    std::size_t used = 0;
    MutableBytes plaintext;
    const int rc = session_->open_next(in, &used, &plaintext);
    if (rc != DERP_OK) return tls_outcome(rc);
    in = in.subspan(used);
    if (!plaintext.empty()) host_->deliver_plaintext(plaintext, now);
    if (used == 0 && plaintext.empty()) break;  // everything taken
  }
  return Outcome::kOk;
}

// The handshake, and the suites our record layer does not carry: mbedTLS reads from the session's buffer and
// decrypts into the plaintext buffer.
UvTlsPump::Outcome UvTlsPump::receive_mbedtls(MutableBytes in, Nanos now) {
  if (plaintext_buffer_.empty()) {
    own_plaintext_.reset(new (std::nothrow) std::uint8_t[kOwnPlaintextBuffer]);
    if (!own_plaintext_) {
      stuck_error_ = DERP_ERR_NO_MEMORY;
      return Outcome::kTlsError;
    }
    plaintext_buffer_ = MutableBytes(own_plaintext_.get(), kOwnPlaintextBuffer);
  }
  const MutableBytes plain = plaintext_buffer_;
  for (;;) {
    std::size_t used = 0;
    if (!in.empty()) {
      if (const int rc = session_->feed_ciphertext(in, &used); rc != DERP_OK) return tls_outcome(rc);
      in = in.subspan(used);
    }
    bool got_any = false;
    while (host_->takes_plaintext()) {
      std::size_t got = 0;
      if (const int rc = session_->read_plaintext(plain, &got); rc != DERP_OK) return tls_outcome(rc);
      if (got == 0) break;
      got_any = true;
      host_->deliver_plaintext(Bytes(plain.data(), got), now);
    }
    if (session_->on_record_layer()) {
      // The handshake ended inside this read: the rest goes the in-place way, and the handshake's buffer goes.
      if (own_plaintext_) {
        own_plaintext_.reset();
        plaintext_buffer_ = {};
      }
      return host_->takes_plaintext() ? receive_records(in, now) : Outcome::kOk;
    }
    if (in.empty() || !host_->takes_plaintext()) return Outcome::kOk;
    if (used == 0 && !got_any) {
      // The session took nothing and gave nothing: it cannot make progress on this input.
      stuck_error_ = DERP_ERR_TLS_PROTOCOL;
      return Outcome::kTlsError;
    }
  }
}

// ---- writing ---------------------------------------------------------------------------------------------------

UvTlsPump::Outcome UvTlsPump::flush(Nanos now) {
  while (!write_in_flight_) {
    bool moved = false;
    if (!move_plaintext(now, &moved)) return Outcome::kTlsError;
    const bool sent_all = send_ciphertext();
    if (socket_error_ != 0) return Outcome::kSocketError;
    if (!sent_all || !moved) break;
  }
  return Outcome::kOk;
}

bool UvTlsPump::move_plaintext(Nanos now, bool* moved) {
  *moved = false;
  if (!session_->handshake_done() || finishing_ || host_ == nullptr) return true;
  std::array<Bytes, kMaxViews> views;
  for (;;) {
    const std::size_t n = host_->plaintext_output(views);
    if (n == 0) return true;
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i) total += views[i].size();
    std::size_t accepted = 0;
    const int rc = session_->write_gather(std::span<const Bytes>(views.data(), n), &accepted);
    host_->plaintext_taken(accepted, now);
    if (rc != DERP_OK) return false;
    if (accepted > 0) *moved = true;
    if (accepted < total) return true;  // the session's output is full: send it first
  }
}

bool UvTlsPump::send_ciphertext() {
  if (write_in_flight_) return false;
  Bytes pending = session_->pending_ciphertext();
  if (pending.empty()) return true;
  uv_buf_t b = to_uv_buf(pending);
  int written = uv_try_write(stream_, &b, 1);
  if (written == UV_EAGAIN) written = 0;
  if (written < 0) {
    socket_error_ = written;
    return false;
  }
  session_->consume_ciphertext(static_cast<std::size_t>(written));
  pending = session_->pending_ciphertext();
  if (pending.empty()) return true;
  b = to_uv_buf(pending);
  if (const int rc = uv_write(&write_req_, stream_, &b, 1, on_write); rc != 0) {
    socket_error_ = rc;
    return false;
  }
  session_->hold_pending(true);
  write_in_flight_ = true;
  in_flight_bytes_ = pending.size();
  return false;
}

void UvTlsPump::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<UvTlsPump*>(req->data);
  self->write_in_flight_ = false;
  self->session_->consume_ciphertext(self->in_flight_bytes_);
  self->session_->hold_pending(false);
  self->in_flight_bytes_ = 0;
  if (self->host_ == nullptr) {
    delete self;  // retired while this write was in flight
    return;
  }
  self->host_->tls_write_done(status);
}

// ---- ending ----------------------------------------------------------------------------------------------------

void UvTlsPump::finish(Nanos now) {
  if (finishing_) return;
  bool moved = false;
  if (session_->error() == 0) (void)move_plaintext(now, &moved);  // the core's last words go before close_notify
  finishing_ = true;
  if (session_->handshake_done() && session_->error() == 0) (void)session_->close_notify();
}

void UvTlsPump::send_best_effort(bool close_stream, Nanos now) {
  if (write_in_flight_) return;
  if (close_stream) finish(now);
  const Bytes pending = session_->pending_ciphertext();
  if (pending.empty()) return;
  uv_buf_t b = to_uv_buf(pending);
  (void)uv_try_write(stream_, &b, 1);
}

}  // namespace derp::uv
