// The DERP server under test, in a child process, so that what /proc says about its memory and CPU time is the
// server's alone: the benchmark's clients live in the parent and never pollute those figures.
//
//   ServerProcess server;
//   server.start(/*tls=*/false, &error);   // forks; the child serves on 127.0.0.1:<server.port()>
//   server.stats(&s); server.rss();        // ask the child, read /proc/<pid>
//   server.stop();                         // also done by the destructor, atexit and the signal handlers
//
// The child is this same program run again (fork, then exec of /proc/self/exe with --serve-child): a fresh image,
// so the server's memory starts from nothing rather than from a copy of the parent's heap, whose free pages the
// child's allocator would reuse and hide connection costs in.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "crypto/node_key.hpp"
#include "derp/common.h"

namespace derp::bench {

// The server's own limits while benchmarked. The per-connection queue is made large so a burst of small packets
// read from one socket is not cut to derper's 32 packets: the clients bound what is in flight (a window per
// pair), so throughput is limited by the server's work, not by drops.
inline constexpr std::size_t kServerQueuePackets = 1u << 20;
inline constexpr std::size_t kServerQueueBytes = 1u << 30;
// The child ends itself after this long whatever happens (the parent normally stops it much sooner).
inline constexpr std::uint64_t kChildLifetimeMs = 20 * 60 * 1000;

// What the child reports on request, from the core's counters.
struct ServerStats {
  std::uint64_t current_connections = 0;
  std::uint64_t current_clients = 0;
  std::uint64_t packets_received = 0;
  std::uint64_t packets_sent = 0;
  std::uint64_t packets_dropped = 0;  // every reason and kind
  std::uint64_t bytes_dropped = 0;
  std::uint64_t queued_bytes = 0;
  std::uint64_t handshake_failures = 0;  // every reason
  std::uint64_t write_timeouts = 0;
  std::uint64_t heap_allocations = 0;  // every malloc/calloc/realloc of the child so far (alloc_counter.hpp)
  std::uint64_t client_info_replays = 0;
  std::uint64_t partial_frame_bytes = 0;
  std::uint64_t partial_frame_budget_closes = 0;
  std::uint64_t accepts = 0;
};

// Read and write system calls of a process so far (/proc/<pid>/io syscr, syscw: read/readv and write/writev on
// sockets count; epoll_wait, recvmsg and sendmsg do not).
struct SyscallCounts {
  std::uint64_t reads = 0;
  std::uint64_t writes = 0;
};
bool read_syscall_counts(pid_t pid, SyscallCounts* out);

// A process's resident memory, in bytes. total and anon come from /proc/<pid>/smaps_rollup, which walks the page
// tables and is exact; VmRSS in /proc/<pid>/status comes from counters the kernel keeps lazily (per thread, per
// CPU since Linux 6.2) and may lag by a few hundred KiB, which is the whole signal at 1,000 plain connections. It
// is kept for comparison.
struct Rss {
  std::uint64_t total = 0;   // smaps_rollup Rss
  std::uint64_t anon = 0;    // smaps_rollup Anonymous
  std::uint64_t vm_rss = 0;  // status VmRSS
};
bool read_rss(pid_t pid, Rss* out);
// utime + stime of a process, in seconds.
double read_cpu_seconds(pid_t pid);

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Forks the child, which listens on 127.0.0.1:0 (TLS with a fresh self-signed certificate for 127.0.0.1 when
  // tls) and reports its port, public key and certificate pin. false with *error when that fails.
  // derper_limits: the core's default per-connection queue bounds (derper's 32 packets, 1 MiB) instead of the
  // throughput benchmarks' unbounded ones; bench_soak uses them, since it measures what attacks do to a server
  // configured as deployed.
  bool start(bool tls, std::string* error, bool derper_limits = false);
  // Asks the child for its counters (waits at most a few seconds).
  bool stats(ServerStats* out);
  Rss rss() const;
  double cpu_seconds() const { return read_cpu_seconds(pid_); }
  SyscallCounts syscalls() const {
    SyscallCounts c;
    if (pid_ > 0) read_syscall_counts(pid_, &c);
    return c;
  }
  // Asks the child to close the server and exit; kills it when it does not within 2 s. Idempotent.
  void stop();

  pid_t pid() const { return pid_; }
  const derp_addr& address() const { return address_; }
  const crypto::NodePublic& public_key() const { return public_key_; }
  const std::string& cert_name() const { return cert_name_; }  // "" for plain TCP

 private:
  pid_t pid_ = -1;
  int control_fd_ = -1;  // parent → child commands
  int report_fd_ = -1;   // child → parent answers
  derp_addr address_{};
  crypto::NodePublic public_key_;
  std::string cert_name_;
};

// main() starts with this: true when argv asks for the server child, which then runs and returns its exit code.
bool is_server_child(int argc, char** argv);
int server_child_main(int argc, char** argv);

// Kills any live child from a signal handler or atexit: the benchmark must never leave a server behind.
void kill_server_child_now();

}  // namespace derp::bench
