// The netcheck runner on a real libuv loop over loopback UDP (lib/uv/uv_netcheck): two STUN servers (127.0.0.1 and
// 127.0.0.2) behind a small NAT written here. In EASY mode the NAT sends to both servers from one outbound socket
// (one mapping for every destination); in HARD mode from one outbound socket per server (the mapping varies by
// destination IP). The run must tell the two apart and report the NAT's outbound address as the public one. Also:
// an unanswering server ends in a timeout, and the C API runs the same thing on a private loop.
#include <catch2/catch.hpp>

#include <uv.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "derpmap/derpmap.hpp"
#include "common/address.hpp"
#include "derp/netcheck.h"
#include "netcheck/report.hpp"
#include "stun/responder.hpp"
#include "uv/socket_address.hpp"
#include "uv/uv_netcheck.hpp"

using namespace derp;

namespace {

// A UDP socket on the loop with a callback per datagram. Closed with close(); the owner keeps it alive until then.
class UdpSocket {
 public:
  using OnDatagram = std::function<void(Bytes, const derp_addr& from)>;

  bool open(uv_loop_t* loop, const char* ip, OnDatagram on_datagram) {
    on_datagram_ = std::move(on_datagram);
    if (uv_udp_init(loop, &udp_) != 0) return false;
    initialised_ = true;
    udp_.data = this;
    sockaddr_in sa{};
    if (uv_ip4_addr(ip, 0, &sa) != 0) return false;
    if (uv_udp_bind(&udp_, reinterpret_cast<const sockaddr*>(&sa), 0) != 0) return false;
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&bound), &len);
    address_ = uv::from_sockaddr(reinterpret_cast<const sockaddr*>(&bound));
    return uv_udp_recv_start(&udp_, on_alloc, on_recv) == 0;
  }
  void send(Bytes data, const derp_addr& to) {
    sockaddr_storage sa;
    uv::to_sockaddr(to, &sa);
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(const_cast<std::uint8_t*>(data.data())),
                               static_cast<unsigned>(data.size()));
    uv_udp_try_send(&udp_, &buf, 1, reinterpret_cast<const sockaddr*>(&sa));
  }
  void close() {
    if (!initialised_ || closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
  }
  const derp_addr& address() const { return address_; }

 private:
  static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* self = static_cast<UdpSocket*>(h->data);
    *buf = uv_buf_init(reinterpret_cast<char*>(self->buffer_), sizeof self->buffer_);
  }
  static void on_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned) {
    auto* self = static_cast<UdpSocket*>(udp->data);
    if (nread <= 0 || from == nullptr || !self->on_datagram_) return;
    self->on_datagram_(Bytes(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)),
                       uv::from_sockaddr(from));
  }
  uv_udp_t udp_{};
  bool initialised_ = false;
  bool closing_ = false;
  derp_addr address_{};
  OnDatagram on_datagram_;
  std::uint8_t buffer_[2048];
};

// A STUN server: lib/stun's stateless responder on a socket.
struct StunServer {
  UdpSocket socket;
  stun::BindingResponder responder;
  int answered = 0;
  bool open(uv_loop_t* loop, const char* ip) {
    return socket.open(loop, ip, [this](Bytes request, const derp_addr& from) {
      std::uint8_t reply[stun::kMaxResponseSize];
      std::size_t len = 0;
      if (responder.respond(request, from, MutableBytes(reply, sizeof reply), &len) != DERP_OK) return;
      ++answered;
      socket.send(Bytes(reply, len), from);
    });
  }
};

enum class NatKind { kEasy, kHard };

