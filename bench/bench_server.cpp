// Server benchmark: what our libuv DERP server (lib/uv/uv_server.hpp) relays on loopback, and what an idle
// connection costs it in memory. A benchmark program, not a test: it prints figures and never fails on speed.
// See docs/benchmarks.md ("## Server") for recorded figures and how to read them.
//
//   bench_server [throughput|memory|all] [--quick] [--plain-only|--tls-only] [--seconds=S] [--warmup=S]
//                [--window-kib=N] [--total-window-mib=N]
//   bench_server window [--plain-only|--tls-only] [--pairs=8] [--sizes=64,1280,16384] [--window-packets=32]
//                [--seconds=S] [--repeat=R] [--no-pin]
//
// The server runs in a child process (bench_server_process.hpp) so /proc/<pid> gives its own RSS and CPU time;
// every client runs in this process on one libuv loop (bench_client.hpp). Both share the machine's cores.
//
// Throughput: N pairs of clients; each sender sends SendPacket frames to its receiver through the server. A sender
// keeps at most a window of bytes in flight, counted from what its receiver has got (fed back in-process), so the
// server is kept busy without being flooded: the figure is what the server delivers, and drops (from its
// counters) show when it could not keep up. The window is 512 KiB per pair but at most 16 MiB over all pairs:
// more in flight only adds queueing delay, not throughput.
// Window (the regime of issue 9, to compare with Tailscale's derper): N pairs, each sender keeps at most W packets
// in flight counted at its receiver; the server child is pinned to CPU 0 and this process (all clients) to CPU 1
// when the machine has two, and the figure is packets delivered per second of SERVER CPU time (from
// /proc/<pid>/stat), so a client or another program slowing the run changes it far less than a wall-clock rate.
// Each case is repeated R times; the median is printed last.
// Memory: K connections that completed the handshake and then stay idle; (RSS(K) - RSS(0)) / K.
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "bench_client.hpp"
#include "bench_server_process.hpp"
#include "frame/frame_types.hpp"
#include "frame/header.hpp"
#include "tls/client_config.hpp"

namespace {

using derp::Bytes;
using derp::bench::ClientConn;
using derp::bench::Fleet;
using derp::bench::ServerProcess;
using derp::bench::ServerStats;

// ---- options ---------------------------------------------------------------------------------------------------

struct Options {
  bool throughput = true;
  bool memory = true;
  bool plain = true;
  bool tls = true;
  bool quick = false;
  bool window_mode = false;  // the "window" part: W packets in flight per pair, pps per server CPU-second
  std::size_t window_packets = 32;
  std::size_t repeat = 5;
  bool pin = true;
  double seconds = 3.0;  // measured time per throughput case
  double warmup = 0.5;   // sent but not counted, before each case
  std::size_t window_kib = 512;        // per pair
  std::size_t total_window_mib = 16;   // over all pairs
  std::vector<std::size_t> sizes = {64, 1280, 16384};
  std::vector<std::size_t> pairs = {1, 10, 100};
  std::vector<std::size_t> idle_levels = {1000, 10000};
};

void usage() {
  std::printf(
      "usage: bench_server [throughput|memory|all] [--quick] [--plain-only|--tls-only]\n"
      "                    [--seconds=S] [--warmup=S] [--window-kib=N] [--total-window-mib=N]\n"
      "  throughput  packets/s and MB/s through the server, 64/1280/16384-byte packets, 1/10/100 pairs\n"
      "  memory      server RSS per idle connection at 1,000 and 10,000 connections\n"
      "  window      N pairs (--pairs=8), W packets in flight per pair (--window-packets=32), 64, 1280, 16384 B,\n"
      "              server on CPU 0 and clients on CPU 1, packets per second of server CPU; --repeat=R (5)\n"
      "  --quick     1 and 10 pairs, 1 s per case, 100 and 1,000 idle connections\n");
}

std::vector<std::size_t> parse_list(const std::string& text) {
  std::vector<std::size_t> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(static_cast<std::size_t>(std::atol(text.substr(at, comma - at).c_str())));
    at = comma + 1;
  }
  return out;
}

