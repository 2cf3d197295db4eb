// One accepted TCP connection bound to its sans-IO server Connection: reads go in (through TLS when configured),
// pending output goes out, one timer follows the core's deadline, and the transport is closed when the core says
// so (connection.hpp, "Host loop, per connection").
//
// Closing is a lingering close: once the last byte (and TLS close_notify) is written, the socket is half-closed
// (FIN) and input is read and discarded until the peer's EOF, an error or close_linger, and only then closed. A
// socket closed with unread input sends RST instead of FIN: our bytes not yet delivered (the Restarting frame of a
// shutdown, an HTTP answer) are dropped, the peer's read ends in ECONNRESET instead of EOF, and a peer that writes
// first gets the error before it reads what did arrive.
//
// A connection the core closed for a violation (closed_for_violation: a bad frame, a stalled reader, ...) is not
// lingered on: with nothing left to send it is reset at once (SO_LINGER 0), and one that still flushes an answer
// (a 400) reads and discards at most kMaxDrainAfterViolation bytes meanwhile, then is reset. A peer cannot make us
// read gigabytes after we have given up on it; graceful ends (shutdown, answered requests) keep the lingering close.
//
// Memory: an idle connection holds its two libuv handles, one embedded write request and the core's state; no read
// buffer (reads land in the loop-wide buffer of ConnectionContext, and the core copies what it keeps) and no write
// buffer (plain writes point into the core's output buffers, which stay put until output_written). A TLS connection
// adds its session: during the handshake mbedTLS' context; after it, on our record layer, only keys and sequence
// numbers (tls/session.hpp), plus the ciphertext not yet written (never copied for a write in flight).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <uv.h>

#include "common/bytes.hpp"
#include "server/server.hpp"
#include "tls/server_config.hpp"
#include "tls/session.hpp"
#include "uv/clock.hpp"
#include "uv/uv_tls_pump.hpp"

namespace derp::uv {

class UvConnection;

// What every connection of one UvServer shares. Owned by the UvServer; outlives its connections.
struct ConnectionContext {
  uv_loop_t* loop = nullptr;
  server::Server* core = nullptr;
  const tls::ServerConfig* tls = nullptr;  // null: plain TCP
  // Loop-wide buffers, used only between a libuv read callback's start and end (one callback runs at a time).
  MutableBytes read_buffer;
  MutableBytes plaintext_buffer;  // TLS only: decrypted bytes on their way to the core
  Nanos tcp_keepalive = 0;        // 0: off
  Nanos tcp_user_timeout = 0;     // 0: the kernel's default
  // How long a closing connection may take to flush its last bytes and then see the peer's EOF.
  Nanos close_linger = 0;
  // Both handles are closed: the owner removes the core connection and frees the UvConnection.
  std::function<void(UvConnection*)> on_closed;
  std::function<void(server::LogLevel, std::string_view)> log;
};

class UvConnection final : private UvTlsPump::Host {
 public:
  explicit UvConnection(ConnectionContext& context);
  UvConnection(const UvConnection&) = delete;
  UvConnection& operator=(const UvConnection&) = delete;

  // Initialises the handles and takes the pending connection from `listener`. A libuv error code (< 0) means the
  // caller must close_transport() and wait for on_closed.
  int accept_from(uv_stream_t* listener);
  // Socket options, the TLS session, the core connection, reading. Failures close the transport.
  void start(Nanos now);

  // Moves output, follows the core's phase, re-arms the timer. Called after every event on this connection and
  // for every connection Server::drain_ready hands out.
  void service(Nanos now);

  // Closes both handles (idempotent); on_closed follows from the loop.
  void close_transport(std::string_view why);
  // The same, but the TCP connection ends with RST (SO_LINGER 0): no FIN, no reading what the peer still sends.
  void reset_transport(std::string_view why);

  server::Connection* core() const { return core_; }
  bool closing() const { return closing_; }

 private:
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  void tune_socket();
  void log(server::LogLevel level, std::string_view text) const;

  void feed_core(Bytes plaintext, Nanos now);
  void fail_tls();
  // What the TLS pump reported: true when the connection goes on.
  bool tls_went_on(UvTlsPump::Outcome outcome);
  void flush_plain(Nanos now);
  void flush_tls(Nanos now);
  void finish_tls(Nanos now);
  void linger(Nanos now);
  void arm_timer(Nanos now);

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_timer(uv_timer_t* timer);
  static void on_handle_closed(uv_handle_t* handle);

  // UvTlsPump::Host
  bool takes_plaintext() const override;
  // Over TLS the receivers are still written out after every record, as before plain TCP's per-read coalescing:
  // a receiver's TLS output waits behind its in-flight write in the session (at most 64 KiB), and the larger,
  // rarer writes of per-read batching let a receiver that does not read fill that and lose packets sooner
  // (test "uv: TLS with a self-signed certificate..."). Coalescing TLS output per read is the TLS pump's to do.
  void deliver_plaintext(Bytes plaintext, Nanos now) override;
  std::size_t plaintext_output(std::span<Bytes> views) override { return core_->output(views); }
  void plaintext_taken(std::size_t n, Nanos now) override { core_->output_written(n, now); }
  void tls_write_done(int status) override;

  ConnectionContext& ctx_;
  server::Connection* core_ = nullptr;
  std::unique_ptr<UvTlsPump> tls_;  // TLS only
  derp_addr remote_{};

  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_write_t write_req_{};  // plain TCP only (the TLS pump has its own)
  uv_shutdown_t shutdown_req_{};
  // Core output the plain write in flight covers (output_written in its callback).
  std::size_t in_flight_bytes_ = 0;

  Nanos armed_deadline_ = server::kNever;
  Nanos linger_deadline_ = server::kNever;
  int handles_open_ = 0;
  bool write_in_flight_ = false;  // plain TCP
  bool closing_ = false;
  bool lingering_ = false;  // all output written, FIN sent or on its way: input is discarded until EOF
  std::size_t read_after_close_ = 0;  // bytes read and discarded since the core closed
};

// Services every connection the core marked ready (other connections' packets, closes from elsewhere, shutdown).
// Call after anything that fed the core.
void serve_ready(server::Server& core, Nanos now);

}  // namespace derp::uv