// A NAT for one client: each front socket stands for one server; what the client sends to front k leaves through
// an outbound socket to server k, and what server k answers goes back to the client from front k.
class Nat {
 public:
  bool open(uv_loop_t* loop, NatKind kind, const std::vector<const StunServer*>& servers,
            const std::vector<const char*>& front_ips) {
    servers_ = servers;
    fronts_.resize(servers.size());
    outs_.resize(kind == NatKind::kEasy ? 1 : servers.size());
    for (std::size_t k = 0; k < outs_.size(); ++k) {
      outs_[k] = std::make_unique<UdpSocket>();
      // The outbound side on 127.0.0.1 for every server: the source address the servers see (and map).
      if (!outs_[k]->open(loop, "127.0.0.1", [this](Bytes data, const derp_addr& from) { back(data, from); })) {
        return false;
      }
    }
    for (std::size_t k = 0; k < servers.size(); ++k) {
      fronts_[k] = std::make_unique<UdpSocket>();
      if (!fronts_[k]->open(loop, front_ips[k], [this, k](Bytes data, const derp_addr& from) {
            client_ = from;
            out_for(k).send(data, servers_[k]->socket.address());
          })) {
        return false;
      }
    }
    return true;
  }
  void close() {
    for (auto& s : fronts_) s->close();
    for (auto& s : outs_) s->close();
  }
  const derp_addr& front(std::size_t k) const { return fronts_[k]->address(); }
  const derp_addr& outbound(std::size_t k) { return out_for(k).address(); }

 private:
  UdpSocket& out_for(std::size_t k) { return *outs_[outs_.size() == 1 ? 0 : k]; }
  void back(Bytes data, const derp_addr& from) {
    for (std::size_t k = 0; k < servers_.size(); ++k) {
      if (from == servers_[k]->socket.address() && client_) fronts_[k]->send(data, *client_);
    }
  }
  std::vector<const StunServer*> servers_;
  std::vector<std::unique_ptr<UdpSocket>> fronts_;
  std::vector<std::unique_ptr<UdpSocket>> outs_;
  std::optional<derp_addr> client_;
};

derpmap::DerpRegion loopback_region(int id, const derp_addr& stun) {
  derpmap::DerpRegion r;
  r.region_id = id;
  r.region_code = "lo" + std::to_string(id);
  derpmap::DerpNode n;
  n.name = std::to_string(id) + "a";
  n.region_id = id;
  n.host_name = "localhost";
  char ip[64];
  uv_ip4_name(reinterpret_cast<const sockaddr_in*>([&] {
                static sockaddr_storage sa;
                uv::to_sockaddr(stun, &sa);
                return &sa;
              }()),
              ip, sizeof ip);
  n.ipv4 = ip;
  n.ipv6 = "none";
  n.stun_port = stun.port;
  r.nodes.push_back(n);
  return r;
}

// Runs a netcheck on `loop` against `map`; closes `on_finished` resources once it reports; a watchdog stops
// the run (and fails the test) after 10 s.
struct RunResult {
  std::optional<netcheck::Report> report;
  std::uint64_t elapsed_ms = 0;
};

RunResult run_netcheck(uv_loop_t* loop, const derpmap::DerpMap& map, const netcheck::Options& options,
                       const std::function<void()>& on_finished) {
  RunResult result;
  const std::uint64_t start = uv_hrtime();
  uv::UvNetcheck* run = nullptr;
  uv_timer_t watchdog;
  uv_timer_init(loop, &watchdog);
  struct Ctx {
    uv::UvNetcheck** run;
    bool fired = false;
  } ctx{&run};
  watchdog.data = &ctx;
  uv_timer_start(
      &watchdog,
      [](uv_timer_t* t) {
        auto* c = static_cast<Ctx*>(t->data);
        c->fired = true;
        if (*c->run != nullptr) (*c->run)->stop();
      },
      10'000, 0);
  const int rc = uv::UvNetcheck::start(
      loop, map, options,
      [&](const netcheck::Report& r) {
        result.report = r;
        result.elapsed_ms = (uv_hrtime() - start) / 1'000'000;
        run = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
        on_finished();
      },
      &run);
  REQUIRE(rc == DERP_OK);
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK_FALSE(ctx.fired);
  return result;
}

struct Loop {
  uv_loop_t loop;
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);  // every handle of the run and the test is closed
  }
};

