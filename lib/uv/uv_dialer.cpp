#include "uv/uv_dialer.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>

#include "common/address.hpp"
#include "uv/clock.hpp"
#include "uv/socket_address.hpp"

namespace derp::uv {

// One family of one node: resolve (unless the address is given), then connect to each address in turn until one
// answers. Lives on the heap and deletes itself once libuv has returned every request it started; owner_ is null
// once the dialer let go of it.
class DialAttempt {
 public:
  DialAttempt(UvDialer* owner, uv_loop_t* loop, int family, const DialNode& node)
      : owner_(owner), loop_(loop), family_(family), node_(node) {}

  void begin() {
    const derpmap::DialAddress& how = family_ == AF_INET ? node_.ipv4 : node_.ipv6;
    if (how.kind == derpmap::DialAddress::Kind::kAddress) {
      sockaddr_storage sa{};
      const int rc = family_ == AF_INET
                         ? uv_ip4_addr(how.ip.c_str(), node_.port, reinterpret_cast<sockaddr_in*>(&sa))
                         : uv_ip6_addr(how.ip.c_str(), node_.port, reinterpret_cast<sockaddr_in6*>(&sa));
      if (rc != 0) {
        fail_later(DERP_ERR_CONNECT, "node " + node_.name + ": \"" + how.ip + "\" is not an address");
        return;
      }
      addresses_.push_back(sa);
      connect_next();
      return;
    }
    addrinfo hints{};
    hints.ai_family = family_;
    hints.ai_socktype = SOCK_STREAM;
    gai_.data = this;
    const int rc = uv_getaddrinfo(loop_, &gai_, on_resolved, node_.host_name.c_str(), nullptr, &hints);
    if (rc != 0) {
      fail_later(DERP_ERR_DNS, "resolving " + node_.host_name + ": " + uv_strerror(rc));
      return;
    }
    gai_pending_ = true;
  }

  // The dialer lets go: stop what runs; memory goes when libuv is done.
  void detach() {
    owner_ = nullptr;
    if (gai_pending_) uv_cancel(reinterpret_cast<uv_req_t*>(&gai_));  // if it already runs, its callback comes
    if (tcp_ != nullptr) {
      close_tcp_handle(tcp_);  // a pending connect completes with UV_ECANCELED
      tcp_ = nullptr;
    }
    delete_if_idle();
  }

