#include "uv/uv_direct_path.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include <netdb.h>

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

}  // namespace

struct UvDirectPath::StunLookup {
  uv_getaddrinfo_t req{};
  Socket* socket = nullptr;  // null once the socket closed
};

UvDirectPath::UvDirectPath(uv_loop_t* loop, UvDirectOptions options, Host host)
    : loop_(loop), options_(std::move(options)), host_(std::move(host)), read_buffer_(kReadBufferSize) {}

int UvDirectPath::create(uv_loop_t* loop, const UvDirectOptions& options, const std::optional<StunTarget>& default_stun,
                         const crypto::NodePrivate& node_private, Host host, std::unique_ptr<UvDirectPath>* out,
                         std::string* detail) {
  std::unique_ptr<UvDirectPath> d(new UvDirectPath(loop, options, std::move(host)));
  crypto::NodePrivate disco = options.disco_private;
  if (disco.is_zero()) {
    if (const int rc = crypto::generate_private(&disco); rc != DERP_OK) return rc;
  }
  d->core_ = std::make_unique<path::PathCore>(node_private, disco, options.path, random_bytes);
  if (const int rc = d->bind_all(detail); rc != DERP_OK) return rc;
  if (const int rc = d->assign_stun_targets(default_stun, detail); rc != DERP_OK) {
    d->close();
    return rc;
  }
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

// STUN goes from the socket of the server's family: the mapping it reports is that socket's. A name serves both
// sockets (each looks up its own family); stun_server6 takes the IPv6 socket's place.
int UvDirectPath::assign_stun_targets(const std::optional<StunTarget>& default_stun, std::string* detail) {
  std::optional<StunTarget> both = default_stun;
  if (!options_.stun_server.empty()) {
    StunTarget t;
    if (parse_stun_target(options_.stun_server, &t) != DERP_OK) {
      *detail = "the STUN server is not host:port: " + options_.stun_server;
      return DERP_ERR_ADDRESS;
    }
    both = t;
  }
  std::optional<StunTarget> six;
  if (!options_.stun_server6.empty()) {
    StunTarget t;
    if (parse_stun_target(options_.stun_server6, &t) != DERP_OK || (t.literal && t.literal->family != DERP_AF_INET6)) {
      *detail = "the IPv6 STUN server is not a name or [ipv6]:port: " + options_.stun_server6;
      return DERP_ERR_ADDRESS;
    }
    six = t;
  }
  const auto serves = [](const std::optional<StunTarget>& t, std::uint8_t family) {
    return t && (t->is_name() || t->literal->family == family);
  };
  if (serves(both, DERP_AF_INET)) v4_.stun_target = both;
  if (six) {
    v6_.stun_target = six;
  } else if (serves(both, DERP_AF_INET6)) {
    v6_.stun_target = both;
  }
  for (Socket* s : {&v4_, &v6_}) {
    if (!s->stun_target) continue;
    if (!s->open()) {
      // Kept for the log only when it is a literal nobody else can use.
      if (s->stun_target->literal && host_.log) {
        host_.log("direct: no UDP socket of the STUN server's family: " + format_stun_target(*s->stun_target));
      }
      s->stun_target.reset();
      continue;
    }
    if (s->stun_target->literal) s->stun_server = s->stun_target->literal;
  }
  return DERP_OK;
}

UvDirectPath::~UvDirectPath() { close(); }

const derp_addr* UvDirectPath::bound(std::uint8_t family) const {
  const Socket& s = family == DERP_AF_INET6 ? v6_ : v4_;
  return s.open() ? &s.bound : nullptr;
}

const derp_addr* UvDirectPath::public_endpoint(std::uint8_t family) const {
  const Socket& s = family == DERP_AF_INET6 ? v6_ : v4_;
  return s.open() && s.stun_public ? &*s.stun_public : nullptr;
}

const derp_addr* UvDirectPath::stun_server(std::uint8_t family) const {
  const Socket& s = family == DERP_AF_INET6 ? v6_ : v4_;
  return s.open() && s.stun_server ? &*s.stun_server : nullptr;
}

int UvDirectPath::bind_all(std::string* detail) {
  ListenAddress where;
  if (parse_listen_address(options_.udp_bind, &where) != DERP_OK) {
    *detail = "--udp-bind is not ip:port: " + options_.udp_bind;
    return DERP_ERR_ADDRESS;
  }
  const derp_addr first = where.any_host ? wildcard(DERP_AF_INET, where.addr.port) : where.addr;
  const bool v4_wildcard = first.family == DERP_AF_INET && std::memcmp(first.ip, "\0\0\0\0", 4) == 0;
  if (const int rc = bind(first.family == DERP_AF_INET6 ? &v6_ : &v4_, first, detail); rc != DERP_OK) return rc;
  if (first.family == DERP_AF_INET6 || options_.udp_bind6 == "off") return DERP_OK;
  if (!options_.udp_bind6.empty()) {
    ListenAddress six;
    if (parse_listen_address(options_.udp_bind6, &six) != DERP_OK ||
        (!six.any_host && six.addr.family != DERP_AF_INET6)) {
      *detail = "the IPv6 UDP bind is not [ipv6]:port: " + options_.udp_bind6;
      close();
      return DERP_ERR_ADDRESS;
    }
    const int rc = bind(&v6_, six.any_host ? wildcard(DERP_AF_INET6, six.addr.port) : six.addr, detail);
    if (rc != DERP_OK) close();
    return rc;
  }
  if (v4_wildcard) {
    // Implicit "[::]:0": a host without IPv6 runs on IPv4 alone.
    std::string why;
    if (bind(&v6_, wildcard(DERP_AF_INET6, 0), &why) != DERP_OK && host_.log) {
      host_.log("direct: IPv4 only (" + why + ")");
    }
  }
  return DERP_OK;
}

int UvDirectPath::bind(Socket* s, const derp_addr& addr, std::string* detail) {
  s->owner = this;
  s->udp = new uv_udp_t{};
  if (uv_udp_init(loop_, s->udp) != 0) {
    delete s->udp;
    s->udp = nullptr;
    *detail = "uv_udp_init failed";
    return DERP_ERR_UV_LOOP;
  }
  s->udp->data = s;
  sockaddr_storage ss{};
  to_sockaddr(addr, &ss);
  // IPV6ONLY: IPv4 has its own socket; a dual-stack one would take the IPv4 port space too.
  const unsigned flags = addr.family == DERP_AF_INET6 ? UV_UDP_IPV6ONLY : 0;
  if (const int rc = uv_udp_bind(s->udp, reinterpret_cast<const sockaddr*>(&ss), flags); rc != 0) {
    *detail = "cannot bind UDP " + format_addr(addr) + ": " + uv_strerror(rc);
    close_socket(s);
    return DERP_ERR_UV_LISTEN;
  }
  int len = sizeof ss;
  uv_udp_getsockname(s->udp, reinterpret_cast<sockaddr*>(&ss), &len);
  s->bound = from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
  if (const int rc = uv_udp_recv_start(s->udp, on_alloc, on_recv); rc != 0) {
    *detail = std::string("uv_udp_recv_start: ") + uv_strerror(rc);
    close_socket(s);
    return DERP_ERR_UV_LISTEN;
  }
  return DERP_OK;
}

void UvDirectPath::close_socket(Socket* s) {
  if (s->lookup != nullptr) {
    s->lookup->socket = nullptr;  // its callback frees it
    uv_cancel(reinterpret_cast<uv_req_t*>(&s->lookup->req));
    s->lookup = nullptr;
  }
  if (s->udp == nullptr) return;
  s->udp->data = nullptr;
  uv_udp_recv_stop(s->udp);
  uv_close(reinterpret_cast<uv_handle_t*>(s->udp), [](uv_handle_t* h) { delete reinterpret_cast<uv_udp_t*>(h); });
  s->udp = nullptr;
}

void UvDirectPath::close() {
  if (closed_) return;
  closed_ = true;
  core_timer_.close();
  stun_timer_.close();
  close_socket(&v4_);
  close_socket(&v6_);
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
    Socket* s = socket_for(u.to.family);
    if (!s->open() || (u.to.family != DERP_AF_INET && u.to.family != DERP_AF_INET6)) {
      ++udp_send_failures_;  // no socket of that family (e.g. an IPv6 candidate on an IPv4-only host)
      continue;
    }
    sockaddr_storage ss{};
    to_sockaddr(u.to, &ss);
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(u.bytes.data()), static_cast<unsigned>(u.bytes.size()));
    // try_send: no allocation and no callback; a full socket buffer drops the datagram, as UDP may anyway.
    if (uv_udp_try_send(s->udp, &buf, 1, reinterpret_cast<const sockaddr*>(&ss)) < 0) ++udp_send_failures_;
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
  send_stun(&v4_);
  send_stun(&v6_);
  if (any_stun_answer() || !any_stun_server()) {
    std::uint32_t spread = 0;
    random_bytes(MutableBytes(reinterpret_cast<std::uint8_t*>(&spread), sizeof spread));
    const Nanos range = options_.stun_refresh_max - options_.stun_refresh_min;
    next = options_.stun_refresh_min + (range == 0 ? 0 : spread % range);
    refresh_endpoints();  // the interfaces may have changed too
  }
  stun_timer_.start(next / kMillisecond, [this] { send_stun(); });
}

