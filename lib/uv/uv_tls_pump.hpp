// The TLS half of a connection's byte pump, one piece for both drivers: the server's UvConnection and the client's
// UvClientTransport. Ciphertext read from the socket goes into the session and the plaintext to the host's core;
// the core's output is sealed and written to the socket. The host keeps its plain-TCP path and its own reading,
// timers and closing; it hands the pump every read and calls flush() whenever its core may have output.
//
// No copies beyond the record layer's own (tls/session.hpp): once our record layer has taken over from mbedTLS,
// records are opened in place in the host's read buffer (which must be writable and the host's until receive()
// returns) and frames queued together are sealed into shared records of up to 16 KiB. What the socket does not
// take at once is written by one uv_write straight from the session's output buffer, held in place until that
// write ends (Session::hold_pending: later records queue behind it), so nothing is copied on EAGAIN either.
//
// The pump may have to outlive its host: a client transport can be destroyed while a write is in flight, and that
// write points into the session. retire() hands such a pump to its own write callback, which frees it.
// Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <uv.h>

#include "common/bytes.hpp"
#include "common/time.hpp"
#include "derp/common.h"
#include "tls/session.hpp"

namespace derp::uv {

class UvTlsPump {
 public:
  // What the pump needs of its host: the core's two sides and the end of a queued write.
  class Host {
   public:
    // False once the core or the transport is closing: the pump stops handing out plaintext.
    virtual bool takes_plaintext() const = 0;
    // Plaintext for the core. It may close the transport (takes_plaintext() then says so).
    virtual void deliver_plaintext(Bytes plaintext, Nanos now) = 0;
    // The core's pending output, oldest first, as up to views.size() views (0: nothing pending); the views stay put
    // until plaintext_taken.
    virtual std::size_t plaintext_output(std::span<Bytes> views) = 0;
    // The session took the first n bytes of those views.
    virtual void plaintext_taken(std::size_t n, Nanos now) = 0;
    // A write the pump queued has ended: 0, or a libuv error (UV_ECANCELED when the handle closed).
    virtual void tls_write_done(int status) = 0;

   protected:
    ~Host() = default;
  };

  enum class Outcome {
    kOk,
    kPeerClosed,   // the peer's close_notify arrived (our answer is queued: send_best_effort)
    kTlsError,     // the session failed: tls_error(), tls_error_detail(); an alert may be queued
    kSocketError,  // a write failed: socket_error()
  };

  // `plaintext_buffer`: where mbedTLS' record path (the handshake, and suites our record layer does not carry)
  // decrypts to, in the host's hands only during receive(); empty: the pump keeps its own 16 KiB during the
  // handshake and frees it once our record layer takes over.
  UvTlsPump(Host* host, uv_stream_t* stream, std::unique_ptr<tls::Session> session, MutableBytes plaintext_buffer);
  ~UvTlsPump();
  UvTlsPump(const UvTlsPump&) = delete;
  UvTlsPump& operator=(const UvTlsPump&) = delete;

  // Frees the pump now, or, with a write in flight, once that write's callback has run (the host is not called
  // any more). For a host that may go away before its socket's callbacks do.
  static void retire(std::unique_ptr<UvTlsPump> pump);

  // Bytes read from the socket: through the session to the host, until the input is used up or the host stops
  // taking plaintext.
  Outcome receive(MutableBytes ciphertext, Nanos now);

  // Moves the core's output into the session and writes the ciphertext: what the socket takes now, the rest as one
  // queued write (write_in_flight(); tls_write_done follows). Does nothing while a write is in flight.
  Outcome flush(Nanos now);
  bool write_in_flight() const { return write_in_flight_; }
  // Nothing waits to be written (no ciphertext pending, no write in flight).
  bool drained() const { return !write_in_flight_ && session_->pending_ciphertext().empty(); }

  // The end of the stream from our side: no more plaintext is taken from the core, and close_notify is queued
  // (when the handshake is done and the session healthy). flush() then writes it.
  void finish(Nanos now);
  bool finishing() const { return finishing_; }

  // Best effort, no waiting (the transport is about to close): with no write in flight, writes what the socket
  // takes now of the pending ciphertext (an alert, our close_notify). With `close_stream`, first the core's last
  // output and our close_notify are queued.
  void send_best_effort(bool close_stream, Nanos now);

  tls::Session& session() { return *session_; }
  const tls::Session& session() const { return *session_; }
  int socket_error() const { return socket_error_; }
  // Why the last kTlsError: the session's error, or the pump's own when the session could make no progress.
  int tls_error() const { return session_->error() != 0 ? session_->error() : stuck_error_; }
  std::string tls_error_detail() const;

 private:
  Outcome receive_records(MutableBytes in, Nanos now);
  Outcome receive_mbedtls(MutableBytes in, Nanos now);
  Outcome tls_outcome(int rc) const { return rc == DERP_ERR_TLS_CLOSED ? Outcome::kPeerClosed : Outcome::kTlsError; }
  // Feeds the core's output to the session while it accepts; *moved when some was taken.
  bool move_plaintext(Nanos now, bool* moved);
  // Writes pending ciphertext; true when all of it went out at once.
  bool send_ciphertext();
  static void on_write(uv_write_t* req, int status);

  Host* host_;  // null once retired
  uv_stream_t* stream_;
  std::unique_ptr<tls::Session> session_;
  MutableBytes plaintext_buffer_;
  std::unique_ptr<std::uint8_t[]> own_plaintext_;  // handshake only, when the host lends none
  uv_write_t write_req_{};
  std::size_t in_flight_bytes_ = 0;  // the front of the session's ciphertext, held until the write ends
  int socket_error_ = 0;
  int stuck_error_ = 0;
  bool write_in_flight_ = false;
  bool finishing_ = false;
};

}  // namespace derp::uv