void check_nat(NatKind kind) {
  Loop l;
  StunServer s1, s2;
  REQUIRE(s1.open(&l.loop, "127.0.0.1"));
  REQUIRE(s2.open(&l.loop, "127.0.0.2"));
  Nat nat;
  REQUIRE(nat.open(&l.loop, kind, {&s1, &s2}, {"127.0.0.1", "127.0.0.2"}));
  derpmap::DerpMap map;
  map.regions[1] = loopback_region(1, nat.front(0));
  map.regions[2] = loopback_region(2, nat.front(1));
  netcheck::Options options;
  options.timeout = 3 * kSecond;
  const RunResult r = run_netcheck(&l.loop, map, options, [&] {
    nat.close();
    s1.socket.close();
    s2.socket.close();
  });
  REQUIRE(r.report);
  const netcheck::Report& report = *r.report;
  CHECK(report.udp);
  CHECK(report.ipv4);
  CHECK_FALSE(report.ipv6);
  CHECK_FALSE(report.timed_out);  // both regions answered: no need to wait
  CHECK(r.elapsed_ms < 2000);
  REQUIRE(report.mapping_varies_by_dest_ip.has_value());
  CHECK(*report.mapping_varies_by_dest_ip == (kind == NatKind::kHard));
  if (kind == NatKind::kEasy) {
    CHECK(format_addr(report.global_v4) == format_addr(nat.outbound(0)));
  } else {
    const std::string got = format_addr(report.global_v4);
    CHECK((got == format_addr(nat.outbound(0)) || got == format_addr(nat.outbound(1))));
    CHECK(format_addr(nat.outbound(0)) != format_addr(nat.outbound(1)));
  }
  REQUIRE(report.regions.size() == 2);
  for (const auto& region : report.regions) {
    CHECK(region.v4.has_value());
    CHECK_FALSE(region.v6.has_value());
  }
  CHECK((report.preferred_region == 1 || report.preferred_region == 2));
  CHECK(s1.answered >= 1);
  CHECK(s2.answered >= 1);
}

}  // namespace

TEST_CASE("uv netcheck: easy NAT, one outbound socket for both servers", "[netcheck][uv]") {
  check_nat(NatKind::kEasy);
}

TEST_CASE("uv netcheck: hard NAT, one outbound socket per server", "[netcheck][uv]") {
  check_nat(NatKind::kHard);
}

TEST_CASE("uv netcheck: a server that never answers ends in a timeout with UDP false", "[netcheck][uv]") {
  Loop l;
  UdpSocket blackhole;  // bound, so no ICMP error comes back, and silent
  REQUIRE(blackhole.open(&l.loop, "127.0.0.1", nullptr));
  derpmap::DerpMap map;
  map.regions[1] = loopback_region(1, blackhole.address());
  netcheck::Options options;
  options.timeout = 300 * kMillisecond;
  const RunResult r = run_netcheck(&l.loop, map, options, [&] { blackhole.close(); });
  REQUIRE(r.report);
  CHECK_FALSE(r.report->udp);
  CHECK(r.report->timed_out);
  CHECK(r.report->preferred_region == 0);
  CHECK(r.elapsed_ms >= 290);
  CHECK(r.elapsed_ms < 2000);
}

TEST_CASE("uv netcheck: a host name that does not resolve is skipped, and the run ends", "[netcheck][uv]") {
  Loop l;
  derpmap::DerpMap map;
  derpmap::DerpRegion region;
  region.region_id = 1;
  derpmap::DerpNode n;
  n.name = "1a";
  n.region_id = 1;
  n.host_name = "no-such-host.invalid";
  region.nodes.push_back(n);
  map.regions[1] = region;
  netcheck::Options options;
  options.timeout = 1500 * kMillisecond;
  const RunResult r = run_netcheck(&l.loop, map, options, [] {});
  REQUIRE(r.report);
  CHECK_FALSE(r.report->udp);
}

