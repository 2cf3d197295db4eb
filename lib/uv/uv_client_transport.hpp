// The byte pump of one client connection: a connected TCP socket (from UvDialer), TLS over it when asked, and the
// sans-IO ClientConnection on top (client/connection.hpp, "Host loop"). Reads go into the core (through TLS),
// the core's output goes out (through TLS), one timer follows the core's deadline.
//
// Loop thread only. The transport ends once: the core closed (its close_error says why), or the transport failed
// (TLS, a socket error); on_ended then runs with the reason, the socket is already closing, and the transport is
// inert. It may be destroyed at any time except from inside its own calls (retire it and free it later): handles
// and an in-flight write free themselves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <uv.h>

#include "client/connection.hpp"
#include "tls/client_config.hpp"
#include "tls/session.hpp"
#include "uv/uv_client_handles.hpp"
#include "uv/uv_tls_pump.hpp"

namespace derp::uv {

struct TransportSetup {
  uv_loop_t* loop = nullptr;
  uv_tcp_t* tcp = nullptr;                 // connected; the transport owns it from the constructor on
  const tls::ClientConfig* tls = nullptr;  // null: plain TCP
  tls::ClientTarget tls_target;
  client::ClientOptions options;
  client::ClientEvents* events = nullptr;  // the core's events; must outlive the transport
  std::function<void(int error, const std::string& detail)> on_ended;
};

class UvClientTransport final : private UvTlsPump::Host {
 public:
  explicit UvClientTransport(TransportSetup setup);
  ~UvClientTransport();
  UvClientTransport(const UvClientTransport&) = delete;
  UvClientTransport& operator=(const UvClientTransport&) = delete;

  // TLS session, core, reading. DERP_OK; otherwise the error (with *detail) and the transport is inert (on_ended
  // is not called).
  int start(Nanos now, std::string* detail);

  // Writes what the core and the TLS session have pending and re-arms the timer. Call after every command.
  void service(Nanos now);

  // Ends now without on_ended: best-effort write of what is pending (a WebSocket close, TLS close_notify), then the
  // socket closes. The core is closed (pending pings report DERP_ERR_CLOSED).
  void abort(Nanos now);

  client::ClientConnection* core() const { return core_.get(); }
  bool ended() const { return ended_; }

 private:
  struct WriteRequest;
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);

  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(tcp_); }
  void receive(MutableBytes in, Nanos now);
  void flush(Nanos now);
  // What the TLS pump reported; false when the transport ended.
  bool tls_went_on(UvTlsPump::Outcome outcome, Nanos now);
  // Plain TCP: writes the core's pending output (see WriteRequest). True when all of it went out; false when a
  // write is now in flight, there was nothing to write, or the transport ended.
  bool write_plain(Nanos now);
  void arm_timer(Nanos now);
  void end(int error, std::string detail, bool notify);
  void close_handles();

  // UvTlsPump::Host
  bool takes_plaintext() const override;
  void deliver_plaintext(Bytes plaintext, Nanos now) override { core_->receive(plaintext, now); }
  std::size_t plaintext_output(std::span<Bytes> views) override;
  void plaintext_taken(std::size_t n, Nanos now) override { core_->output_written(n, now); }
  void tls_write_done(int status) override;

  TransportSetup setup_;
  uv_tcp_t* tcp_;
  TimerHandle timer_;
  std::unique_ptr<UvTlsPump> tls_;  // TLS only; retired (not freed) while its write is in flight
  std::unique_ptr<client::ClientConnection> core_;
  std::vector<std::uint8_t> read_buffer_;
  WriteRequest* write_in_flight_ = nullptr;  // plain TCP
  Nanos armed_deadline_ = kNever;
  bool ended_ = false;
};

}  // namespace derp::uv
