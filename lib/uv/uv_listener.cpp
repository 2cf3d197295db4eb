#include "uv/uv_listener.hpp"

#include <sys/socket.h>

#include <utility>

#include "common/address.hpp"

namespace derp::uv {

int UvListener::open(uv_loop_t* loop, const ListenAddress& where, OnConnection on_connection,
                     std::unique_ptr<UvListener>* out, std::string* detail) {
  std::unique_ptr<UvListener> l(new UvListener(std::move(on_connection)));
  const int rc = l->bind_on(loop, where, detail);
  if (rc != DERP_OK) {
    if (l->initialised_) {
      UvListener* raw = l.release();
      raw->close([raw] { delete raw; });
    }
    return rc;
  }
  *out = std::move(l);
  return DERP_OK;
}

int UvListener::bind_on(uv_loop_t* loop, const ListenAddress& where, std::string* detail) {
  derp_addr addr = where.addr;
  int rc = 0;
  if (where.any_host) {
    // Go listens on "[::]:port" for ":port", which takes IPv4 too on a dual-stack host.
    addr = wildcard(DERP_AF_INET6, where.addr.port);
    rc = uv_tcp_init_ex(loop, &tcp_, AF_INET6);
    if (rc == UV_EAFNOSUPPORT) {
      addr = wildcard(DERP_AF_INET, where.addr.port);
      rc = uv_tcp_init_ex(loop, &tcp_, AF_INET);
    }
  } else {
    rc = uv_tcp_init_ex(loop, &tcp_, addr.family == DERP_AF_INET6 ? AF_INET6 : AF_INET);
  }
  if (rc != 0) {
    *detail = std::string("TCP socket: ") + uv_strerror(rc);
    return DERP_ERR_UV_LISTEN;
  }
  initialised_ = true;
  tcp_.data = this;
  sockaddr_storage sa;
  to_sockaddr(addr, &sa);
  // libuv sets SO_REUSEADDR on bind, so a restarted server can take its port back while old connections linger
  // in TIME_WAIT.
  rc = uv_tcp_bind(&tcp_, reinterpret_cast<const sockaddr*>(&sa), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), SOMAXCONN, [](uv_stream_t* server, int status) {
      auto* self = static_cast<UvListener*>(server->data);
      // A failed accept (ENFILE, ENOBUFS, ...) is not fatal to the listener; the next connection may succeed. The
      // owner counts it. (libuv answers EMFILE itself, by closing what waits in the backlog, without telling us:
      // UvServer keeps its connections under the descriptor limit so that this does not happen unseen.)
      self->on_connection_(server, status);
    });
  }
  if (rc != 0) {
    *detail = "TCP " + format_addr(addr) + ": " + uv_strerror(rc);
    return DERP_ERR_UV_LISTEN;
  }
  sockaddr_storage bound;
  int len = sizeof bound;
  bound_ = uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&bound), &len) == 0
               ? from_sockaddr(reinterpret_cast<const sockaddr*>(&bound))
               : addr;
  return DERP_OK;
}

void UvListener::close(std::function<void()> on_closed) {
  on_closed_ = std::move(on_closed);
  if (!initialised_) {
    std::function<void()> done = std::move(on_closed_);
    if (done) done();
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* handle) {
    auto* self = static_cast<UvListener*>(handle->data);
    std::function<void()> done = std::move(self->on_closed_);  // may destroy *self
    if (done) done();
  });
}

}  // namespace derp::uv
