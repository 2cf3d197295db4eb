// What rejecting a bad connection costs the server (issue 15): the server runs in a child process (so its CPU time
// is its own), the parent opens connections one after another that the server must refuse, and prints the server's
// and the load generator's CPU microseconds per connection for each kind of bad connection, with an honest full
// handshake as the yardstick.
//
//   bench_reject [--count=N]      N connections per kind (default 2000)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bench_server_process.hpp"
#include "crypto/sealed_info.hpp"
#include "frame/header.hpp"
#include "uv/socket_address.hpp"

namespace {

using derp::bench::ServerProcess;

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
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

int dial(const derp_addr& to) {
  sockaddr_storage sa;
  derp::uv::to_sockaddr(to, &sa);
  const int fd = ::socket(sa.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
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

// Sends `bytes`, then reads until the server ends the connection (or, with `enough`, until enough(received) says
// so, then closes itself). True when the server ended it (or enough came).
bool exchange(const derp_addr& to, const std::string& bytes,
              const std::function<bool(const std::string&)>& enough = nullptr) {
  const int fd = dial(to);
  if (fd < 0) return false;
  if (!bytes.empty() && ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
    ::close(fd);
    return true;  // reset while sending: refused
  }
  std::string got;
  char buf[4096];
  bool ok = false;
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      ok = !enough;
      break;
    }
    if (n < 0) break;  // timeout: the server kept it open
    got.append(buf, static_cast<std::size_t>(n));
    if (enough && enough(got)) {
      ok = true;
      break;
    }
  }
  ::close(fd);
  return ok;
}

std::string frame_text(std::uint8_t type, const std::vector<std::uint8_t>& payload) {
  std::string f(derp::frame::kHeaderLen, '\0');
  derp::frame::write_header(reinterpret_cast<std::uint8_t*>(f.data()), type, static_cast<std::uint32_t>(payload.size()));
  f.append(payload.begin(), payload.end());
  return f;
}

const std::string kUpgrade = "GET /derp HTTP/1.1\r\nHost: bench\r\nConnection: Upgrade\r\nUpgrade: DERP\r\n\r\n";

std::vector<std::uint8_t> client_info_for(const derp::crypto::NodePublic& server) {
  derp::crypto::NodePrivate k;
  derp::crypto::generate_private(&k);
  derp::crypto::ClientInfo info;
  info.version = 2;
  info.can_ack_pings = true;
  std::vector<std::uint8_t> payload;
  derp::crypto::seal_client_info(k, server, info, &payload);
  return payload;
}

}  // namespace

int main(int argc, char** argv) {
  if (derp::bench::is_server_child(argc, argv)) return derp::bench::server_child_main(argc, argv);
  int count = 2000;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--count=", 8) == 0) count = std::atoi(argv[i] + 8);
  }
  ServerProcess server;
  std::string error;
  if (!server.start(false, &error)) {
    std::fprintf(stderr, "server: %s\n", error.c_str());
    return 1;
  }
  const derp_addr to = server.address();
  derp::crypto::NodePrivate other;
  derp::crypto::generate_private(&other);
  derp::crypto::NodePublic other_pub;
  derp::crypto::public_of(other, &other_pub);

  struct Kind {
    const char* name;
    std::function<bool()> run;
  };
  const std::vector<Kind> kinds = {
      {"connect, then the client hangs up at once", [&] {
         const int fd = dial(to);
         if (fd >= 0) ::close(fd);
         return fd >= 0;
       }},
      {"garbage HTTP head (400)", [&] { return exchange(to, "NOT HTTP AT ALL\r\n\r\n"); }},
      {"upgrade, then a frame that is not ClientInfo", [&] { return exchange(to, kUpgrade + frame_text(4, std::vector<std::uint8_t>(40))); }},
      {"upgrade, SendPacket header of 4 GiB", [&] {
         std::string h(5, '\0');
         derp::frame::write_header(reinterpret_cast<std::uint8_t*>(h.data()), 2, 0xFFFFFFFFu);
         return exchange(to, kUpgrade + h);
       }},
      {"upgrade, ClientInfo sealed to another key", [&] {
         return exchange(to, kUpgrade + frame_text(2, client_info_for(other_pub)));
       }},
      {"honest handshake, then close (yardstick)", [&] {
         // Waits for the 101, the ServerKey frame (45 bytes) and the ServerInfo frame's header, then hangs up.
         return exchange(to, kUpgrade + frame_text(2, client_info_for(server.public_key())), [](const std::string& got) {
           const std::size_t head = got.find("\r\n\r\n");
           return head != std::string::npos && got.size() >= head + 4 + 45 + 5;
         });
       }},
  };

  std::printf("bench_reject: %d connections per kind, one at a time, plain TCP on loopback\n", count);
  std::printf("machine: %s, %ld CPUs online\n", cpu_model().c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("%-48s %14s %14s %8s\n", "kind", "server us/conn", "client us/conn", "refused");
  for (const Kind& k : kinds) {
    for (int i = 0; i < 50; ++i) k.run();  // warm-up
    const double s0 = server.cpu_seconds();
    const double c0 = own_cpu_seconds();
    int refused = 0;
    for (int i = 0; i < count; ++i) refused += k.run() ? 1 : 0;
    const double s1 = server.cpu_seconds();
    const double c1 = own_cpu_seconds();
    std::printf("%-48s %14.1f %14.1f %8d\n", k.name, (s1 - s0) * 1e6 / count, (c1 - c0) * 1e6 / count, refused);
    std::fflush(stdout);
  }
  derp::bench::ServerStats st;
  if (server.stats(&st)) {
    std::printf("server after the run: %llu open connections, %llu handshake failures counted\n",
                static_cast<unsigned long long>(st.current_connections),
                static_cast<unsigned long long>(st.handshake_failures));
  }
  server.stop();
  return 0;
}