void UvDirectPath::send_stun(Socket* s) {
  if (!s->open() || !s->stun_target) return;
  if (s->stun_target->is_name()) {
    // Look the name up first; the request goes out when the answer comes. With a lookup still in flight from the
    // last round (a slow resolver), the last address that worked gets this round's request.
    if (s->lookup == nullptr) {
      start_lookup(s);
      return;
    }
  }
  send_stun_request(s);
}

void UvDirectPath::start_lookup(Socket* s) {
  auto* lookup = new StunLookup;
  lookup->socket = s;
  lookup->req.data = lookup;
  addrinfo hints{};
  hints.ai_family = s->bound.family == DERP_AF_INET6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  const int rc = uv_getaddrinfo(loop_, &lookup->req, on_resolved, s->stun_target->host.c_str(), nullptr, &hints);
  if (rc != 0) {
    delete lookup;
    if (host_.log) host_.log("direct: cannot look up the STUN server " + s->stun_target->host + ": " + uv_strerror(rc));
    send_stun_request(s);  // the last address that worked, if any
    return;
  }
  s->lookup = lookup;
}

void UvDirectPath::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result) {
  auto* lookup = static_cast<StunLookup*>(req->data);
  Socket* s = lookup->socket;
  std::optional<derp_addr> found;
  for (const addrinfo* ai = status == 0 ? result : nullptr; s != nullptr && ai != nullptr; ai = ai->ai_next) {
    derp_addr a = from_sockaddr(ai->ai_addr);
    if (a.family != s->bound.family) continue;
    a.port = s->stun_target->port;
    found = a;
    break;  // the first of the family, as netcheck's nodeAddr
  }
  uv_freeaddrinfo(result);
  delete lookup;
  if (s == nullptr) return;
  s->lookup = nullptr;
  UvDirectPath* self = s->owner;
  if (found) {
    if (self->host_.log && (!s->stun_server || !derp::operator==(*s->stun_server, *found) || s->lookup_failing)) {
      self->host_.log("direct: STUN server " + s->stun_target->host + " is " + format_addr(*found));
    }
    s->stun_server = found;
    s->lookup_failing = false;
  } else if (!s->lookup_failing) {
    s->lookup_failing = true;
    if (self->host_.log) {
      const char* kind = s->bound.family == DERP_AF_INET6 ? "AAAA" : "A";
      self->host_.log(std::string("direct: ") + kind + " lookup of the STUN server " + s->stun_target->host +
                      " failed: " + (status != 0 ? uv_strerror(status) : "no address of that family") +
                      (s->stun_server ? " (keeping " + format_addr(*s->stun_server) + ")" : ""));
    }
  }
  self->send_stun_request(s);
}

