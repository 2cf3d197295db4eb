// Loopback test support for the libuv driver: a runner that serves a UvServer's loop on the test thread while a
// client runs on another, blocking sockets with timeouts, a TLS stream, and a tiny DERP client built on the frame
// codec. Client threads never use Catch2 macros (they are not thread-safe): they record, the test thread checks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <uv.h>

#include "common/bytes.hpp"
#include "crypto/node_key.hpp"
#include "derp/common.h"
#include "frame/frame_reader.hpp"
#include "frame/frame_types.hpp"
#include "tls/client_config.hpp"
#include "tls/session.hpp"
#include "uv/uv_server.hpp"

namespace derp::uvtest {

constexpr int kIoTimeoutMs = 5000;

// Runs `client` on its own thread while this thread runs the server's loop. Tasks the client posts run on the
// loop thread. When the client returns, the server is closed (a no-op if the client already stopped it) and the
// loop ends. A watchdog closes the server after limit_ms; the client's socket timeouts end the client.
class LoopRunner {
 public:
  explicit LoopRunner(uv::UvServer& server);
  // From the client thread: runs f on the loop thread, soon.
  void post(std::function<void()> f);
  // From the client thread: posts f and waits for it to have run.
  void call(std::function<void()> f);
  // Returns true when the client finished before the watchdog fired.
  bool run(const std::function<void(LoopRunner&)>& client, unsigned limit_ms = 20000);

 private:
  static void on_async(uv_async_t* async);
  uv::UvServer& server_;
  uv_async_t async_{};
  uv_timer_t watchdog_{};
  std::mutex mutex_;
  std::vector<std::function<void()>> tasks_;
  std::atomic<bool> client_done_{false};
  bool timed_out_ = false;
};

// A server key pair for tests, fresh each time.
crypto::NodePrivate fresh_key();
// Options for a loopback server: a fresh key, 127.0.0.1:0 for TCP, optional STUN on 127.0.0.1:0, log to a buffer.
uv::UvServerOptions loopback_options(bool with_stun = false);
// Whether this machine can bind UDP on ::1 (containers without IPv6 cannot): IPv6 cases skip, saying so, without it.
bool ipv6_loopback_available();

// A byte stream to the server: plain TCP or TLS over it.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual bool write_all(Bytes data) = 0;
  // > 0 bytes read; 0 at EOF; < 0 on error or timeout.
  virtual long read_some(MutableBytes out) = 0;
  // Reads until EOF or error; true for a clean EOF (or a reset) within the socket timeout.
  bool read_to_end(std::string* out);
};

class PlainStream : public Stream {
 public:
  // Connects with kIoTimeoutMs send/receive timeouts. fd() < 0 when the connect failed.
  explicit PlainStream(const derp_addr& to);
  ~PlainStream() override;
  int fd() const { return fd_; }
  bool write_all(Bytes data) override;
  long read_some(MutableBytes out) override;

 private:
  int fd_ = -1;
};

class TlsStream : public Stream {
 public:
  // TCP connect, then a TLS handshake pinned to cert_name ("sha256-raw:..."). ok() after the handshake.
  TlsStream(const derp_addr& to, const tls::ClientConfig& config, const std::string& cert_name);
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  bool write_all(Bytes data) override;
  long read_some(MutableBytes out) override;

 private:
  bool flush();
  bool pump_in();  // one socket read into the session
  PlainStream tcp_;
  std::unique_ptr<tls::Session> session_;
  std::vector<std::uint8_t> plain_;  // decrypted bytes not yet handed out
  bool ok_ = false;
  std::string error_;
};

struct Frame {
  std::uint8_t type = 0;
  std::vector<std::uint8_t> payload;
};

// A DERP client: the upgrade, ServerKey, ClientInfo, ServerInfo; then packets both ways.
class DerpClient {
 public:
  explicit DerpClient(Stream& stream);
  const crypto::NodePublic& public_key() const { return pub_; }
  const crypto::NodePublic& server_key() const { return server_key_; }
  const std::string& error() const { return error_; }
  // The whole handshake, up to and including the ServerInfo frame.
  bool handshake();
  bool send_packet(const crypto::NodePublic& to, const std::vector<std::uint8_t>& packet);
  // The next frame of any type.
  bool next_frame(Frame* out);
  // The next frame of `type`, skipping others (KeepAlive, PeerGone, ...).
  bool wait_frame(frame::FrameType type, Frame* out);
  // True once the server closed the stream (EOF or reset) after any frames still in flight.
  bool wait_closed();

 private:
  bool fail(std::string why);
  Stream& stream_;
  crypto::NodePrivate priv_;
  crypto::NodePublic pub_;
  crypto::NodePublic server_key_;
  std::vector<std::uint8_t> inbox_;
  frame::FrameReader reader_;
  std::string error_;
};

std::vector<std::uint8_t> test_packet(std::size_t n, std::uint8_t seed);
Bytes text_bytes(const std::string& s);
// One HTTP request on a fresh connection; the whole answer until the server closes.
std::string http_exchange(const derp_addr& to, const std::string& request);

}  // namespace derp::uvtest