 private:
  const char* family_name() const { return family_ == AF_INET ? "IPv4" : "IPv6"; }

  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* self = static_cast<DialAttempt*>(req->data);
    self->gai_pending_ = false;
    if (self->owner_ == nullptr) {
      uv_freeaddrinfo(res);
      self->delete_if_idle();
      return;
    }
    if (status < 0) {
      uv_freeaddrinfo(res);
      self->finish(DERP_ERR_DNS, std::string(self->family_ == AF_INET ? "A" : "AAAA") + " lookup of " +
                                     self->node_.host_name + ": " + uv_strerror(status),
                   nullptr);
      return;
    }
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_family != self->family_) continue;
      sockaddr_storage sa{};
      std::memcpy(&sa, ai->ai_addr, std::min<std::size_t>(ai->ai_addrlen, sizeof sa));
      if (sa.ss_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&sa)->sin_port = htons(self->node_.port);
      } else {
        reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port = htons(self->node_.port);
      }
      self->addresses_.push_back(sa);
      if (self->addresses_.size() >= 8) break;  // enough to try within a node's 1.5 s
    }
    uv_freeaddrinfo(res);
    if (self->addresses_.empty()) {
      self->finish(DERP_ERR_DNS, std::string("no ") + self->family_name() + " address for " + self->node_.host_name,
                   nullptr);
      return;
    }
    self->connect_next();
  }

  void connect_next() {
    while (next_ < addresses_.size()) {
      const sockaddr_storage& sa = addresses_[next_++];
      current_ = from_sockaddr(reinterpret_cast<const sockaddr*>(&sa));
      tcp_ = new_tcp_handle(loop_);
      if (tcp_ == nullptr) {
        note_error(DERP_ERR_CONNECT, "connect to " + format_addr(current_) + ": cannot create a TCP handle");
        continue;
      }
      connect_req_.data = this;
      const int rc = uv_tcp_connect(&connect_req_, tcp_, reinterpret_cast<const sockaddr*>(&sa), on_connect);
      if (rc != 0) {
        note_error(DERP_ERR_CONNECT, "connect to " + format_addr(current_) + ": " + uv_strerror(rc));
        close_tcp_handle(tcp_);
        tcp_ = nullptr;
        continue;
      }
      connect_pending_ = true;
      return;
    }
    finish(error_, error_detail_, nullptr);
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto* self = static_cast<DialAttempt*>(req->data);
    self->connect_pending_ = false;
    if (self->owner_ == nullptr) {
      self->delete_if_idle();
      return;
    }
    if (status < 0) {
      self->note_error(DERP_ERR_CONNECT, "connect to " + format_addr(self->current_) + ": " + uv_strerror(status));
      close_tcp_handle(self->tcp_);
      self->tcp_ = nullptr;
      self->connect_next();
      return;
    }
    uv_tcp_t* won = self->tcp_;
    self->tcp_ = nullptr;
    self->finish(DERP_OK, "", won);
  }

  void note_error(int error, std::string detail) {
    if (error_ != DERP_OK) return;  // the first one says most (later addresses usually fail the same way)
    error_ = error;
    error_detail_ = std::move(detail);
  }

  // A failure found inside begin(): reported from the loop, so that the dialer's start() never calls back.
  void fail_later(int error, std::string detail) {
    note_error(error, std::move(detail));
    idle_.data = this;
    uv_idle_init(loop_, &idle_);
    idle_open_ = true;
    uv_idle_start(&idle_, [](uv_idle_t* idle) {
      auto* self = static_cast<DialAttempt*>(idle->data);
      uv_idle_stop(idle);
      self->close_idle();
      if (self->owner_ != nullptr) self->finish(self->error_, self->error_detail_, nullptr);
    });
  }

  void close_idle() {
    if (!idle_open_) return;
    idle_open_ = false;
    idle_closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_), [](uv_handle_t* h) {
      auto* self = static_cast<DialAttempt*>(h->data);
      self->idle_closing_ = false;
      self->delete_if_idle();
    });
  }

  // Reports to the dialer and frees this attempt (once nothing of libuv refers to it).
  void finish(int error, std::string detail, uv_tcp_t* tcp) {
    UvDialer* owner = owner_;
    owner_ = nullptr;
    const derp_addr remote = current_;
    if (owner != nullptr) {
      owner->attempt_finished(this, error, std::move(detail), tcp, remote);
    } else if (tcp != nullptr) {
      close_tcp_handle(tcp);
    }
    delete_if_idle();  // last: `this` may be gone after it
  }

  void delete_if_idle() {
    if (owner_ != nullptr || gai_pending_ || connect_pending_ || idle_closing_) return;
    if (idle_open_) {
      uv_idle_stop(&idle_);
      close_idle();
      return;
    }
    delete this;
  }

  UvDialer* owner_;
  uv_loop_t* loop_;
  int family_;
  DialNode node_;
  uv_getaddrinfo_t gai_{};
  bool gai_pending_ = false;
  uv_connect_t connect_req_{};
  bool connect_pending_ = false;
  uv_tcp_t* tcp_ = nullptr;
  uv_idle_t idle_{};
  bool idle_open_ = false;
  bool idle_closing_ = false;
  std::vector<sockaddr_storage> addresses_;
  std::size_t next_ = 0;
  derp_addr current_{};
  int error_ = DERP_OK;
  std::string error_detail_;
};

DialNode dial_node_for_host(const std::string& host, std::uint16_t port) {
  DialNode node;
  node.name = host;
  node.host_name = host;
  node.port = port;
  unsigned char buf[16];
  const derpmap::DialAddress off{derpmap::DialAddress::Kind::kDisabled, ""};
  const derpmap::DialAddress dns{derpmap::DialAddress::Kind::kUseDns, ""};
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) {
    node.ipv4 = {derpmap::DialAddress::Kind::kAddress, host};
    node.ipv6 = off;
  } else if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    node.ipv4 = off;
    node.ipv6 = {derpmap::DialAddress::Kind::kAddress, host};
  } else {
    node.ipv4 = dns;
    node.ipv6 = dns;
  }
  return node;
}