bool parse_options(int argc, char** argv, Options* o) {
  bool part_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&](const char* prefix) { return a.substr(std::strlen(prefix)); };
    if (a == "throughput" || a == "memory" || a == "all") {
      if (!part_given) o->throughput = o->memory = false;
      part_given = true;
      if (a != "memory") o->throughput = true;
      if (a != "throughput") o->memory = true;
    } else if (a == "window") {
      o->window_mode = true;
      o->throughput = o->memory = false;
      part_given = true;
      o->pairs = {8};
      o->sizes = {64, 1280, 16384};
    } else if (a.rfind("--window-packets=", 0) == 0) {
      o->window_packets = static_cast<std::size_t>(std::atol(value("--window-packets=").c_str()));
    } else if (a.rfind("--repeat=", 0) == 0) {
      o->repeat = static_cast<std::size_t>(std::atol(value("--repeat=").c_str()));
    } else if (a == "--no-pin") {
      o->pin = false;
    } else if (a.rfind("--pairs=", 0) == 0) {
      o->pairs = parse_list(value("--pairs="));
    } else if (a.rfind("--sizes=", 0) == 0) {
      o->sizes = parse_list(value("--sizes="));
    } else if (a == "--quick") {
      o->quick = true;
    } else if (a == "--plain-only") {
      o->tls = false;
    } else if (a == "--tls-only") {
      o->plain = false;
    } else if (a.rfind("--seconds=", 0) == 0) {
      o->seconds = std::atof(value("--seconds=").c_str());
    } else if (a.rfind("--warmup=", 0) == 0) {
      o->warmup = std::atof(value("--warmup=").c_str());
    } else if (a.rfind("--window-kib=", 0) == 0) {
      o->window_kib = static_cast<std::size_t>(std::atol(value("--window-kib=").c_str()));
    } else if (a.rfind("--total-window-mib=", 0) == 0) {
      o->total_window_mib = static_cast<std::size_t>(std::atol(value("--total-window-mib=").c_str()));
    } else {
      return false;
    }
  }
  if (o->quick) {
    o->pairs = {1, 10};
    o->idle_levels = {100, 1000};
    // Quick only shortens what was not chosen explicitly.
    bool seconds_given = false;
    bool warmup_given = false;
    for (int i = 1; i < argc; ++i) {
      seconds_given |= std::strncmp(argv[i], "--seconds=", 10) == 0;
      warmup_given |= std::strncmp(argv[i], "--warmup=", 9) == 0;
    }
    if (!seconds_given) o->seconds = 1.0;
    if (!warmup_given) o->warmup = 0.25;
  }
  if (o->window_mode && o->repeat == 0) return false;
  return o->seconds > 0 && o->warmup >= 0 && o->window_kib > 0 && o->window_packets > 0 && o->total_window_mib > 0 && (o->plain || o->tls);
}

// ---- small helpers ---------------------------------------------------------------------------------------------

double now_seconds() { return static_cast<double>(uv_hrtime()) / 1e9; }

double own_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

// The 1, 5 and 15 minute load averages: other work on the machine shows up in every figure.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// The server's CPU time in nanoseconds from /proc/<pid>/schedstat (exact, where /proc/<pid>/stat counts 10 ms
// ticks); falls back to stat when the kernel has no schedstat.
double server_cpu_seconds_exact(const ServerProcess& server) {
  std::ifstream in("/proc/" + std::to_string(server.pid()) + "/schedstat");
  unsigned long long ns = 0;
  if (in >> ns) return static_cast<double>(ns) / 1e9;
  return server.cpu_seconds();
}

