// Soak (issue 15): honest clients relay at a fixed rate through a server in a child process (derper's default
// queue limits) while idle clients sit connected, clients churn (connect, handshake, leave) and attack patterns
// take turns for a bounded time. Every sample prints what the honest pairs delivered in that window, the server's
// resident memory, its open descriptors, connections, queued bytes and drops, so growth or loss shows at once.
//
//   bench_soak [--seconds=S] [--idle=N] [--pairs=N] [--rate=PPS] [--size=B] [--churn=PER_S] [--sample=S]
//              [--phase=S] [--attackers=N]
//
// The attacks (each for --phase seconds, in turn, from one fifth of the run to four fifths; then a quiet tail):
//   slowloris      N connections each send half an HTTP head and wait (the handshake timeout ends them)
//   partial        N connections upgrade, log in, announce a 64 KiB SendPacket and send half of it, then wait
//   garbage        connections one after another: garbage HTTP heads, 4 GiB frame headers, bad ClientInfo boxes
//   replay         one captured ClientInfo replayed on new connections while its owner stays connected
//   nonreader      a client that never reads, flooded with 1 KiB packets by another
// Honest packets are counted when the sender hands them to its socket and when the receiver reads them; a window's
// delivery is received / sent in that window (packets in flight at its edges move a little between windows).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_client.hpp"
#include "bench_server_process.hpp"
#include "crypto/sealed_info.hpp"
#include "frame/header.hpp"
#include "uv/socket_address.hpp"

namespace {

using derp::Bytes;
using derp::bench::ClientConn;
using derp::bench::Fleet;
using derp::bench::ServerProcess;
using Clock = std::chrono::steady_clock;

struct Options {
  double seconds = 200;
  std::size_t idle = 1000;
  std::size_t pairs = 20;
  double rate = 5000;  // honest packets per second, all pairs together
  std::size_t size = 256;
  double churn = 50;  // connect-handshake-leave cycles per second
  double sample = 10;
  double phase = 20;
  std::size_t attackers = 200;  // connections per slowloris / partial wave
};

double arg_number(const char* arg, const char* name, double fallback) {
  const std::size_t n = std::strlen(name);
  return std::strncmp(arg, name, n) == 0 ? std::atof(arg + n) : fallback;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::size_t open_fds(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::size_t n = 0;
  while (const dirent* e = readdir(d)) n += e->d_name[0] != '.' ? 1 : 0;
  closedir(d);
  return n;
}

// ---- the attackers' blocking sockets (their own thread) ----------------------------------------------------------

int dial(const derp_addr& to, int timeout_s = 5) {
  sockaddr_storage sa;
  derp::uv::to_sockaddr(to, &sa);
  const int fd = ::socket(sa.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sockaddr_in)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

// Reads until the peer ends the connection or the timeout; false on timeout.
bool read_to_end(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n < 0) return false;
  }
}

// Reads the 101 head, the ServerKey frame and the ServerInfo frame's header: the server registered us.
bool read_login(int fd) {
  std::string got;
  char buf[4096];
  while (true) {
    const std::size_t head = got.find("\r\n\r\n");
    if (head != std::string::npos && got.size() >= head + 4 + 45 + 5) return true;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got.append(buf, static_cast<std::size_t>(n));
  }
}

std::string frame_text(std::uint8_t type, const std::vector<std::uint8_t>& payload, std::uint32_t announced = 0) {
  std::string f(derp::frame::kHeaderLen, '\0');
  derp::frame::write_header(reinterpret_cast<std::uint8_t*>(f.data()), type,
                            announced != 0 ? announced : static_cast<std::uint32_t>(payload.size()));
  f.append(payload.begin(), payload.end());
  return f;
}

const std::string kUpgrade = "GET /derp HTTP/1.1\r\nHost: soak\r\nConnection: Upgrade\r\nUpgrade: DERP\r\n\r\n";

struct Login {
  derp::crypto::NodePublic key;
  std::string bytes;  // upgrade + ClientInfo frame
};

Login login_for(const derp::crypto::NodePublic& server, const derp::crypto::NodePublic* seal_to = nullptr) {
  derp::crypto::NodePrivate k;
  derp::crypto::generate_private(&k);
  Login l;
  derp::crypto::public_of(k, &l.key);
  derp::crypto::ClientInfo info;
  info.version = 2;
  std::vector<std::uint8_t> payload;
  derp::crypto::seal_client_info(k, seal_to != nullptr ? *seal_to : server, info, &payload);
  l.bytes = kUpgrade + frame_text(2, payload);
  return l;
}

class Attacks {
 public:
  Attacks(const derp_addr& to, const derp::crypto::NodePublic& server_key, const Options& o)
      : to_(to), server_key_(server_key), o_(o) {}