void UvDirectPath::send_stun_request(Socket* s) {
  if (closed_ || !s->open() || !s->stun_server) return;
  random_bytes(MutableBytes(s->stun_txid.data(), s->stun_txid.size()));
  std::uint8_t req[stun::kTailscaleRequestSize];
  std::size_t len = 0;
  stun::build_tailscale_request(s->stun_txid, MutableBytes(req, sizeof req), &len);
  sockaddr_storage ss{};
  to_sockaddr(*s->stun_server, &ss);
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(req), static_cast<unsigned>(len));
  if (uv_udp_try_send(s->udp, &buf, 1, reinterpret_cast<const sockaddr*>(&ss)) < 0) ++udp_send_failures_;
  s->stun_outstanding = true;
}

namespace {

bool is_zero_ip(const derp_addr& a) {
  static const std::uint8_t kZero[16] = {};
  return std::memcmp(a.ip, kZero, a.family == DERP_AF_INET6 ? 16 : 4) == 0;
}

bool is_loopback(const derp_addr& a) {
  static const std::uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return a.family == DERP_AF_INET ? a.ip[0] == 127 : std::memcmp(a.ip, kV6Loopback, 16) == 0;
}

// fe80::/10: needs a scope id to be reached, which no candidate carries.
bool is_link_local_v6(const derp_addr& a) { return a.ip[0] == 0xfe && (a.ip[1] & 0xc0) == 0x80; }

}  // namespace