// Pins the server child to CPU 0 and this process (every client) to CPU 1, when there are two CPUs.
bool pin_server_and_clients(pid_t server) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  if (sched_setaffinity(server, sizeof set, &set) != 0) return false;
  CPU_ZERO(&set);
  CPU_SET(1, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// 10,000 client sockets here and 10,000 accepted ones in the child: both need the hard limit (inherited by fork).
void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

rlim_t fd_limit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

// The server child must not outlive us, whatever way we end.
void on_fatal_signal(int sig) {
  derp::bench::kill_server_child_now();
  const char msg[] = "bench_server: interrupted, server child killed\n";
  (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
  _exit(128 + sig);
}

void install_exit_guards(unsigned limit_seconds) {
  std::atexit(derp::bench::kill_server_child_now);
  signal(SIGINT, on_fatal_signal);
  signal(SIGTERM, on_fatal_signal);
  signal(SIGHUP, on_fatal_signal);
  signal(SIGALRM, on_fatal_signal);
  signal(SIGPIPE, SIG_IGN);  // a socket or pipe whose peer went away reports EPIPE instead
  alarm(limit_seconds);      // the whole program is bounded in time even if something stalls
}

// Starts a server child and the client-side TLS config pinned to its certificate.
struct ServerUnderTest {
  ServerProcess process;
  std::unique_ptr<derp::tls::ClientConfig> client_tls;
  derp::bench::Target target;

  bool start(bool tls) {
    std::string error;
    if (!process.start(tls, &error)) {
      std::fprintf(stderr, "server child: %s\n", error.c_str());
      return false;
    }
    target.address = process.address();
    target.server_key = process.public_key();
    if (tls) {
      derp::tls::ClientOptions o;
      o.ca_bundle_path = "";  // the pin is all we trust, as a DERPNode with CertName "sha256-raw:..."
      if (derp::tls::ClientConfig::create(o, &client_tls, &error) != DERP_OK) {
        std::fprintf(stderr, "client TLS config: %s\n", error.c_str());
        return false;
      }
      target.tls = client_tls.get();
      target.cert_name = process.cert_name();
    }
    return true;
  }
};

// ---- throughput ------------------------------------------------------------------------------------------------

struct ThroughputRow {
  const char* mode = "";
  std::size_t size = 0;
  std::size_t pairs = 0;
  bool ok = false;
  double packets_per_s = 0;
  double mb_per_s = 0;
  std::uint64_t drops = 0;
  std::uint64_t stalls = 0;
  double server_cpu = 0;  // share of one core, over the measured time
  double client_cpu = 0;
  double server_cpu_seconds = 0;      // over the measured time
  double packets_per_server_cpu = 0;  // packets delivered per second of server CPU time
  // Over the measured time, per packet the server wrote to a receiver: its heap allocations (alloc_counter.hpp)
  // and its read and write system calls (/proc/<pid>/io). Negative: not known.
  double allocations_per_packet = -1;
  double reads_per_packet = -1;
  double writes_per_packet = -1;
};

// The flow control and counting of one set of pairs. Connection 2i sends to connection 2i + 1.
class ThroughputRun : public derp::bench::ClientEvents {
 public:
  // A pair that got nothing for this long with packets in flight has lost them (dropped by the server): its
  // window is reopened so the run goes on, and the event is reported as a stall. Far longer than any queueing
  // delay (16 MiB in flight drains in under 2 s even at 10 MB/s), so only a real loss trips it.
  static constexpr std::uint64_t kStallNs = 5'000'000'000;

  // window_packets > 0: at most that many packets in flight per pair (the window regime), sent in bursts of a
  // quarter of it; otherwise a window of window_bytes.
  ThroughputRun(Fleet& fleet, std::size_t window_bytes, std::size_t window_packets = 0)
      : fleet_(fleet), window_bytes_(window_bytes), window_packets_(window_packets) {}

  void assign_pairs() {
    auto& conns = fleet_.conns();
    pairs_.assign(conns.size() / 2, Pair{});
    for (std::size_t i = 0; i < pairs_.size(); ++i) {
      pairs_[i].sender = conns[2 * i].get();
      pairs_[i].receiver = conns[2 * i + 1].get();
      pairs_[i].sender->tag = pairs_[i].receiver->tag = i;
      pairs_[i].sender->is_sender = true;
    }
  }

  // Starts sending packets of `size` bytes. A burst is as many whole SendPacket frames as fit in 64 KiB or a
  // quarter of the window (one write; at least one frame), built once per pair and sent again and again.
  void begin(std::size_t size) {
    const std::size_t frame_len = derp::frame::kHeaderLen + DERP_KEY_LEN + size;
    burst_frames_ = std::max<std::size_t>(1, std::min<std::size_t>(65536, window_bytes_ / 4) / frame_len);
    window_frames_ = std::max<std::size_t>(2 * burst_frames_, window_bytes_ / frame_len);
    if (window_packets_ > 0) {
      burst_frames_ = std::max<std::size_t>(1, std::min(window_packets_ / 4, 65536 / frame_len));
      window_frames_ = std::max(window_packets_, burst_frames_);
    }
    const std::uint64_t now = uv_hrtime();
    for (Pair& p : pairs_) {
      std::vector<std::uint8_t>& burst = bursts_.emplace_back();
      burst.reserve(burst_frames_ * frame_len);
      for (std::size_t f = 0; f < burst_frames_; ++f) {
        const std::size_t at = burst.size();
        burst.resize(at + frame_len);
        derp::frame::write_header(burst.data() + at, derp::frame::type_byte(derp::frame::FrameType::SendPacket),
                                  static_cast<std::uint32_t>(DERP_KEY_LEN + size));
        const auto& dst = p.receiver->public_key().bytes();
        std::copy(dst.begin(), dst.end(), burst.begin() + static_cast<std::ptrdiff_t>(at + derp::frame::kHeaderLen));
        for (std::size_t b = 0; b < size; ++b) {
          burst[at + derp::frame::kHeaderLen + DERP_KEY_LEN + b] = static_cast<std::uint8_t>(b * 7 + f);
        }
      }
      p.burst = Bytes(burst);
      p.sent = 0;
      p.forgiven = 0;
      p.received_base = p.receiver->packets_received;
      p.last_progress_ns = now;
    }
    sending_ = true;
    for (Pair& p : pairs_) p.sender->pump();
  }

  void stop() { sending_ = false; }

  // Reopens the window of pairs whose packets stopped arriving. Called from the run loop's condition.
  void check_stalls() {
    const std::uint64_t now = uv_hrtime();
    for (Pair& p : pairs_) {
      const std::uint64_t flying = in_flight(p);
      if (flying > 0 && now - p.last_progress_ns > kStallNs) {
        p.forgiven += flying;
        p.last_progress_ns = now;
        ++stalls_;
        p.sender->pump();
      }
    }
  }

  bool drained() const {
    for (const Pair& p : pairs_) {
      if (in_flight(p) > 0) return false;
    }
    return true;
  }

  std::uint64_t received_packets() const {
    std::uint64_t n = 0;
    for (const Pair& p : pairs_) n += p.receiver->packets_received;
    return n;
  }
  std::uint64_t received_bytes() const {
    std::uint64_t n = 0;
    for (const Pair& p : pairs_) n += p.receiver->bytes_received;
    return n;
  }
  std::uint64_t stalls() const { return stalls_; }

  Bytes next_send(ClientConn& c) override {
    if (!sending_ || !c.is_sender) return {};
    Pair& p = pairs_[c.tag];
    if (in_flight(p) + burst_frames_ > window_frames_) return {};
    p.sent += burst_frames_;
    return p.burst;
  }

  void on_packets(ClientConn& c) override {
    if (c.is_sender || c.tag >= pairs_.size()) return;
    Pair& p = pairs_[c.tag];
    p.last_progress_ns = uv_hrtime();
    p.sender->pump();  // its window may have opened
  }

 private:
  struct Pair {
    ClientConn* sender = nullptr;
    ClientConn* receiver = nullptr;
    Bytes burst;
    std::uint64_t sent = 0;           // frames handed to the sender this case
    std::uint64_t received_base = 0;  // the receiver's count when the case began
    std::uint64_t forgiven = 0;       // frames given up as lost (stalls)
    std::uint64_t last_progress_ns = 0;
  };

  std::uint64_t in_flight(const Pair& p) const {
    const std::uint64_t delivered = p.receiver->packets_received - p.received_base + p.forgiven;
    return p.sent > delivered ? p.sent - delivered : 0;
  }

  Fleet& fleet_;
  std::size_t window_bytes_;
  std::size_t window_packets_;
  std::vector<Pair> pairs_;
  // Every burst built in this run: a TLS sender may still hold part of an old one after a case ends.
  std::deque<std::vector<std::uint8_t>> bursts_;
  std::size_t burst_frames_ = 1;
  std::size_t window_frames_ = 2;
  bool sending_ = false;
  std::uint64_t stalls_ = 0;
};

std::vector<ThroughputRow> run_throughput(const Options& o, bool tls) {
  const char* mode = tls ? "TLS" : "plain";
  std::vector<ThroughputRow> rows;
  ServerUnderTest server;
  if (!server.start(tls)) return rows;
  if (o.window_mode && o.pin && !pin_server_and_clients(server.process.pid())) {
    std::fprintf(stderr, "  note: server and clients not pinned (fewer than 2 CPUs, or sched_setaffinity failed)\n");
  }
  const auto server_cpu = [&] {
    return o.window_mode ? server_cpu_seconds_exact(server.process) : server.process.cpu_seconds();
  };

  for (const std::size_t pairs : o.pairs) {
    Fleet fleet(server.target);
    const std::size_t window = std::min(o.window_kib * 1024, (o.total_window_mib << 20) / pairs);
    ThroughputRun run(fleet, window, o.window_mode ? o.window_packets : 0);
    fleet.set_events(&run);
    fleet.open(2 * pairs, 64);
    if (!fleet.run_until([&] { return fleet.settled(); }, 60.0) || fleet.failed_count() > 0) {
      std::fprintf(stderr, "  %s, %zu pairs: %zu of %zu connections failed (%s)\n", mode, pairs,
                   fleet.failed_count(), 2 * pairs, fleet.first_error().c_str());
      continue;
    }
    run.assign_pairs();
    std::vector<std::size_t> cases;
    for (const std::size_t size : o.sizes) {
      for (std::size_t r = 0; r < (o.window_mode ? o.repeat : 1); ++r) cases.push_back(size);
    }
    for (const std::size_t size : cases) {
      ThroughputRow row;
      row.mode = mode;
      row.size = size;
      row.pairs = pairs;
      ServerStats before;
      ServerStats after;
      const bool stats_ok = server.process.stats(&before);
      const std::uint64_t stalls_before = run.stalls();
      const auto loop_with_stall_checks = [&](double seconds) {
        fleet.run_until(
            [&] {
              run.check_stalls();
              return false;
            },
            seconds);
      };

      const std::uint64_t case_start_packets = run.received_packets();
      run.begin(size);
      loop_with_stall_checks(o.warmup);
      const double t0 = now_seconds();
      const std::uint64_t packets0 = run.received_packets();
      const std::uint64_t bytes0 = run.received_bytes();
      const double server_cpu0 = server_cpu();
      const double client_cpu0 = own_cpu_seconds();
      ServerStats measured0;
      ServerStats measured1;
      const bool measured_ok0 = o.window_mode && server.process.stats(&measured0);
      const derp::bench::SyscallCounts calls0 = server.process.syscalls();
      loop_with_stall_checks(o.seconds);
      const double t1 = now_seconds();
      const std::uint64_t packets1 = run.received_packets();
      const std::uint64_t bytes1 = run.received_bytes();
      const double server_cpu1 = server_cpu();
      const double client_cpu1 = own_cpu_seconds();
      const derp::bench::SyscallCounts calls1 = server.process.syscalls();
      if (measured_ok0 && server.process.stats(&measured1) && measured1.packets_sent > measured0.packets_sent) {
        const double sent = static_cast<double>(measured1.packets_sent - measured0.packets_sent);
        // The stats request itself is one read and one write of the control pipe (and its answer's allocations).
        row.allocations_per_packet = static_cast<double>(measured1.heap_allocations - measured0.heap_allocations) / sent;
        if (calls1.reads > 0) {
          row.reads_per_packet = static_cast<double>(calls1.reads - calls0.reads) / sent;
          row.writes_per_packet = static_cast<double>(calls1.writes - calls0.writes) / sent;
        }
      }
      run.stop();
      // Let what is in flight arrive, so the next case starts from an empty server.
      fleet.run_until(
          [&] {
            run.check_stalls();
            return run.drained();
          },
          5.0);

      const double elapsed = t1 - t0;
      row.ok = fleet.lost_count() == 0;
      row.packets_per_s = static_cast<double>(packets1 - packets0) / elapsed;
      row.mb_per_s = static_cast<double>(bytes1 - bytes0) / elapsed / 1e6;
      row.server_cpu = (server_cpu1 - server_cpu0) / elapsed;
      row.client_cpu = (client_cpu1 - client_cpu0) / elapsed;
      row.server_cpu_seconds = server_cpu1 - server_cpu0;
      if (row.server_cpu_seconds > 0) {
        row.packets_per_server_cpu = static_cast<double>(packets1 - packets0) / row.server_cpu_seconds;
      }
      row.stalls = run.stalls() - stalls_before;
      if (stats_ok && server.process.stats(&after)) {
        row.drops = after.packets_dropped - before.packets_dropped;
        // A cross-check of the counting: once drained, what the server wrote is what the receivers counted.
        const std::uint64_t server_sent = after.packets_sent - before.packets_sent;
        const std::uint64_t counted = run.received_packets() - case_start_packets;
        if (server_sent != counted) {
          std::fprintf(stderr, "  note: the server wrote %" PRIu64 " packets, the receivers counted %" PRIu64 "\n",
                       server_sent, counted);
        }
      }
      std::printf("  %-5s %6zu B %4zu pairs %12.0f packets/s %9.1f MB/s %10.0f packets per server CPU-second\n",
                  mode, size, pairs, row.packets_per_s, row.mb_per_s, row.packets_per_server_cpu);
      std::fflush(stdout);
      if (fleet.lost_count() > 0) {
        std::fprintf(stderr, "  %zu connections lost during the run (%s)\n", fleet.lost_count(),
                     fleet.first_error().c_str());
      }
      rows.push_back(row);
    }
  }
  // For dividing a whole-process count (strace -c -f -p <server pid>) by the packets relayed.
  if (ServerStats total; o.window_mode && server.process.stats(&total)) {
    std::printf("  %s server child %d: %" PRIu64 " packets written to receivers in all\n", mode,
                static_cast<int>(server.process.pid()), total.packets_sent);
  }
  server.process.stop();
  return rows;
}

// ---- memory ----------------------------------------------------------------------------------------------------

struct MemoryRow {
  const char* mode = "";
  std::size_t connections = 0;  // completed the handshake and still open
  derp::bench::Rss baseline;
  derp::bench::Rss rss;
  double handshakes_per_s = 0;
  double server_cpu_ms_per_handshake = 0;
};

// Waits (serving the client loop) until the server counts `clients` registered clients and `connections` open
// connections, or timeout_s passes.
bool wait_server_counts(Fleet& fleet, ServerProcess& server, std::uint64_t clients, std::uint64_t connections,
                        double timeout_s, ServerStats* last) {
  const double deadline = now_seconds() + timeout_s;
  for (;;) {
    if (server.stats(last) && last->current_clients == clients && last->current_connections == connections) {
      return true;
    }
    if (now_seconds() >= deadline) return false;
    fleet.run_for(0.05);
  }
}

std::vector<MemoryRow> run_memory(const Options& o, bool tls) {
  const char* mode = tls ? "TLS" : "plain";
  std::vector<MemoryRow> rows;
  ServerUnderTest server;
  if (!server.start(tls)) return rows;
  Fleet fleet(server.target);
  ServerStats stats;

  // One connection through the whole handshake and closed again, so code and tables used on first use (the TLS
  // stack, hash tables' first buckets, the output buffer pool) are in the baseline, not charged to connections.
  fleet.open(1, 1);
  fleet.run_until([&] { return fleet.settled(); }, 10.0);
  fleet.close_all();
  wait_server_counts(fleet, server.process, 0, 0, 5.0, &stats);
  fleet.run_for(1.0);
  const derp::bench::Rss baseline = server.process.rss();

  // TLS handshakes are CPU-bound on both sides; a few at a time keep both cores busy without piling up.
  const std::size_t parallel = tls ? 16 : 64;
  for (const std::size_t level : o.idle_levels) {
    const double t0 = now_seconds();
    const double cpu0 = server.process.cpu_seconds();
    const std::size_t before = fleet.conns().size();
    fleet.open(level - before, parallel);
    const double limit = tls ? 240.0 : 60.0;
    fleet.run_until([&] { return fleet.settled(); }, limit);
    const double t1 = now_seconds();
    const double cpu1 = server.process.cpu_seconds();
    MemoryRow row;
    row.mode = mode;
    row.connections = fleet.ready_count() - fleet.lost_count();
    row.baseline = baseline;
    const std::size_t handshakes = fleet.ready_count() - before;
    row.handshakes_per_s = static_cast<double>(handshakes) / (t1 - t0);
    if (handshakes > 0) row.server_cpu_ms_per_handshake = (cpu1 - cpu0) * 1e3 / static_cast<double>(handshakes);
    if (fleet.failed_count() > 0 || fleet.lost_count() > 0) {
      std::fprintf(stderr, "  %s: %zu handshakes failed, %zu connections lost (%s)\n", mode, fleet.failed_count(),
                   fleet.lost_count(), fleet.first_error().c_str());
    }
    // The last ServerInfo frames were written before the server's loop got back to its bookkeeping; let it settle
    // (counts agree), then give it a second more before reading its memory.
    if (!wait_server_counts(fleet, server.process, row.connections, row.connections, 10.0, &stats)) {
      std::fprintf(stderr, "  %s: the server counts %" PRIu64 " clients, %" PRIu64 " connections; we hold %zu\n",
                   mode, stats.current_clients, stats.current_connections, row.connections);
    }
    fleet.run_for(1.0);
    row.rss = server.process.rss();
    const double per_conn =
        row.connections > 0
            ? (static_cast<double>(row.rss.total) - static_cast<double>(baseline.total)) /
                  static_cast<double>(row.connections)
            : 0;
    std::printf("  %-5s %6zu connections  RSS %8.1f MiB  %8.0f B/connection  (%.0f handshakes/s)\n", mode,
                row.connections, mib(row.rss.total), per_conn, row.handshakes_per_s);
    std::fflush(stdout);
    rows.push_back(row);
    if (row.connections < level / 2) break;  // something is wrong; more of it would say nothing new
  }
  fleet.close_all();
  server.process.stop();
  return rows;
}

// ---- report ----------------------------------------------------------------------------------------------------

void print_header(int argc, char** argv, const Options& o) {
  std::string command;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) command += ' ';
    command += argv[i];
  }
  utsname u{};
  uname(&u);
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
  std::printf("libderp server benchmark\n");
  std::printf("command:   %s\n", command.c_str());
  std::printf("machine:   %ld CPUs (%s), %.1f GiB RAM, %s %s; libuv %s; open-file limit %llu\n", cpus,
              cpu_model().c_str(), ram / (1024.0 * 1024.0 * 1024.0), u.sysname, u.release, uv_version_string(),
              static_cast<unsigned long long>(fd_limit()));
  std::printf("load:      %s (1, 5, 15 min) at start\n", load_average().c_str());
  std::printf("layout:    the server runs in a child process (one libuv thread); all clients run in this process on\n"
              "           one libuv thread. Client and server share the %ld CPUs, so client work (framing, TLS)\n"
              "           competes with the server's.\n",
              cpus);
  std::printf("server:    UvServer on 127.0.0.1:0, per-connection queue %zu packets / %zu MiB; each sender keeps at\n"
              "           most min(%zu KiB, %zu MiB / pairs) in flight (counted at its receiver)\n\n",
              derp::bench::kServerQueuePackets, derp::bench::kServerQueueBytes >> 20, o.window_kib,
              o.total_window_mib);
}

