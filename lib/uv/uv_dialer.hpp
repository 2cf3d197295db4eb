// TCP connections to a DERP server the way tailscale's derphttp client makes them (reference §5 "node choice";
// derp/derphttp/derphttp_client.go dialRegion/dialNode): nodes in order, each given a fixed time; within a node
// IPv4 (an address, or DNS A) and IPv6 (an address, or DNS AAAA) are dialled in parallel and the first TCP connect
// wins, the other attempt being closed. A family whose field is set but is not an IP of that family is off.
//
// Loop thread only. The dialer may be destroyed or cancelled at any time, also from inside its done callback:
// attempts in flight (a getaddrinfo on the threadpool, a connect) are detached and free themselves when libuv
// finishes with them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <uv.h>

#include "derpmap/derpmap.hpp"
#include "common/time.hpp"
#include "derp/common.h"
#include "uv/uv_client_handles.hpp"

namespace derp::uv {

// One server to dial: a DERPMap node, or the host of a URL (both families through DNS, or the one literal).
struct DialNode {
  std::string name;       // for messages
  std::string host_name;  // what DNS resolves for a kUseDns family
  derpmap::DialAddress ipv4;
  derpmap::DialAddress ipv6;
  std::uint16_t port = 443;
};

// A URL host as a DialNode: an IPv4 literal dials only IPv4, an IPv6 literal only IPv6, a name both through DNS.
DialNode dial_node_for_host(const std::string& host, std::uint16_t port);

struct DialResult {
  int error = DERP_OK;     // DERP_OK, DERP_ERR_DNS, DERP_ERR_CONNECT
  std::string detail;      // the first failure, for logs
  uv_tcp_t* tcp = nullptr; // on success: connected, owned by the receiver (close with close_tcp_handle)
  std::size_t node_index = 0;
  derp_addr remote{};      // the address that answered
};

class DialAttempt;

class UvDialer {
 public:
  using Done = std::function<void(DialResult)>;

  explicit UvDialer(uv_loop_t* loop);
  ~UvDialer();
  UvDialer(const UvDialer&) = delete;
  UvDialer& operator=(const UvDialer&) = delete;

  // Cancels any dial in progress, then dials nodes in order, each for at most per_node_timeout. done runs once,
  // later (never from inside start), unless cancelled first.
  void start(std::vector<DialNode> nodes, Nanos per_node_timeout, Done done);
  // Stops everything in progress; done is not called.
  void cancel();
  bool busy() const { return static_cast<bool>(done_); }

  // From a DialAttempt that finished (it has already freed itself: `attempt` is only an identity).
  void attempt_finished(const DialAttempt* attempt, int error, std::string detail, uv_tcp_t* tcp, derp_addr remote);

 private:
  void start_node();
  void node_timed_out();
  void detach_attempts();
  void fail_node(int error, std::string detail);
  void finish(DialResult result);

  uv_loop_t* loop_;
  std::vector<DialNode> nodes_;
  std::size_t node_ = 0;
  Nanos per_node_timeout_ = 0;
  Done done_;
  std::vector<DialAttempt*> attempts_;
  TimerHandle node_timer_;
  int first_error_ = DERP_OK;
  std::string first_detail_;
};

}  // namespace derp::uv
