// One listening TCP socket. It knows nothing of DERP: each incoming connection is handed to on_connection, which
// accepts it (uv_accept) into a handle of its own; a failed accept comes with its libuv error (status < 0).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <uv.h>

#include "derp/common.h"
#include "uv/socket_address.hpp"

namespace derp::uv {

class UvListener {
 public:
  using OnConnection = std::function<void(uv_stream_t* listener, int status)>;

  // Binds and listens on `where` (the dual-stack IPv6 wildcard for an empty host, IPv4 where IPv6 is missing).
  // DERP_OK or DERP_ERR_UV_LISTEN with *detail.
  static int open(uv_loop_t* loop, const ListenAddress& where, OnConnection on_connection,
                  std::unique_ptr<UvListener>* out, std::string* detail);

  UvListener(const UvListener&) = delete;
  UvListener& operator=(const UvListener&) = delete;

  const derp_addr& address() const { return bound_; }

  // Stops listening; on_closed runs from the loop once the handle is released (the object may be destroyed there).
  void close(std::function<void()> on_closed);

 private:
  explicit UvListener(OnConnection on_connection) : on_connection_(std::move(on_connection)) {}
  int bind_on(uv_loop_t* loop, const ListenAddress& where, std::string* detail);

  uv_tcp_t tcp_{};
  bool initialised_ = false;
  derp_addr bound_{};
  OnConnection on_connection_;
  std::function<void()> on_closed_;
};

}  // namespace derp::uv