void print_throughput(const Options& o, const std::vector<ThroughputRow>& rows) {
  std::printf("\nThroughput: %.1f s measured after %.1f s warm-up per case; packets counted at the receivers;\n"
              "MB/s = packet payload bytes (10^6) delivered; drops from the server's counters; CPU = share of one\n"
              "core; server ns/pkt = the server's CPU time per delivered packet\n",
              o.seconds, o.warmup);
  std::printf("%-6s %7s %6s %12s %9s %7s %11s %11s %14s\n", "mode", "size", "pairs", "packets/s", "MB/s", "drops",
              "server CPU", "client CPU", "server ns/pkt");
  for (const ThroughputRow& r : rows) {
    const double ns_per_packet = r.packets_per_s > 0 ? r.server_cpu * 1e9 / r.packets_per_s : 0;
    std::printf("%-6s %7zu %6zu %12.0f %9.1f %7" PRIu64 " %10.0f%% %10.0f%% %14.0f%s\n", r.mode, r.size, r.pairs,
                r.packets_per_s, r.mb_per_s, r.drops, r.server_cpu * 100, r.client_cpu * 100, ns_per_packet,
                r.ok ? "" : "  (connections lost)");
    if (r.stalls > 0) std::printf("       (%" PRIu64 " stalls: a pair's packets stopped arriving for 5 s)\n", r.stalls);
  }
}