void UvDirectPath::refresh_endpoints() {
  std::vector<derp_addr> endpoints;
  std::vector<derp_addr> loopback;
  for (const Socket* s : {&v4_, &v6_}) {
    if (s->open() && s->stun_public) endpoints.push_back(*s->stun_public);
  }
  uv_interface_address_t* ifs = nullptr;
  int count = 0;
  const bool listed = uv_interface_addresses(&ifs, &count) == 0;
  for (const Socket* s : {&v4_, &v6_}) {
    if (!s->open()) continue;
    if (!is_zero_ip(s->bound)) {
      (is_loopback(s->bound) ? loopback : endpoints).push_back(s->bound);
      continue;
    }
    const int af = s->bound.family == DERP_AF_INET6 ? AF_INET6 : AF_INET;
    for (int i = 0; listed && i < count; ++i) {
      if (ifs[i].address.address4.sin_family != af) continue;
      derp_addr a = from_sockaddr(reinterpret_cast<const sockaddr*>(&ifs[i].address));
      if (a.family != s->bound.family) continue;  // an IPv4-mapped address on the IPv6 list
      if (a.family == DERP_AF_INET6 && is_link_local_v6(a)) continue;
      a.port = s->bound.port;
      (ifs[i].is_internal || is_loopback(a) ? loopback : endpoints).push_back(a);
    }
  }
  if (listed) uv_free_interface_addresses(ifs, count);
  // magicsock uses loopback only when nothing else exists.
  if (endpoints.empty()) endpoints = loopback;
  core_->set_local_endpoints(endpoints, monotonic_now());
  flush();
}

void UvDirectPath::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* s = static_cast<Socket*>(handle->data);
  if (s == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  UvDirectPath* self = s->owner;
  *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer_.data()),
                     static_cast<unsigned>(self->read_buffer_.size()));
}

void UvDirectPath::on_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags) {
  auto* s = static_cast<Socket*>(udp->data);
  if (s == nullptr || nread <= 0 || from == nullptr || (flags & UV_UDP_PARTIAL) != 0) return;
  s->owner->received(s, Bytes(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)),
                 from_sockaddr(from));
}

void UvDirectPath::received(Socket* s, Bytes datagram, const derp_addr& from) {
  // magicsock's demultiplexer (§3): STUN first (ours to the STUN server), then disco and data for the core.
  if (stun::is_stun(datagram)) {
    stun::BindingResult r;
    if (s->stun_outstanding && stun::parse_binding_response(datagram, &r) == DERP_OK &&
        r.transaction_id == s->stun_txid && r.address.family == s->bound.family) {
      s->stun_outstanding = false;
      const bool first = !any_stun_answer();
      const bool changed = !s->stun_public || !derp::operator==(*s->stun_public, r.address);
      s->stun_public = r.address;
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