  std::atomic<int> phase{-1};  // index into names(), -1 = none
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> churned{0};
  static const std::vector<const char*>& names() {
    static const std::vector<const char*> n = {"slowloris", "partial", "garbage", "replay", "nonreader"};
    return n;
  }

  // Churn: an honest login, then leave, at the given rate, for the whole run.
  void churn_loop() {
    const auto step = std::chrono::duration<double>(1.0 / std::max(o_.churn, 0.1));
    auto next = Clock::now();
    while (!stop) {
      const Login l = login_for(server_key_);
      const int fd = dial(to_);
      if (fd >= 0) {
        if (send_all(fd, l.bytes) && read_login(fd)) ++churned;
        ::close(fd);
      }
      next += std::chrono::duration_cast<Clock::duration>(step);
      std::this_thread::sleep_until(next);
    }
  }

  // Runs the attack of each phase while it lasts.
  void attack_loop() {
    while (!stop) {
      const int p = phase;
      if (p < 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      switch (p) {
        case 0: hold_many(p, [](int fd) { return send_all(fd, "GET /derp HTTP/1.1\r\nHost: so"); }); break;
        case 1: hold_many(p, [this](int fd) { return partial_frame(fd); }); break;
        case 2: garbage(p); break;
        case 3: replay(p); break;
        case 4: nonreader(p); break;
        default: break;
      }
    }
  }

 private:
  template <class Start>
  void hold_many(int p, Start start) {
    std::vector<int> fds;
    for (std::size_t i = 0; i < o_.attackers && phase == p && !stop; ++i) {
      const int fd = dial(to_);
      if (fd < 0) continue;
      if (start(fd)) {
        fds.push_back(fd);
      } else {
        ::close(fd);
      }
    }
    while (phase == p && !stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (const int fd : fds) ::close(fd);
  }

  bool partial_frame(int fd) {
    const Login l = login_for(server_key_);
    if (!send_all(fd, l.bytes) || !read_login(fd)) return false;
    std::vector<std::uint8_t> half(32 + 32 * 1024, 0x55);
    return send_all(fd, frame_text(4, half, 32 + 64 * 1024));  // SendPacket of 64 KiB announced, half sent
  }

  void garbage(int p) {
    derp::crypto::NodePrivate other;
    derp::crypto::generate_private(&other);
    derp::crypto::NodePublic other_pub;
    derp::crypto::public_of(other, &other_pub);
    std::string huge(5, '\0');
    derp::frame::write_header(reinterpret_cast<std::uint8_t*>(huge.data()), 2, 0xFFFFFFFFu);
    huge += std::string(60000, 'z');
    for (int i = 0; phase == p && !stop; ++i) {
      const int fd = dial(to_);
      if (fd < 0) continue;
      const std::string bytes = i % 3 == 0   ? std::string("NOT HTTP AT ALL\r\n\r\n")
                                : i % 3 == 1 ? kUpgrade + huge
                                             : login_for(server_key_, &other_pub).bytes;
      send_all(fd, bytes);
      read_to_end(fd);
      ::close(fd);
    }
  }

  void replay(int p) {
    const Login owner = login_for(server_key_);
    const int keep = dial(to_);
    if (keep < 0 || !send_all(keep, owner.bytes) || !read_login(keep)) {
      if (keep >= 0) ::close(keep);
      return;
    }
    while (phase == p && !stop) {
      const int fd = dial(to_);
      if (fd < 0) continue;
      send_all(fd, owner.bytes);
      read_to_end(fd);
      ::close(fd);
    }
    ::close(keep);
  }

  void nonreader(int p) {
    const Login victim = login_for(server_key_);
    const int v = dial(to_);
    int rcvbuf = 4096;
    if (v >= 0) setsockopt(v, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (v < 0 || !send_all(v, victim.bytes) || !read_login(v)) {
      if (v >= 0) ::close(v);
      return;
    }
    // From now on the victim reads nothing. The flooder logs in and sends 1 KiB packets to it without pause; when
    // the server closes the victim (write timeout) the flooder's packets are dropped as unknown destination.
    const Login flooder = login_for(server_key_);
    const int f = dial(to_, 1);
    if (f >= 0 && send_all(f, flooder.bytes) && read_login(f)) {
      std::vector<std::uint8_t> payload(32 + 1024, 0x42);
      std::copy(victim.key.bytes().begin(), victim.key.bytes().end(), payload.begin());
      std::string burst;
      for (int i = 0; i < 32; ++i) burst += frame_text(4, payload);
      while (phase == p && !stop && send_all(f, burst)) {
        char sink[4096];
        while (::recv(f, sink, sizeof sink, MSG_DONTWAIT) > 0) {}  // the flooder itself reads what comes
      }
    }
    if (f >= 0) ::close(f);
    ::close(v);
  }

  derp_addr to_;
  derp::crypto::NodePublic server_key_;
  Options o_;
};

// ---- the honest pairs (the parent's libuv loop) --------------------------------------------------------------------

class Honest : public derp::bench::ClientEvents {
 public:
  Honest(Fleet& fleet, const Options& o) : fleet_(fleet), o_(o) {}

  // The first 2 × pairs connections are the pairs; the rest idle.
  void assign() {
    auto& conns = fleet_.conns();
    const std::size_t frame_len = derp::frame::kHeaderLen + DERP_KEY_LEN + o_.size;
    for (std::size_t i = 0; i < o_.pairs; ++i) {
      ClientConn* s = conns[2 * i].get();
      ClientConn* r = conns[2 * i + 1].get();
      s->tag = r->tag = i;
      s->is_sender = true;
      std::vector<std::uint8_t>& f = frames_.emplace_back(frame_len);
      derp::frame::write_header(f.data(), derp::frame::type_byte(derp::frame::FrameType::SendPacket),
                                static_cast<std::uint32_t>(DERP_KEY_LEN + o_.size));
      std::copy(r->public_key().bytes().begin(), r->public_key().bytes().end(), f.begin() + derp::frame::kHeaderLen);
      senders_.push_back(s);
      receivers_.push_back(r);
    }
    credit_.assign(o_.pairs, 0.0);
  }

  // Gives each sender its share of `seconds` worth of packets and lets it send.
  void refill(double seconds) {
    const double each = o_.rate * seconds / static_cast<double>(std::max<std::size_t>(o_.pairs, 1));
    for (std::size_t i = 0; i < senders_.size(); ++i) {
      credit_[i] = std::min(credit_[i] + each, 64.0);  // a sender that fell behind does not burst without end
      senders_[i]->pump();
    }
  }

  Bytes next_send(ClientConn& c) override {
    if (!c.is_sender || c.tag >= credit_.size() || credit_[c.tag] < 1.0) return {};
    credit_[c.tag] -= 1.0;
    ++sent_;
    return Bytes(frames_[c.tag]);
  }

  std::uint64_t sent() const { return sent_; }
  std::uint64_t received() const {
    std::uint64_t n = 0;
    for (const ClientConn* r : receivers_) n += r->packets_received;
    return n;
  }

 private:
  Fleet& fleet_;
  Options o_;
  std::vector<std::vector<std::uint8_t>> frames_;
  std::vector<ClientConn*> senders_, receivers_;
  std::vector<double> credit_;
  std::uint64_t sent_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (derp::bench::is_server_child(argc, argv)) return derp::bench::server_child_main(argc, argv);
  Options o;
  for (int i = 1; i < argc; ++i) {
    o.seconds = arg_number(argv[i], "--seconds=", o.seconds);
    o.idle = static_cast<std::size_t>(arg_number(argv[i], "--idle=", static_cast<double>(o.idle)));
    o.pairs = std::max<std::size_t>(1, static_cast<std::size_t>(arg_number(argv[i], "--pairs=", static_cast<double>(o.pairs))));
    o.rate = arg_number(argv[i], "--rate=", o.rate);
    o.size = static_cast<std::size_t>(arg_number(argv[i], "--size=", static_cast<double>(o.size)));
    o.churn = arg_number(argv[i], "--churn=", o.churn);
    o.sample = std::max(1.0, arg_number(argv[i], "--sample=", o.sample));
    o.phase = std::max(1.0, arg_number(argv[i], "--phase=", o.phase));
    o.attackers = static_cast<std::size_t>(arg_number(argv[i], "--attackers=", static_cast<double>(o.attackers)));
  }
  // Room for the idle clients, the pairs and the attackers on both sides (the child inherits the limit).
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);

  ServerProcess server;
  std::string error;
  if (!server.start(false, &error, /*derper_limits=*/true)) {
    std::fprintf(stderr, "server: %s\n", error.c_str());
    return 1;
  }
  std::printf("bench_soak: %.0f s; %zu idle clients, %zu pairs at %.0f packets/s in all (%zu B), churn %.0f/s; "
              "attacks (%zu connections a wave) from %.0f s to %.0f s, %.0f s each; plain TCP on loopback\n",
              o.seconds, o.idle, o.pairs, o.rate, o.size, o.churn, o.attackers, o.seconds / 5, o.seconds * 4 / 5,
              o.phase);
  std::printf("machine: %s, %ld CPUs online; server in a child process with derper's queue limits\n",
              cpu_model().c_str(), sysconf(_SC_NPROCESSORS_ONLN));

  derp::bench::Target target;
  target.address = server.address();
  target.server_key = server.public_key();
  Fleet fleet(target);
  Honest honest(fleet, o);
  fleet.set_events(&honest);
  fleet.open(2 * o.pairs + o.idle, 64);
  if (!fleet.run_until([&] { return fleet.settled(); }, 120) || fleet.ready_count() != 2 * o.pairs + o.idle) {
    std::fprintf(stderr, "only %zu of %zu clients connected: %s\n", fleet.ready_count(), 2 * o.pairs + o.idle,
                 fleet.first_error().c_str());
    return 1;
  }
  honest.assign();

  Attacks attacks(server.address(), server.public_key(), o);
  std::thread churner([&] { attacks.churn_loop(); });
  std::thread attacker([&] { attacks.attack_loop(); });

  std::printf("%6s %-10s %8s %8s %7s %6s %9s %9s %5s %9s %8s %8s %7s %7s\n", "t(s)", "attack", "sent", "recv",
              "deliv%", "conns", "rss(MiB)", "anon(MiB)", "fds", "queued(K)", "drops", "hs_fail", "replays",
              "churned");
  const auto start = Clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  double next_sample = o.sample;
  std::uint64_t last_sent = 0, last_recv = 0;
  std::uint64_t total_sent_attack = 0, total_recv_attack = 0;
  std::uint64_t peak_rss = 0;
  std::size_t peak_fds = 0;
  derp::bench::Rss base_rss = server.rss();
  const std::size_t base_fds = open_fds(server.pid());
  while (elapsed() < o.seconds) {
    fleet.run_for(0.01);
    honest.refill(0.01);
    const double t = elapsed();
    const bool attacking = t >= o.seconds / 5 && t < o.seconds * 4 / 5;
    attacks.phase = attacking ? static_cast<int>((t - o.seconds / 5) / o.phase) % static_cast<int>(Attacks::names().size())
                              : -1;
    if (t < next_sample) continue;
    next_sample += o.sample;
    derp::bench::ServerStats st;
    server.stats(&st);
    const derp::bench::Rss rss = server.rss();
    const std::size_t fds = open_fds(server.pid());
    const std::uint64_t sent = honest.sent(), recv = honest.received();
    const std::uint64_t ds = sent - last_sent, dr = recv - last_recv;
    if (attacking) {
      total_sent_attack += ds;
      total_recv_attack += dr;
    }
    last_sent = sent;
    last_recv = recv;
    peak_rss = std::max(peak_rss, rss.total);
    peak_fds = std::max(peak_fds, fds);
    const int p = attacks.phase;
    std::printf("%6.0f %-10s %8llu %8llu %7.2f %6llu %9.1f %9.1f %5zu %9.1f %8llu %8llu %7llu %7llu\n", t,
                p < 0 ? "-" : Attacks::names()[static_cast<std::size_t>(p)], static_cast<unsigned long long>(ds),
                static_cast<unsigned long long>(dr), ds == 0 ? 0.0 : 100.0 * static_cast<double>(dr) / static_cast<double>(ds),
                static_cast<unsigned long long>(st.current_connections), static_cast<double>(rss.total) / 1048576.0,
                static_cast<double>(rss.anon) / 1048576.0, fds, static_cast<double>(st.queued_bytes) / 1024.0,
                static_cast<unsigned long long>(st.packets_dropped), static_cast<unsigned long long>(st.handshake_failures),
                static_cast<unsigned long long>(st.client_info_replays),
                static_cast<unsigned long long>(attacks.churned.load()));
    std::fflush(stdout);
  }
  attacks.stop = true;
  attacks.phase = -1;
  churner.join();
  attacker.join();
  fleet.run_for(2);  // the last packets in flight
  const derp::bench::Rss end_rss = server.rss();
  const std::size_t end_fds = open_fds(server.pid());
  derp::bench::ServerStats st;
  server.stats(&st);
  std::printf("honest delivery: %.3f %% overall (%llu of %llu), %.3f %% while attacked; lost connections %zu\n",
              honest.sent() == 0 ? 0.0 : 100.0 * static_cast<double>(honest.received()) / static_cast<double>(honest.sent()),
              static_cast<unsigned long long>(honest.received()), static_cast<unsigned long long>(honest.sent()),
              total_sent_attack == 0 ? 0.0 : 100.0 * static_cast<double>(total_recv_attack) / static_cast<double>(total_sent_attack),
              fleet.lost_count());
  std::printf("server rss: %.1f MiB before the attacks, peak %.1f, %.1f at the end; fds %zu before, peak %zu, %zu at "
              "the end; %llu connections open at the end (%zu clients of ours); partial-frame budget closes %llu\n",
              static_cast<double>(base_rss.total) / 1048576.0, static_cast<double>(peak_rss) / 1048576.0,
              static_cast<double>(end_rss.total) / 1048576.0, base_fds, peak_fds, end_fds,
              static_cast<unsigned long long>(st.current_connections), 2 * o.pairs + o.idle,
              static_cast<unsigned long long>(st.partial_frame_budget_closes));
  fleet.close_all();
  server.stop();
  return 0;
}