// The window regime: every run, then the median per case of packets per server CPU-second.
void print_window(const Options& o, const std::vector<ThroughputRow>& rows) {
  std::printf("\nWindow regime: %zu packets in flight per pair (counted at the receiver), %.1f s measured after %.1f s\n"
              "warm-up, %zu runs per case; server %s; pps/server-CPU-s = packets delivered / server CPU seconds\n"
              "(/proc/<pid>/schedstat)\n",
              o.window_packets, o.seconds, o.warmup, o.repeat,
              o.pin ? "pinned to CPU 0, clients to CPU 1" : "and clients not pinned");
  std::printf("syscalls/pkt = the server's read + write system calls (/proc/<pid>/io syscr, syscw) per packet it\n"
              "wrote to a receiver; allocs/pkt = its heap allocations (counting malloc) per such packet\n");
  std::printf("%-6s %7s %6s %12s %11s %11s %7s %20s %9s %9s %11s\n", "mode", "size", "pairs", "packets/s",
              "server CPU", "client CPU", "drops", "pps/server-CPU-s", "reads/pkt", "writes/pkt", "allocs/pkt");
  for (std::size_t i = 0; i < rows.size();) {
    std::size_t j = i;
    std::vector<double> figures;
    while (j < rows.size() && rows[j].size == rows[i].size && rows[j].pairs == rows[i].pairs &&
           rows[j].mode == rows[i].mode) {
      const ThroughputRow& r = rows[j];
      std::printf("%-6s %7zu %6zu %12.0f %10.0f%% %10.0f%% %7" PRIu64 " %20.0f %9.3f %9.3f %11.4f%s\n", r.mode,
                  r.size, r.pairs, r.packets_per_s, r.server_cpu * 100, r.client_cpu * 100, r.drops,
                  r.packets_per_server_cpu, r.reads_per_packet, r.writes_per_packet, r.allocations_per_packet,
                  r.ok ? "" : "  (connections lost)");
      figures.push_back(r.packets_per_server_cpu);
      ++j;
    }
    std::sort(figures.begin(), figures.end());
    const double median = figures.size() % 2 == 1
                              ? figures[figures.size() / 2]
                              : (figures[figures.size() / 2 - 1] + figures[figures.size() / 2]) / 2;
    std::printf("%-6s %7zu %6zu   median of %zu: %.0f packets per server CPU-second\n", rows[i].mode, rows[i].size,
                rows[i].pairs, figures.size(), median);
    i = j;
  }
}

