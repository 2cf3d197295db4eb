#include "uv/uv_direct_path.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "common/address.hpp"
#include "crypto/sodium_init.hpp"
#include "stun/header.hpp"
#include "stun/tailscale.hpp"
#include "uv/clock.hpp"
#include "uv/socket_address.hpp"

namespace derp::uv {

namespace {

constexpr std::size_t kReadBufferSize = 65536 + 64;

void random_bytes(MutableBytes out) {
  crypto::ensure_sodium();
  randombytes_buf(out.data(), out.size());
}

bool is_loopback_v4(const derp_addr& a) { return a.family == DERP_AF_INET && a.ip[0] == 127; }

}  // namespace

UvDirectPath::UvDirectPath(uv_loop_t* loop, UvDirectOptions options, Host host)
    : loop_(loop), options_(std::move(options)), host_(std::move(host)), read_buffer_(kReadBufferSize) {}

int UvDirectPath::create(uv_loop_t* loop, const UvDirectOptions& options, const std::optional<derp_addr>& stun_server,
                         const crypto::NodePrivate& node_private, Host host, std::unique_ptr<UvDirectPath>* out,
                         std::string* detail) {
  std::unique_ptr<UvDirectPath> d(new UvDirectPath(loop, options, std::move(host)));
  d->stun_server_ = stun_server;
  crypto::NodePrivate disco = options.disco_private;
  if (disco.is_zero()) {
    if (const int rc = crypto::generate_private(&disco); rc != DERP_OK) return rc;
  }
  d->core_ = std::make_unique<path::PathCore>(node_private, disco, options.path, random_bytes);
  if (const int rc = d->bind(detail); rc != DERP_OK) return rc;
  if (d->core_timer_.init(loop) != 0 || d->stun_timer_.init(loop) != 0) {
    *detail = "cannot create the direct path's timers";
    d->close();
    return DERP_ERR_UV_LOOP;
  }
  d->refresh_endpoints();
  d->send_stun();
  *out = std::move(d);
  return DERP_OK;
}

UvDirectPath::~UvDirectPath() { close(); }

int UvDirectPath::bind(std::string* detail) {
  ListenAddress where;
  if (parse_listen_address(options_.udp_bind, &where) != DERP_OK) {
    *detail = "--udp-bind is not ip:port: " + options_.udp_bind;
    return DERP_ERR_ADDRESS;
  }
  derp_addr addr = where.any_host ? wildcard(DERP_AF_INET, where.addr.port) : where.addr;
  if (addr.family != DERP_AF_INET) {
    *detail = "the direct path is IPv4 only for now: " + options_.udp_bind;
    return DERP_ERR_ADDRESS;
  }
  udp_ = new uv_udp_t{};
  if (uv_udp_init(loop_, udp_) != 0) {
    delete udp_;
    udp_ = nullptr;
    *detail = "uv_udp_init failed";
    return DERP_ERR_UV_LOOP;
  }
  udp_->data = this;
  sockaddr_storage ss{};
  to_sockaddr(addr, &ss);
  if (const int rc = uv_udp_bind(udp_, reinterpret_cast<const sockaddr*>(&ss), 0); rc != 0) {
    *detail = "cannot bind UDP " + options_.udp_bind + ": " + uv_strerror(rc);
    close();
    return DERP_ERR_UV_LISTEN;
  }
  int len = sizeof ss;
  uv_udp_getsockname(udp_, reinterpret_cast<sockaddr*>(&ss), &len);
  bound_ = from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
  if (const int rc = uv_udp_recv_start(udp_, on_alloc, on_recv); rc != 0) {
    *detail = std::string("uv_udp_recv_start: ") + uv_strerror(rc);
    close();
    return DERP_ERR_UV_LISTEN;
  }
  return DERP_OK;
}

void UvDirectPath::close() {
  if (closed_) return;
  closed_ = true;
  core_timer_.close();
  stun_timer_.close();
  if (udp_ != nullptr) {
    udp_->data = nullptr;
    uv_udp_recv_stop(udp_);
    uv_close(reinterpret_cast<uv_handle_t*>(udp_), [](uv_handle_t* h) { delete reinterpret_cast<uv_udp_t*>(h); });
    udp_ = nullptr;
  }
}

int UvDirectPath::send(const crypto::NodePublic& peer, Bytes payload) {
  if (closed_) return DERP_ERR_CLOSED;
  if (const int rc = core_->add_peer(peer); rc != DERP_OK) return rc;
  const int rc = core_->send(peer, payload, monotonic_now());
  flush();
  return rc;
}

void UvDirectPath::receive_derp(const crypto::NodePublic& from, Bytes payload) {
  if (closed_) return;
  core_->receive_derp(from, payload, monotonic_now());
  flush();
}

int UvDirectPath::set_peer_disco(const crypto::NodePublic& peer, const crypto::NodePublic& disco) {
  const int rc = core_->set_peer_disco(peer, disco);
  flush();
  return rc;
}

void UvDirectPath::flush() {
  if (closed_) return;
  path::UdpOut u;
  while (core_->take_udp(&u)) {
    sockaddr_storage ss{};
    to_sockaddr(u.to, &ss);
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(u.bytes.data()), static_cast<unsigned>(u.bytes.size()));
    // try_send: no allocation and no callback; a full socket buffer drops the datagram, as UDP may anyway.
    if (uv_udp_try_send(udp_, &buf, 1, reinterpret_cast<const sockaddr*>(&ss)) < 0) ++udp_send_failures_;
  }
  path::DerpOut d;
  while (core_->take_derp(&d)) {
    if (host_.send_derp) host_.send_derp(d.to, d.bytes);
  }
  path::Event e;
  while (core_->take_event(&e)) {
    if (e.kind == path::Event::Kind::kData) {
      if (host_.on_data) host_.on_data(e.peer, e.data, e.via);
    } else if (host_.on_path_changed) {
      host_.on_path_changed(e);
    }
    if (closed_) return;  // a handler stopped the client
  }
  arm();
}