UvDialer::UvDialer(uv_loop_t* loop) : loop_(loop) {}

UvDialer::~UvDialer() {
  done_ = nullptr;
  detach_attempts();
}

void UvDialer::start(std::vector<DialNode> nodes, Nanos per_node_timeout, Done done) {
  cancel();
  nodes_ = std::move(nodes);
  node_ = 0;
  per_node_timeout_ = per_node_timeout;
  done_ = std::move(done);
  first_error_ = DERP_OK;
  first_detail_.clear();
  if (node_timer_.init(loop_) != 0) {
    // No timer, no dial: report it from the next round of the loop like any other failure.
    first_error_ = DERP_ERR_UV_LOOP;
    first_detail_ = "cannot create a timer";
    nodes_.clear();
  }
  if (nodes_.empty()) {
    if (first_error_ == DERP_OK) {
      first_error_ = DERP_ERR_CONNECT;
      first_detail_ = "no node to dial";
    }
    if (node_timer_.open()) {
      node_timer_.start(0, [this] { finish(DialResult{first_error_, first_detail_, nullptr, 0, {}}); });
    }
    return;
  }
  start_node();
}

void UvDialer::cancel() {
  done_ = nullptr;
  node_timer_.stop();
  detach_attempts();
}

void UvDialer::detach_attempts() {
  std::vector<DialAttempt*> attempts;
  attempts.swap(attempts_);
  for (DialAttempt* a : attempts) a->detach();
}

void UvDialer::start_node() {
  while (node_ < nodes_.size()) {
    const DialNode& node = nodes_[node_];
    const bool v4 = node.ipv4.kind != derpmap::DialAddress::Kind::kDisabled;
    const bool v6 = node.ipv6.kind != derpmap::DialAddress::Kind::kDisabled;
    if (!v4 && !v6) {
      if (first_error_ == DERP_OK) {
        first_error_ = DERP_ERR_CONNECT;
        first_detail_ = "node " + node.name + ": IPv4 and IPv6 are both disabled";
      }
      ++node_;
      continue;
    }
    // Both attempts are registered before either begins: a failure inside begin() is reported later anyway.
    std::vector<DialAttempt*> fresh;
    if (v4) fresh.push_back(new DialAttempt(this, loop_, AF_INET, node));
    if (v6) fresh.push_back(new DialAttempt(this, loop_, AF_INET6, node));
    attempts_ = fresh;
    node_timer_.start(millis_until(per_node_timeout_, 0), [this] { node_timed_out(); });
    for (DialAttempt* a : fresh) a->begin();
    return;
  }
  node_timer_.start(0, [this] { finish(DialResult{first_error_, first_detail_, nullptr, 0, {}}); });
}

void UvDialer::node_timed_out() {
  detach_attempts();
  fail_node(DERP_ERR_CONNECT, "node " + nodes_[node_].name + ": no TCP connection within " +
                                  std::to_string(per_node_timeout_ / kMillisecond) + " ms");
}

void UvDialer::fail_node(int error, std::string detail) {
  if (first_error_ == DERP_OK) {
    first_error_ = error;
    first_detail_ = std::move(detail);
  }
  ++node_;
  start_node();
}

void UvDialer::attempt_finished(const DialAttempt* attempt, int error, std::string detail, uv_tcp_t* tcp,
                                derp_addr remote) {
  const auto it = std::find(attempts_.begin(), attempts_.end(), attempt);
  if (it == attempts_.end() || !done_) {
    if (tcp != nullptr) close_tcp_handle(tcp);
    return;
  }
  attempts_.erase(it);
  if (tcp != nullptr) {
    node_timer_.stop();
    detach_attempts();  // the slower family loses; its socket is closed
    finish(DialResult{DERP_OK, "", tcp, node_, remote});
    return;
  }
  if (first_error_ == DERP_OK) {
    first_error_ = error;
    first_detail_ = detail;
  }
  if (attempts_.empty()) {
    node_timer_.stop();
    ++node_;
    start_node();
  }
}

void UvDialer::finish(DialResult result) {
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) {
    done(std::move(result));  // last: done may start() again or cancel
  } else if (result.tcp != nullptr) {
    close_tcp_handle(result.tcp);
  }
}

}  // namespace derp::uv
