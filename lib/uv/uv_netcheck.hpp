// Runs one netcheck Planner (lib/netcheck) on a libuv loop: a UDP socket per family on an ephemeral port, host
// names resolved with uv_getaddrinfo, requests sent when the planner says, answers fed back, a timer on the
// planner's deadline. The run ends by itself (at the latest at options.timeout) and reports once.
//
//   UvNetcheck::start(loop, map, options, [](const netcheck::Report& r) { ... });
//   uv_run(loop, UV_RUN_DEFAULT);
//
// Lifetime: the run owns itself. on_done is called once, from the loop, after its sockets and timer are closed;
// the object frees itself once its last DNS request has come back as well (a lookup already running in libuv's
// thread pool cannot be cancelled, so a loop may run on until the resolver gives up). The pointer start() hands out
// is for stop() and planner(), and is valid until on_done returns.
//
// Thread-safety: none. start, stop and planner on the loop's thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include <uv.h>

#include "derpmap/derpmap.hpp"
#include "netcheck/options.hpp"
#include "netcheck/planner.hpp"
#include "netcheck/report.hpp"

namespace derp::uv {

class UvNetcheck {
 public:
  using OnDone = std::function<void(const netcheck::Report& report)>;

  // DERP_OK: the run has started (sockets open, lookups under way); on_done will be called. A family whose
  // socket cannot be opened is left out of the run rather than failing it. DERP_ERR_INVALID_ARGUMENT for a null
  // loop or an empty on_done, DERP_ERR_UV_LOOP when the timer cannot be created (then on_done is never called).
  static int start(uv_loop_t* loop, const derpmap::DerpMap& map, const netcheck::Options& options, OnDone on_done,
                   UvNetcheck** handle = nullptr);

  // Ends the run now; the report holds what was learnt so far. No-op once finished.
  void stop();
  const netcheck::Planner& planner() const { return planner_; }

  UvNetcheck(const UvNetcheck&) = delete;
  UvNetcheck& operator=(const UvNetcheck&) = delete;

 private:
  struct Socket {
    uv_udp_t udp{};
    bool open = false;
  };
  struct LookupRequest {
    uv_getaddrinfo_t req{};
    UvNetcheck* self = nullptr;
    std::size_t lookup = 0;  // index into planner_.lookups()
  };

  UvNetcheck(uv_loop_t* loop, const derpmap::DerpMap& map, const netcheck::Options& options, OnDone on_done);
  ~UvNetcheck() = default;

  void open_socket(netcheck::Family family, Socket* socket);
  void start_lookups();
  void pump();  // tick, send what is due, re-arm the timer or finish
  void send(const netcheck::Transmit& t);
  void finish();
  void handle_closed();
  void maybe_free();

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags);
  static void on_timer(uv_timer_t* timer);
  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result);

  uv_loop_t* loop_;
  netcheck::Planner planner_;
  OnDone on_done_;
  Socket v4_;
  Socket v6_;
  uv_timer_t timer_{};
  bool finished_ = false;
  bool reported_ = false;
  int open_handles_ = 0;
  std::vector<LookupRequest*> lookups_in_flight_;  // each freed by its own callback
  std::array<std::uint8_t, 64 * 1024> read_buffer_{};  // Go reads STUN into a 64 KiB buffer as well
};

// One whole run on a private loop of its own, on the calling thread: blocks until the report (at the latest
// options.timeout, plus whatever a DNS lookup already in libuv's thread pool takes to give up). The loop is closed
// before returning. DERP_OK with *report; UvNetcheck::start's errors; DERP_ERR_UV_LOOP (no loop);
// DERP_ERR_INTERNAL when the run ended without a report. Thread-safe (each call has its own loop).
int run_netcheck_on_private_loop(const derpmap::DerpMap& map, const netcheck::Options& options,
                                 netcheck::Report* report);

}  // namespace derp::uv