TEST_CASE("netcheck C API: derp_uv_netcheck_run against a STUN server on loopback", "[netcheck][uv][capi]") {
  // The server runs on its own loop and thread; derp_uv_netcheck_run blocks on this one.
  uv_loop_t server_loop;
  REQUIRE(uv_loop_init(&server_loop) == 0);
  StunServer server;
  REQUIRE(server.open(&server_loop, "127.0.0.1"));
  uv_async_t stop;
  uv_async_init(&server_loop, &stop, [](uv_async_t* a) {
    static_cast<StunServer*>(a->data)->socket.close();
    uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
  });
  stop.data = &server;
  std::thread thread([&] { uv_run(&server_loop, UV_RUN_DEFAULT); });

  const std::string json = R"({"Regions":{"7":{"RegionID":7,"RegionCode":"lo","RegionName":"Loopback",)"
                           R"("Nodes":[{"Name":"7a","RegionID":7,"HostName":"localhost","IPv4":"127.0.0.1",)"
                           R"("IPv6":"none","STUNPort":)" +
                           std::to_string(server.socket.address().port) + "}]}}}";
  derp_netcheck_options opts;
  REQUIRE(derp_netcheck_options_init(&opts, sizeof opts) == DERP_OK);
  CHECK(opts.timeout_ms == 3000);
  CHECK(opts.tries == 3);
  opts.timeout_ms = 2000;
  derp_netcheck_report_t report;
  REQUIRE(derp_netcheck_report_init(&report, sizeof report) == DERP_OK);
  const int rc = derp_uv_netcheck_run(json.data(), json.size(), &opts, &report);

  uv_async_send(&stop);
  thread.join();
  CHECK(uv_loop_close(&server_loop) == 0);

  REQUIRE(rc == DERP_OK);
  CHECK(report.udp == 1);
  CHECK(report.ipv4 == 1);
  CHECK(report.global_v4.family == DERP_AF_INET);
  CHECK(report.mapping_varies_by_dest_ip == -1);
  CHECK(report.preferred_region == 7);
  REQUIRE(report.region_count == 1);
  CHECK(report.regions[0].region_id == 7);
  CHECK(std::string(report.regions[0].region_code) == "lo");
  CHECK(std::string(report.regions[0].region_name) == "Loopback");
  CHECK(report.regions[0].latency_v4_us >= 0);
  CHECK(report.regions[0].latency_v6_us == -1);
  CHECK(report.regions_truncated == 0);
}

TEST_CASE("netcheck C API: argument checks", "[netcheck][capi]") {
  derp_netcheck_report_t report;
  REQUIRE(derp_netcheck_report_init(&report, sizeof report) == DERP_OK);
  CHECK(report.mapping_varies_by_dest_ip == -1);
  const std::string bad = "{\"Regions\": 5}";
  CHECK(derp_uv_netcheck_run(bad.data(), bad.size(), nullptr, &report) == DERP_ERR_BAD_JSON);
  CHECK(derp_uv_netcheck_run(nullptr, 0, nullptr, &report) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_netcheck_run("{}", 2, nullptr, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  derp_netcheck_options opts;
  derp_netcheck_options_init(&opts, sizeof opts);
  opts.tries = 0;
  CHECK(derp_uv_netcheck_run("{}", 2, &opts, &report) == DERP_ERR_INVALID_ARGUMENT);
  derp_netcheck_options_init(&opts, sizeof opts);
  opts.timeout_ms = 0;
  CHECK(derp_uv_netcheck_run("{}", 2, &opts, &report) == DERP_ERR_INVALID_ARGUMENT);
  // An empty map: nothing to probe, done at once.
  derp_netcheck_options_init(&opts, sizeof opts);
  CHECK(derp_uv_netcheck_run("{}", 2, &opts, &report) == DERP_OK);
  CHECK(derp_uv_netcheck_run("{}", 0, &opts, &report) == DERP_OK);  // len 0: NUL-terminated
  CHECK(derp_uv_netcheck_run("{\"Regions\": 5}", 0, &opts, &report) == DERP_ERR_BAD_JSON);
  CHECK(report.udp == 0);
  CHECK(report.region_count == 0);
  CHECK(report.timed_out == 0);
  // An older, shorter report struct: only its prefix is written.
  struct {
    derp_netcheck_report_t r;
    unsigned char guard[8];
  } small{};
  std::memset(&small, 0xAB, sizeof small);
  small.r.struct_size = offsetof(derp_netcheck_report_t, ipv4);
  CHECK(derp_uv_netcheck_run("{}", 2, nullptr, &small.r) == DERP_OK);
  CHECK(small.r.udp == 0);
  CHECK(small.r.ipv4 == static_cast<int>(0xABABABAB));
}
