// The benchmark's DERP clients: many connections on one libuv loop in the parent process, each doing the real
// handshake (optionally over TLS) and then sending or counting packets. Built for load, not for features: one
// write in flight per connection, fast start (we know the server key), no ServerInfo parsing, no reconnects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "common/bytes.hpp"
#include "crypto/node_key.hpp"
#include "derp/common.h"
#include "frame/frame_reader.hpp"
#include "tls/client_config.hpp"
#include "tls/session.hpp"

namespace derp::bench {

class Fleet;
class ClientConn;

// The server every connection dials.
struct Target {
  derp_addr address{};
  crypto::NodePublic server_key;
  const tls::ClientConfig* tls = nullptr;  // null: plain TCP
  std::string cert_name;                   // the "sha256-raw:" pin when TLS
};

// What a benchmark scenario hears from its connections. Calls come from the loop thread.
class ClientEvents {
 public:
  virtual ~ClientEvents() = default;
  virtual void on_ready(ClientConn&) {}
  virtual void on_failed(ClientConn&, const std::string& /*why*/) {}
  // After a read that delivered one or more RecvPacket frames (counted in the connection).
  virtual void on_packets(ClientConn&) {}
  // The next bytes this connection should send, or empty. They must stay valid and unchanged until they are
  // written (the scenario keeps its send buffers for the whole run).
  virtual Bytes next_send(ClientConn&) { return {}; }
};

class ClientConn {
 public:
  ClientConn(Fleet& fleet, std::size_t index);
  ClientConn(const ClientConn&) = delete;
  ClientConn& operator=(const ClientConn&) = delete;

  // Key generation, ClientInfo sealing, TCP connect. Failures arrive as on_failed.
  void connect();
  // Sends what is pending or what next_send() offers, if no write is in flight.
  void pump();
  void close();

  std::size_t index() const { return index_; }
  const crypto::NodePublic& public_key() const { return public_key_; }
  bool ready() const { return ready_; }
  bool failed() const { return failed_; }
  // libuv no longer holds this connection's handle: it may be destroyed.
  bool released() const { return !handle_open_ || handle_closed_; }

  // What the scenario uses to place the connection (pair number, sender or receiver).
  std::size_t tag = 0;
  bool is_sender = false;

  std::uint64_t packets_received = 0;
  std::uint64_t bytes_received = 0;  // packet bytes, without the frame header and source key

 private:
  void fail(const std::string& why);
  void on_connected(int status);
  void on_bytes(Bytes in);
  void on_tls_bytes(Bytes in);
  bool on_plaintext(Bytes in);  // false: the connection failed
  void write_plain(Bytes data);
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);

  Fleet& fleet_;
  std::size_t index_;
  crypto::NodePrivate private_key_;
  crypto::NodePublic public_key_;
  uv_tcp_t tcp_{};
  uv_connect_t connect_req_{};
  uv_write_t write_req_{};
  std::unique_ptr<tls::Session> tls_;
  frame::FrameReader reader_;
  // The upgrade request and ClientInfo frame, sent first; then whatever next_send() gave and is not yet sent.
  std::vector<std::uint8_t> hello_;
  Bytes pending_;
  // TLS: the ciphertext of the write in flight (the session's own buffer moves once consumed).
  std::vector<std::uint8_t> cipher_out_;
  bool handle_open_ = false;
  bool handle_closed_ = false;
  bool writing_ = false;
  bool ready_ = false;
  bool failed_ = false;
  bool closing_ = false;
};

class Fleet {
 public:
  explicit Fleet(Target target);
  // Closes every connection and the loop.
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  void set_events(ClientEvents* events) { events_ = events; }
  // Adds n connections; at most `parallel` handshakes run at a time (more would overflow the listen backlog and
  // turn the benchmark into a SYN-retry test). Drive the loop with run_until to let them finish.
  void open(std::size_t n, std::size_t parallel);
  // Runs the loop until done() is true (checked at least every 10 ms) or timeout_s passes; true when done.
  bool run_until(const std::function<bool()>& done, double timeout_s);
  void run_for(double seconds) { run_until([] { return false; }, seconds); }
  // Closes every connection and waits for libuv to release their handles; conns() is empty afterwards.
  void close_all();

  std::vector<std::unique_ptr<ClientConn>>& conns() { return conns_; }
  std::size_t ready_count() const { return ready_count_; }
  std::size_t failed_count() const { return failed_count_; }   // before their handshake completed
  std::size_t lost_count() const { return lost_count_; }       // after it
  const std::string& first_error() const { return first_error_; }
  // Every connection opened so far has finished its handshake or failed.
  bool settled() const { return ready_count_ + failed_count_ == conns_.size(); }

  // For ClientConn.
  uv_loop_t* loop() { return &loop_; }
  const Target& target() const { return target_; }
  MutableBytes read_buffer() { return MutableBytes(read_buffer_); }
  MutableBytes plaintext_buffer() { return MutableBytes(plaintext_buffer_); }
  ClientEvents* events() { return events_; }
  void note_ready(ClientConn& c);
  void note_failed(ClientConn& c, const std::string& why);

 private:
  void start_more();

  Target target_;
  uv_loop_t loop_{};
  uv_timer_t tick_{};
  ClientEvents default_events_;
  ClientEvents* events_ = &default_events_;
  std::vector<std::unique_ptr<ClientConn>> conns_;
  std::size_t next_to_start_ = 0;
  std::size_t parallel_ = 1;
  std::size_t in_handshake_ = 0;
  std::size_t ready_count_ = 0;
  std::size_t failed_count_ = 0;
  std::size_t lost_count_ = 0;
  bool starting_ = false;
  std::string first_error_;
  // One read buffer and one plaintext buffer for every connection: one callback runs at a time and the frame
  // reader copies what it keeps, so 10,000 idle clients hold no buffers of their own.
  std::vector<std::uint8_t> read_buffer_;
  std::vector<std::uint8_t> plaintext_buffer_;
};

}  // namespace derp::bench
