#include "uv/uv_netcheck.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "uv/clock.hpp"
#include "uv/socket_address.hpp"

namespace derp::uv {

using netcheck::Family;

UvNetcheck::UvNetcheck(uv_loop_t* loop, const derpmap::DerpMap& map, const netcheck::Options& options,
                       OnDone on_done)
    : loop_(loop), planner_(map, options, monotonic_now()), on_done_(std::move(on_done)) {}

int UvNetcheck::start(uv_loop_t* loop, const derpmap::DerpMap& map, const netcheck::Options& options,
                      OnDone on_done, UvNetcheck** handle) {
  if (loop == nullptr || !on_done) return DERP_ERR_INVALID_ARGUMENT;
  auto* self = new UvNetcheck(loop, map, options, std::move(on_done));
  if (uv_timer_init(loop, &self->timer_) != 0) {
    delete self;
    return DERP_ERR_UV_LOOP;
  }
  self->timer_.data = self;
  self->open_handles_ = 1;
  if (options.ipv4) self->open_socket(Family::kIPv4, &self->v4_);
  if (options.ipv6) self->open_socket(Family::kIPv6, &self->v6_);
  if (handle != nullptr) *handle = self;
  self->start_lookups();
  self->pump();
  return DERP_OK;
}

void UvNetcheck::open_socket(Family family, Socket* socket) {
  const int af = family == Family::kIPv4 ? AF_INET : AF_INET6;
  if (uv_udp_init_ex(loop_, &socket->udp, static_cast<unsigned>(af)) != 0) {
    planner_.family_unavailable(family, monotonic_now());
    return;
  }
  socket->open = true;
  ++open_handles_;
  socket->udp.data = this;
  // An ephemeral port on the wildcard, like Go's netcheck (":0"). IPv6-only, so the IPv4 socket alone carries IPv4.
  sockaddr_storage sa;
  to_sockaddr(wildcard(family == Family::kIPv4 ? DERP_AF_INET : DERP_AF_INET6, 0), &sa);
  int rc = uv_udp_bind(&socket->udp, reinterpret_cast<const sockaddr*>(&sa),
                       family == Family::kIPv6 ? UV_UDP_IPV6ONLY : 0);
  if (rc == 0) rc = uv_udp_recv_start(&socket->udp, on_alloc, on_recv);
  if (rc != 0) planner_.family_unavailable(family, monotonic_now());  // the handle is closed in finish()
}

void UvNetcheck::start_lookups() {
  const std::vector<netcheck::Lookup>& lookups = planner_.lookups();
  for (std::size_t i = 0; i < lookups.size(); ++i) {
    auto* request = new LookupRequest;
    request->self = this;
    request->lookup = i;
    request->req.data = request;
    addrinfo hints{};
    hints.ai_family = lookups[i].family == Family::kIPv4 ? AF_INET : AF_INET6;
    hints.ai_socktype = SOCK_DGRAM;
    const int rc = uv_getaddrinfo(loop_, &request->req, on_resolved, lookups[i].host.c_str(), nullptr, &hints);
    if (rc != 0) {
      delete request;
      planner_.resolved(lookups[i].host, lookups[i].family, {}, monotonic_now());
      continue;
    }
    lookups_in_flight_.push_back(request);
  }
}

void UvNetcheck::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result) {
  auto* request = static_cast<LookupRequest*>(req->data);
  UvNetcheck* self = request->self;
  if (!self->finished_) {
    std::vector<derp_addr> addresses;
    if (status == 0) {
      for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
        const derp_addr a = from_sockaddr(ai->ai_addr);
        if (a.family != DERP_AF_NONE) addresses.push_back(a);
      }
    }
    const netcheck::Lookup& lookup = self->planner_.lookups()[request->lookup];
    self->planner_.resolved(lookup.host, lookup.family, addresses, monotonic_now());
  }
  uv_freeaddrinfo(result);
  std::erase(self->lookups_in_flight_, request);
  delete request;
  if (self->finished_) {
    self->maybe_free();
  } else {
    self->pump();
  }
}