void UvDirectPath::arm() {
  if (closed_) return;
  const Nanos deadline = core_->next_deadline();
  if (deadline == kNever) {
    core_timer_.stop();
    return;
  }
  core_timer_.start(millis_until(deadline, monotonic_now()), [this] {
    core_->tick(monotonic_now());
    flush();
  });
}

void UvDirectPath::send_stun() {
  if (closed_) return;
  Nanos next = options_.stun_retry;
  if (stun_server_) {
    random_bytes(MutableBytes(stun_txid_.data(), stun_txid_.size()));
    std::uint8_t req[stun::kTailscaleRequestSize];
    std::size_t len = 0;
    stun::build_tailscale_request(stun_txid_, MutableBytes(req, sizeof req), &len);
    sockaddr_storage ss{};
    to_sockaddr(*stun_server_, &ss);
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(req), static_cast<unsigned>(len));
    if (uv_udp_try_send(udp_, &buf, 1, reinterpret_cast<const sockaddr*>(&ss)) < 0) ++udp_send_failures_;
    stun_outstanding_ = true;
  }
  if (stun_public_ || !stun_server_) {
    std::uint32_t spread = 0;
    random_bytes(MutableBytes(reinterpret_cast<std::uint8_t*>(&spread), sizeof spread));
    const Nanos range = options_.stun_refresh_max - options_.stun_refresh_min;
    next = options_.stun_refresh_min + (range == 0 ? 0 : spread % range);
    refresh_endpoints();  // the interfaces may have changed too
  }
  stun_timer_.start(next / kMillisecond, [this] { send_stun(); });
}

void UvDirectPath::refresh_endpoints() {
  std::vector<derp_addr> endpoints;
  if (stun_public_) endpoints.push_back(*stun_public_);
  const bool bound_any = bound_.family == DERP_AF_INET && std::memcmp(bound_.ip, "\0\0\0\0", 4) == 0;
  std::vector<derp_addr> loopback;
  if (!bound_any) {
    (is_loopback_v4(bound_) ? loopback : endpoints).push_back(bound_);
  } else {
    uv_interface_address_t* ifs = nullptr;
    int count = 0;
    if (uv_interface_addresses(&ifs, &count) == 0) {
      for (int i = 0; i < count; ++i) {
        if (ifs[i].address.address4.sin_family != AF_INET) continue;
        derp_addr a = from_sockaddr(reinterpret_cast<const sockaddr*>(&ifs[i].address.address4));
        a.port = bound_.port;
        (ifs[i].is_internal ? loopback : endpoints).push_back(a);
      }
      uv_free_interface_addresses(ifs, count);
    }
  }
  // magicsock uses loopback only when nothing else exists.
  if (endpoints.empty()) endpoints = loopback;
  core_->set_local_endpoints(endpoints, monotonic_now());
  flush();
}

void UvDirectPath::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<UvDirectPath*>(handle->data);
  if (self == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer_.data()),
                     static_cast<unsigned>(self->read_buffer_.size()));
}

void UvDirectPath::on_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags) {
  auto* self = static_cast<UvDirectPath*>(udp->data);
  if (self == nullptr || nread <= 0 || from == nullptr || (flags & UV_UDP_PARTIAL) != 0) return;
  self->received(Bytes(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)),
                 from_sockaddr(from));
}

void UvDirectPath::received(Bytes datagram, const derp_addr& from) {
  // magicsock's demultiplexer (§3): STUN first (ours to the STUN server), then disco and data for the core.
  if (stun::is_stun(datagram)) {
    stun::BindingResult r;
    if (stun_outstanding_ && stun::parse_binding_response(datagram, &r) == DERP_OK &&
        r.transaction_id == stun_txid_ && r.address.family == DERP_AF_INET) {
      stun_outstanding_ = false;
      const bool first = !stun_public_;
      const bool changed = !stun_public_ || !derp::operator==(*stun_public_, r.address);
      stun_public_ = r.address;
      if (changed) {
        if (host_.log) host_.log("direct: public endpoint " + format_addr(r.address));
        refresh_endpoints();
      }
      if (first) {
        // From now on, the periodic refresh: send_stun() reschedules itself at 20-26 s.
        stun_timer_.start(options_.stun_refresh_min / kMillisecond, [this] { send_stun(); });
      }
    }
    return;
  }
  core_->receive_udp(from, datagram, monotonic_now());
  flush();
}

}  // namespace derp::uv
