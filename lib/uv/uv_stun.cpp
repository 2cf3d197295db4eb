#include "uv/uv_stun.hpp"

#include <utility>

#include "common/address.hpp"

namespace derp::uv {

UvStunListener::UvStunListener(MutableBytes read_buffer, server::Counters* counters)
    : read_buffer_(read_buffer), counters_(counters) {}

int UvStunListener::open(uv_loop_t* loop, const ListenAddress& where, MutableBytes read_buffer,
                         server::Counters* counters, std::unique_ptr<UvStunListener>* out, std::string* detail) {
  std::unique_ptr<UvStunListener> l(new UvStunListener(read_buffer, counters));
  const int rc = l->bind_on(loop, where, detail);
  if (rc != DERP_OK) {
    // An initialised handle must be closed (asynchronously) before its memory goes.
    if (l->initialised_) {
      UvStunListener* raw = l.release();
      raw->close([raw] { delete raw; });
    }
    return rc;
  }
  *out = std::move(l);
  return DERP_OK;
}

int UvStunListener::bind_on(uv_loop_t* loop, const ListenAddress& where, std::string* detail) {
  derp_addr addr = where.addr;
  int rc = 0;
  if (where.any_host) {
    // One dual-stack socket for both families, like Go's "udp" listener on ":port"; IPv4 only where the host has
    // no IPv6. The responder un-maps ::ffff:a.b.c.d sources, so IPv4 clients still get IPv4 answers.
    addr = wildcard(DERP_AF_INET6, where.addr.port);
    rc = uv_udp_init_ex(loop, &udp_, AF_INET6);
    if (rc == UV_EAFNOSUPPORT) {
      addr = wildcard(DERP_AF_INET, where.addr.port);
      rc = uv_udp_init_ex(loop, &udp_, AF_INET);
    }
  } else {
    rc = uv_udp_init_ex(loop, &udp_, addr.family == DERP_AF_INET6 ? AF_INET6 : AF_INET);
  }
  if (rc != 0) {
    *detail = std::string("STUN socket: ") + uv_strerror(rc);
    return DERP_ERR_UV_LISTEN;
  }
  initialised_ = true;
  udp_.data = this;
  sockaddr_storage sa;
  to_sockaddr(addr, &sa);
  rc = uv_udp_bind(&udp_, reinterpret_cast<const sockaddr*>(&sa), 0);
  if (rc == 0) rc = uv_udp_recv_start(&udp_, on_alloc, on_recv);
  if (rc != 0) {
    *detail = "STUN on UDP " + format_addr(addr) + ": " + uv_strerror(rc);
    return DERP_ERR_UV_LISTEN;
  }
  sockaddr_storage bound;
  int len = sizeof bound;
  if (uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    // Keep the wildcard's family as asked (from_sockaddr would leave "::" alone anyway).
    bound_ = from_sockaddr(reinterpret_cast<const sockaddr*>(&bound));
  } else {
    bound_ = addr;
  }
  return DERP_OK;
}

void UvStunListener::close(std::function<void()> on_closed) {
  on_closed_ = std::move(on_closed);
  if (!initialised_) {
    std::function<void()> done = std::move(on_closed_);
    if (done) done();
    return;
  }
  uv_udp_recv_stop(&udp_);
  uv_close(reinterpret_cast<uv_handle_t*>(&udp_), [](uv_handle_t* handle) {
    auto* self = static_cast<UvStunListener*>(handle->data);
    // Moved out first: on_closed may destroy this object.
    std::function<void()> done = std::move(self->on_closed_);
    if (done) done();
  });
}

void UvStunListener::on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<UvStunListener*>(handle->data);
  *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer_.data()),
                     static_cast<unsigned>(self->read_buffer_.size()));
}

void UvStunListener::on_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from,
                             unsigned flags) {
  auto* self = static_cast<UvStunListener*>(udp->data);
  // nread == 0 with no address: nothing more to read now. Errors on a UDP socket are transient (an ICMP error
  // for an earlier answer): keep listening.
  if (nread <= 0 || from == nullptr) return;
  if ((flags & UV_UDP_PARTIAL) != 0) {
    // Larger than the 64 KiB buffer: no STUN request is that big.
    self->counters_->stun_not_stun++;
    return;
  }
  self->answer(Bytes(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)), from);
}

void UvStunListener::answer(Bytes datagram, const sockaddr* from) {
  const derp_addr source = from_sockaddr(from);
  std::uint8_t reply[stun::kMaxResponseSize];
  std::size_t length = 0;
  if (responder_.respond(datagram, source, MutableBytes(reply, sizeof reply), &length) != DERP_OK) {
    counters_->stun_not_stun++;
    return;
  }
  counters_->stun_requests++;
  if (source.family == DERP_AF_INET) {
    counters_->stun_ipv4++;
  } else {
    counters_->stun_ipv6++;
  }
  // A reply that does not fit the socket buffer right now is dropped: the client retries, as it would after any
  // UDP loss, and the server keeps no per-request state.
  uv_buf_t out = uv_buf_init(reinterpret_cast<char*>(reply), static_cast<unsigned>(length));
  uv_udp_try_send(&udp_, &out, 1, from);
}

}  // namespace derp::uv