void UvNetcheck::pump() {
  if (finished_) return;
  const Nanos now = monotonic_now();
  planner_.tick(now);
  netcheck::Transmit t;
  while (planner_.poll_transmit(now, &t)) send(t);
  if (planner_.done()) return finish();
  uv_timer_start(&timer_, on_timer, millis_until(planner_.deadline(), now), 0);
}

void UvNetcheck::send(const netcheck::Transmit& t) {
  Socket& socket = t.to.family == DERP_AF_INET6 ? v6_ : v4_;
  if (!socket.open) {
    planner_.send_failed(t.probe, monotonic_now());
    return;
  }
  sockaddr_storage to;
  to_sockaddr(t.to, &to);
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(const_cast<std::uint8_t*>(t.bytes.data())),
                             static_cast<unsigned>(t.bytes.size()));
  const int rc = uv_udp_try_send(&socket.udp, &buf, 1, reinterpret_cast<const sockaddr*>(&to));
  // A full socket buffer is a lost datagram (Go: neterror.TreatAsLostUDP); the next try may get through. Anything
  // else (no route, no address of this family) means this request will never be answered.
  if (rc < 0 && rc != UV_EAGAIN && rc != UV_ENOBUFS) planner_.send_failed(t.probe, monotonic_now());
}

void UvNetcheck::on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<UvNetcheck*>(handle->data);
  *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer_.data()),
                     static_cast<unsigned>(self->read_buffer_.size()));
}

void UvNetcheck::on_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from,
                         unsigned flags) {
  auto* self = static_cast<UvNetcheck*>(udp->data);
  // Errors on a UDP socket are transient (an ICMP error for an earlier request); an empty read means "no more".
  if (self->finished_ || nread <= 0 || from == nullptr || (flags & UV_UDP_PARTIAL) != 0) return;
  const Bytes datagram(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread));
  if (self->planner_.receive(datagram, from_sockaddr(from), monotonic_now())) self->pump();
}

void UvNetcheck::on_timer(uv_timer_t* timer) { static_cast<UvNetcheck*>(timer->data)->pump(); }

void UvNetcheck::stop() {
  if (finished_) return;
  finish();
}

void UvNetcheck::finish() {
  finished_ = true;
  for (Socket* s : {&v4_, &v6_}) {
    if (!s->open) continue;
    uv_udp_recv_stop(&s->udp);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->udp),
             [](uv_handle_t* h) { static_cast<UvNetcheck*>(h->data)->handle_closed(); });
  }
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
           [](uv_handle_t* h) { static_cast<UvNetcheck*>(h->data)->handle_closed(); });
  // Lookups still queued are cancelled (their callbacks run with UV_ECANCELED); one already running in the
  // thread pool cannot be, and finishes on its own.
  for (LookupRequest* r : lookups_in_flight_) uv_cancel(reinterpret_cast<uv_req_t*>(&r->req));
}

void UvNetcheck::handle_closed() {
  if (--open_handles_ > 0) return;
  if (!reported_) {
    reported_ = true;
    // Moved out first: nothing of this object is touched by on_done.
    OnDone done = std::move(on_done_);
    done(planner_.report());
  }
  maybe_free();
}

void UvNetcheck::maybe_free() {
  if (open_handles_ == 0 && reported_ && lookups_in_flight_.empty()) delete this;
}

int run_netcheck_on_private_loop(const derpmap::DerpMap& map, const netcheck::Options& options,
                                 netcheck::Report* report) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return DERP_ERR_UV_LOOP;
  bool reported = false;
  int rc = UvNetcheck::start(&loop, map, options, [&](const netcheck::Report& r) {
    *report = r;
    reported = true;
  });
  if (rc == DERP_OK) {
    uv_run(&loop, UV_RUN_DEFAULT);
    if (!reported) rc = DERP_ERR_INTERNAL;
  }
  // Everything of the run has closed itself once uv_run returns; a second pass settles any stray close callback.
  if (uv_loop_close(&loop) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  return rc;
}

}  // namespace derp::uv