void print_memory(const std::vector<MemoryRow>& rows) {
  std::printf("\nMemory: the server's resident memory with idle connections (handshake completed, no traffic), minus\n"
              "the baseline (listening, after one connection came and went), divided by the connections. RSS is\n"
              "smaps_rollup Rss (exact); VmRSS for comparison. Handshakes/s while connecting (clients share the\n"
              "CPUs); server ms/hs = the server's CPU time per handshake, HTTP upgrade and DERP handshake included\n");
  std::printf("%-6s %11s %12s %12s %13s %12s %13s %13s %14s\n", "mode", "connections", "RSS total", "baseline",
              "B/connection", "anon B/conn", "VmRSS B/conn", "handshakes/s", "server ms/hs");
  for (const MemoryRow& r : rows) {
    const double n = static_cast<double>(r.connections > 0 ? r.connections : 1);
    const double per = (static_cast<double>(r.rss.total) - static_cast<double>(r.baseline.total)) / n;
    const double per_anon = (static_cast<double>(r.rss.anon) - static_cast<double>(r.baseline.anon)) / n;
    const double per_vm = (static_cast<double>(r.rss.vm_rss) - static_cast<double>(r.baseline.vm_rss)) / n;
    std::printf("%-6s %11zu %8.1f MiB %8.1f MiB %13.0f %12.0f %13.0f %13.0f %14.2f\n", r.mode, r.connections,
                mib(r.rss.total), mib(r.baseline.total), per, per_anon, per_vm, r.handshakes_per_s,
                r.server_cpu_ms_per_handshake);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (derp::bench::is_server_child(argc, argv)) return derp::bench::server_child_main(argc, argv);
  Options o;
  if (!parse_options(argc, argv, &o)) {
    usage();
    return 2;
  }
  install_exit_guards(o.quick ? 300 : 900);
  raise_fd_limit();
  print_header(argc, argv, o);
  const double start = now_seconds();

  std::vector<const char*> modes;
  std::vector<ThroughputRow> throughput;
  std::vector<MemoryRow> memory;
  if (o.window_mode) {
    std::printf("window regime...\n");
    if (o.plain) {
      for (const ThroughputRow& r : run_throughput(o, false)) throughput.push_back(r);
    }
    if (o.tls) {
      for (const ThroughputRow& r : run_throughput(o, true)) throughput.push_back(r);
    }
    print_window(o, throughput);
  }
  if (o.throughput) {
    std::printf("throughput...\n");
    if (o.plain) {
      for (const ThroughputRow& r : run_throughput(o, false)) throughput.push_back(r);
    }
    if (o.tls) {
      for (const ThroughputRow& r : run_throughput(o, true)) throughput.push_back(r);
    }
  }
  if (o.memory) {
    std::printf("memory...\n");
    if (o.plain) {
      for (const MemoryRow& r : run_memory(o, false)) memory.push_back(r);
    }
    if (o.tls) {
      for (const MemoryRow& r : run_memory(o, true)) memory.push_back(r);
    }
  }

  if (o.throughput) print_throughput(o, throughput);
  if (o.memory) print_memory(memory);
  std::printf("\ntotal time: %.1f s; load %s at the end\n", now_seconds() - start, load_average().c_str());
  return 0;
}
