// The direct path on a libuv loop: one UDP socket that carries disco, data AND the STUN requests that find this
// node's public endpoint (so the NAT mapping STUN reports is the very one the peer reaches, as magicsock does),
// around the sans-IO PathCore (lib/path). UvClient owns one when UvClientOptions::direct.enabled; the DERP side
// (packets in and out) goes through the client's connection.
//
// Candidates: the STUN-discovered public ip:port first, then the addresses of the local interfaces with the
// socket's port (only the bound one when bound to a specific address; loopback only when nothing else exists),
// refreshed every 20-26 s (magicsock's re-STUN cadence, randomised), and at once when the first STUN answer comes.
// IPv4 only for now.
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <uv.h>

#include "common/bytes.hpp"
#include "common/time.hpp"
#include "crypto/node_key.hpp"
#include "derp/common.h"
#include "path/path_core.hpp"
#include "stun/constants.hpp"
#include "uv/uv_client_handles.hpp"

namespace derp::uv {

struct UvDirectOptions {
  bool enabled = false;
  // The UDP socket's address ("0.0.0.0:0": every interface, a kernel-chosen port).
  std::string udp_bind = "0.0.0.0:0";
  // The STUN server ("ip:port"). Empty: the DERP URL's host (when it is an IP literal) on port 3478.
  std::string stun_server;
  // The disco key; zero: a fresh one (magicsock makes a new one every start).
  crypto::NodePrivate disco_private;
  path::Options path;
  Nanos stun_refresh_min = 20 * kSecond;
  Nanos stun_refresh_max = 26 * kSecond;
  Nanos stun_retry = kSecond;  // until the first answer
};

class UvDirectPath {
 public:
  struct Host {
    // A DERP packet to send through the client's connection (dropped there while disconnected).
    std::function<void(const crypto::NodePublic& to, Bytes payload)> send_derp;
    std::function<void(const crypto::NodePublic& from, Bytes payload, path::Via via)> on_data;
    std::function<void(const path::Event& change)> on_path_changed;
    std::function<void(const std::string& line)> log;
  };

  // Binds the socket and starts STUN. DERP_OK; DERP_ERR_ADDRESS (udp_bind or stun_server); DERP_ERR_UV_LISTEN.
  static int create(uv_loop_t* loop, const UvDirectOptions& options, const std::optional<derp_addr>& stun_server,
                    const crypto::NodePrivate& node_private, Host host, std::unique_ptr<UvDirectPath>* out,
                    std::string* detail);
  ~UvDirectPath();
  UvDirectPath(const UvDirectPath&) = delete;
  UvDirectPath& operator=(const UvDirectPath&) = delete;

  // Data to a peer (added on first use): direct when trusted, else DERP.
  int send(const crypto::NodePublic& peer, Bytes payload);
  // A packet the DERP connection received.
  void receive_derp(const crypto::NodePublic& from, Bytes payload);
  // The peer's disco key, as a control plane would give it.
  int set_peer_disco(const crypto::NodePublic& peer, const crypto::NodePublic& disco);

  const derp_addr& bound() const { return bound_; }
  const std::optional<derp_addr>& public_endpoint() const { return stun_public_; }
  const path::PathCore& core() const { return *core_; }
  std::uint64_t udp_send_failures() const { return udp_send_failures_; }

  // Closes the socket and timers. Idempotent.
  void close();

 private:
  UvDirectPath(uv_loop_t* loop, UvDirectOptions options, Host host);
  int bind(std::string* detail);
  void flush();
  void arm();
  void send_stun();
  void refresh_endpoints();
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags);
  void received(Bytes datagram, const derp_addr& from);

  uv_loop_t* loop_;
  UvDirectOptions options_;
  Host host_;
  std::unique_ptr<path::PathCore> core_;
  uv_udp_t* udp_ = nullptr;  // heap: freed by its close callback
  derp_addr bound_{};
  std::optional<derp_addr> stun_server_;
  std::optional<derp_addr> stun_public_;
  stun::TransactionId stun_txid_{};
  bool stun_outstanding_ = false;
  TimerHandle core_timer_;
  TimerHandle stun_timer_;
  std::vector<std::uint8_t> read_buffer_;
  std::uint64_t udp_send_failures_ = 0;
  bool closed_ = false;
};

}  // namespace derp::uv
