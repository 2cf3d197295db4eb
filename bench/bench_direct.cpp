// The direct path on loopback, in one process and one libuv loop: our UvServer (DERP + STUN) and two UvClients.
//   1. time to direct: from alice's first packet (which goes through the relay) to her client reporting the
//      direct path, over fresh client pairs;
//   2. packets per second and CPU per packet, 1280-byte packets from alice to bob, on the direct path with sealing
//      on and off, next to the DERP path (clients without the direct path).
// Prints figures; never fails on speed (docs/benchmarks.md).
//   bench_direct [runs=20] [packets=200000]
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "common/address.hpp"
#include "uv/uv_client.hpp"
#include "uv/uv_server.hpp"

namespace {

using derp::Nanos;
using derp::path::Via;

struct Events : derp::uv::UvClientEvents {
  int infos = 0;
  bool direct = false;
  Nanos direct_at = 0;
  std::uint64_t received = 0;
  void on_server_info(const derp::crypto::ServerInfo&) override { ++infos; }
  void on_packet_via(const derp::crypto::NodePublic&, derp::Bytes, Via) override { ++received; }
  void on_path_changed(const derp::crypto::NodePublic&, Via via, const derp_addr&, Nanos) override {
    direct = via == Via::kDirect;
    if (direct && direct_at == 0) direct_at = uv_hrtime();
  }
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

template <class Pred>
bool run_until(uv_loop_t* loop, Pred pred, Nanos limit = 10 * derp::kSecond) {
  const Nanos end = uv_hrtime() + limit;
  while (!pred()) {
    if (uv_hrtime() > end) return false;
    uv_run(loop, UV_RUN_NOWAIT);
  }
  return true;
}

struct Pair {
  Events ea, eb;
  std::unique_ptr<derp::uv::UvClient> a, b;
};

std::unique_ptr<Pair> make_pair(uv_loop_t* loop, const std::string& url, const std::string& stun, bool direct,
                                bool sealed) {
  auto p = std::make_unique<Pair>();
  auto make = [&](Events* ev, std::unique_ptr<derp::uv::UvClient>* out) {
    derp::uv::UvClientOptions o;
    derp::crypto::generate_private(&o.connection.private_key);
    o.url = url;
    o.ca_bundle_path = "";
    o.direct.enabled = direct;
    o.direct.udp_bind = "127.0.0.1:0";
    o.direct.stun_server = stun;
    o.direct.path.seal_data = sealed;
    std::string detail;
    if (derp::uv::UvClient::create(loop, std::move(o), ev, out, &detail) != DERP_OK) {
      std::fprintf(stderr, "client: %s\n", detail.c_str());
      std::exit(1);
    }
    (*out)->start();
  };
  make(&p->ea, &p->a);
  make(&p->eb, &p->b);
  if (!run_until(loop, [&] { return p->ea.infos > 0 && p->eb.infos > 0; })) {
    std::fprintf(stderr, "clients did not connect\n");
    std::exit(1);
  }
  return p;
}

void close_pair(uv_loop_t* loop, std::unique_ptr<Pair> p) {
  p->a->stop();
  p->b->stop();
  p->a.reset();
  p->b.reset();
  for (int i = 0; i < 100; ++i) uv_run(loop, UV_RUN_NOWAIT);
}

// Sends `packets` of 1280 B from a to b in bursts of 16, letting the loop run between bursts; returns when b has
// them all or nothing arrives for a second.
void throughput(uv_loop_t* loop, Pair& p, std::uint64_t packets, const char* label) {
  std::vector<std::uint8_t> payload(1280, 0x5a);
  const std::uint64_t start_received = p.eb.received;
  const double cpu0 = cpu_seconds();
  const Nanos t0 = uv_hrtime();
  std::uint64_t sent = 0;
  std::uint64_t refused = 0;
  while (sent < packets) {
    for (int i = 0; i < 16 && sent < packets; ++i, ++sent) {
      if (p.a->send_packet(p.b->public_key(), derp::Bytes(payload)) != DERP_OK) ++refused;
    }
    uv_run(loop, UV_RUN_NOWAIT);
  }
  Nanos last_progress = uv_hrtime();
  std::uint64_t last = p.eb.received;
  while (p.eb.received - start_received < packets && uv_hrtime() - last_progress < derp::kSecond) {
    uv_run(loop, UV_RUN_NOWAIT);
    if (p.eb.received != last) {
      last = p.eb.received;
      last_progress = uv_hrtime();
    }
  }
  const Nanos end = p.eb.received - start_received == packets ? uv_hrtime() : last_progress;
  const double secs = static_cast<double>(end - t0) / 1e9;
  const double cpu = cpu_seconds() - cpu0;
  const std::uint64_t got = p.eb.received - start_received;
  std::printf("%-28s sent %8llu  delivered %8llu (%5.1f%%)  %9.0f pkt/s  %6.2f us CPU/pkt (both ends + server)\n",
              label, static_cast<unsigned long long>(packets), static_cast<unsigned long long>(got),
              100.0 * static_cast<double>(got) / static_cast<double>(packets), static_cast<double>(got) / secs,
              1e6 * cpu / static_cast<double>(std::max<std::uint64_t>(got, 1)));
  (void)refused;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 20;
  const std::uint64_t packets = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 200000;
  uv_loop_t loop;
  uv_loop_init(&loop);
  derp::uv::UvServerOptions so;
  derp::crypto::generate_private(&so.core.private_key);
  so.tcp_listen = {"127.0.0.1:0"};
  so.stun_listen = {"127.0.0.1:0"};
  std::unique_ptr<derp::uv::UvServer> server;
  std::string detail;
  if (derp::uv::UvServer::create(&loop, std::move(so), &server, &detail) != DERP_OK ||
      server->listen(&detail) != DERP_OK) {
    std::fprintf(stderr, "server: %s\n", detail.c_str());
    return 1;
  }
  const std::string url = "http://" + derp::format_addr(server->tcp_addresses().at(0)) + "/derp";
  const std::string stun = derp::format_addr(server->stun_addresses().at(0));

  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    auto p = make_pair(&loop, url, stun, true, true);
    const std::vector<std::uint8_t> hello = {'h', 'i'};
    const Nanos t0 = uv_hrtime();
    p->a->send_packet(p->b->public_key(), derp::Bytes(hello));
    // a keeps sending every 10 ms and b answers, so both sides have traffic (as in the cases)
    Nanos next = t0;
    const bool ok = run_until(&loop, [&] {
      if (uv_hrtime() >= next) {
        p->a->send_packet(p->b->public_key(), derp::Bytes(hello));
        p->b->send_packet(p->a->public_key(), derp::Bytes(hello));
        next += 10 * derp::kMillisecond;
      }
      return p->ea.direct;
    });
    if (ok) ms.push_back(static_cast<double>(p->ea.direct_at - t0) / 1e6);
    close_pair(&loop, std::move(p));
  }
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) {
    std::printf("time to direct on loopback: %zu of %d runs upgraded; median %.2f ms, min %.2f ms, max %.2f ms\n",
                ms.size(), runs, ms[ms.size() / 2], ms.front(), ms.back());
  } else {
    std::printf("time to direct on loopback: no run upgraded\n");
  }

  for (const int mode : {0, 1, 2}) {
    const bool direct = mode != 2;
    const bool sealed = mode == 0;
    auto p = make_pair(&loop, url, stun, direct, sealed);
    if (direct) {
      const std::vector<std::uint8_t> hello = {'h', 'i'};
      Nanos next = 0;
      run_until(&loop, [&] {
        if (uv_hrtime() >= next) {
          p->a->send_packet(p->b->public_key(), derp::Bytes(hello));
          p->b->send_packet(p->a->public_key(), derp::Bytes(hello));
          next = uv_hrtime() + 10 * derp::kMillisecond;
        }
        return p->ea.direct && p->eb.direct;
      });
    }
    throughput(&loop, *p, packets,
               mode == 0 ? "direct, sealed (default)" : mode == 1 ? "direct, unsealed" : "DERP (no direct path)");
    close_pair(&loop, std::move(p));
  }
  server->close();
  run_until(&loop, [&] { return server->stopped(); });
  server.reset();
  for (int i = 0; i < 100; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
  return 0;
}
