// The direct path on a libuv loop, around the sans-IO PathCore (lib/path): up to two UDP sockets, one IPv4 and one
// IPv6 (magicsock's pconn4/pconn6; two IPV6ONLY-separate sockets rather than one dual-stack socket, so each family
// has its own port and its own NAT mapping, and an IPv4-only or IPv6-only host just lacks one). Each socket carries
// disco, data AND the STUN requests to a server of its family that find this node's public endpoint (so the NAT
// mapping STUN reports is the very one the peer reaches, as magicsock does). A datagram leaves from the socket of
// its destination's family (none: dropped and counted in udp_send_failures). UvClient owns one when
// UvClientOptions::direct.enabled; the DERP side (packets in and out) goes through the client's connection.
//
// Candidates, per socket: the STUN-discovered public ip:port first, then the addresses of the local interfaces of
// the socket's family with the socket's port (only the bound one when bound to a specific address). IPv6: global
// and ULA addresses; link-local fe80::/10 is skipped, because it is unusable without the interface's scope id,
// which neither derp_addr nor CallMeMaybe carries. Loopback (127/8, ::1) only when no other candidate exists at
// all. Refreshed every 20-26 s (magicsock's re-STUN cadence, randomised), and at once when a STUN answer changes.
//
// The STUN server may be a DNS name: each socket looks it up for its own family (A for IPv4, AAAA for IPv6) with
// uv_getaddrinfo before each STUN round, as Tailscale's netcheck looks up a DERP node's host name per probe. At most
// one lookup per socket is in flight (a slow resolver delays that socket's round, it never piles up lookups); a
// failed lookup keeps the last address that worked, and the next round (1 s until the first answer, then 20-26 s)
// tries again.
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
#include "uv/stun_target.hpp"
#include "uv/uv_client_handles.hpp"

namespace derp::uv {

struct UvDirectOptions {
  bool enabled = false;
  // The IPv4 socket's address ("0.0.0.0:0": every interface, a kernel-chosen port). An IPv6 literal ("[::1]:0")
  // instead binds the IPv6 socket there and opens no IPv4 socket.
  std::string udp_bind = "0.0.0.0:0";
  // The IPv6 socket's address. Empty: "[::]:0" when udp_bind is the IPv4 wildcard (then a host without IPv6 just
  // runs IPv4-only), no IPv6 socket when udp_bind names an IPv4 address. "off": no IPv6 socket.
  std::string udp_bind6;
  // The STUN server: "host:port" with an IP literal or a DNS name (parse_stun_target: the port defaults to 3478).
  // An IPv4 literal serves the IPv4 socket, an IPv6 literal the IPv6 one, a name both (looked up per family).
  // Empty: the host of the DERP URL on port 3478 (create()'s default_stun).
  std::string stun_server;
  // The IPv6 socket's STUN server, in place of stun_server's for that socket: an IPv6 literal or a name.
  std::string stun_server6;
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

  // Binds the sockets and starts STUN: to options.stun_server/stun_server6, else to default_stun (the DERP URL's
  // host). DERP_OK; DERP_ERR_ADDRESS (udp_bind, udp_bind6, stun_server, stun_server6); DERP_ERR_UV_LISTEN.
  static int create(uv_loop_t* loop, const UvDirectOptions& options, const std::optional<StunTarget>& default_stun,
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

  // The IPv4 socket's address, else the IPv6 one's.
  const derp_addr& bound() const { return socket_for_query().bound; }
  const std::optional<derp_addr>& public_endpoint() const { return socket_for_query().stun_public; }
  // Per family (DERP_AF_INET / DERP_AF_INET6): nullptr when that socket is not open.
  const derp_addr* bound(std::uint8_t family) const;
  const derp_addr* public_endpoint(std::uint8_t family) const;
  // The address the socket of that family sends STUN to (a literal, or the last lookup of a name that worked);
  // nullptr when none (yet).
  const derp_addr* stun_server(std::uint8_t family) const;
  const path::PathCore& core() const { return *core_; }
  std::uint64_t udp_send_failures() const { return udp_send_failures_; }

  // Closes the socket and timers. Idempotent.
  void close();

 private:
  struct StunLookup;
  // One UDP socket of one family, with the STUN state that finds its public endpoint.
  struct Socket {
    UvDirectPath* owner = nullptr;
    uv_udp_t* udp = nullptr;  // heap: freed by its close callback
    derp_addr bound{};
    std::optional<StunTarget> stun_target;  // as configured (a name or a literal of this socket's family)
    std::optional<derp_addr> stun_server;   // the target's address: the literal, or the last lookup that worked
    StunLookup* lookup = nullptr;           // the lookup in flight (heap: freed by its callback)
    bool lookup_failing = false;            // the last lookup failed (logged once per failing spell)
    std::optional<derp_addr> stun_public;
    stun::TransactionId stun_txid{};
    bool stun_outstanding = false;
    bool open() const { return udp != nullptr; }
  };

  UvDirectPath(uv_loop_t* loop, UvDirectOptions options, Host host);
  int bind_all(std::string* detail);
  int bind(Socket* s, const derp_addr& addr, std::string* detail);
  const Socket& socket_for_query() const { return v4_.open() || !v6_.open() ? v4_ : v6_; }
  Socket* socket_for(std::uint8_t family) { return family == DERP_AF_INET6 ? &v6_ : &v4_; }
  void close_socket(Socket* s);
  void flush();
  void arm();
  void send_stun();
  void send_stun(Socket* s);
  bool any_stun_answer() const { return v4_.stun_public.has_value() || v6_.stun_public.has_value(); }
  bool any_stun_server() const { return v4_.stun_target.has_value() || v6_.stun_target.has_value(); }
  int assign_stun_targets(const std::optional<StunTarget>& default_stun, std::string* detail);
  void start_lookup(Socket* s);
  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result);
  void send_stun_request(Socket* s);
  void refresh_endpoints();
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags);
  void received(Socket* s, Bytes datagram, const derp_addr& from);

  uv_loop_t* loop_;
  UvDirectOptions options_;
  Host host_;
  std::unique_ptr<path::PathCore> core_;
  Socket v4_;
  Socket v6_;
  TimerHandle core_timer_;
  TimerHandle stun_timer_;
  std::vector<std::uint8_t> read_buffer_;
  std::uint64_t udp_send_failures_ = 0;
  bool closed_ = false;
};

}  // namespace derp::uv
