// The STUN server on one UDP socket (reference §6.3, §6.5): every datagram goes to the stateless BindingResponder;
// answers go straight back to the sender, everything else is dropped and counted as not_stun, as derper counts it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <uv.h>

#include "common/bytes.hpp"
#include "derp/common.h"
#include "server/counters.hpp"
#include "stun/responder.hpp"
#include "uv/socket_address.hpp"

namespace derp::uv {

class UvStunListener {
 public:
  // Binds a UDP socket on `where` (the IPv6 wildcard when where.any_host, falling back to IPv4) and starts
  // answering. `read_buffer` is the loop-wide receive buffer (see UvServer); counters are the server core's.
  // DERP_OK or DERP_ERR_UV_LISTEN with *detail.
  static int open(uv_loop_t* loop, const ListenAddress& where, MutableBytes read_buffer, server::Counters* counters,
                  std::unique_ptr<UvStunListener>* out, std::string* detail);

  ~UvStunListener() = default;
  UvStunListener(const UvStunListener&) = delete;
  UvStunListener& operator=(const UvStunListener&) = delete;

  // The bound address (port filled in when 0 was asked for).
  const derp_addr& address() const { return bound_; }

  // Stops and closes the socket; on_closed runs from the loop once libuv has let go of the handle, after which the
  // object may be destroyed (from inside on_closed, too).
  void close(std::function<void()> on_closed);

 private:
  UvStunListener(MutableBytes read_buffer, server::Counters* counters);
  int bind_on(uv_loop_t* loop, const ListenAddress& where, std::string* detail);

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags);
  void answer(Bytes datagram, const sockaddr* from);

  uv_udp_t udp_{};
  bool initialised_ = false;
  MutableBytes read_buffer_;
  server::Counters* counters_;
  stun::BindingResponder responder_;
  derp_addr bound_{};
  std::function<void()> on_closed_;
};

}  // namespace derp::uv
