#include "bench_server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <uv.h>

#include "alloc_counter.hpp"
#include "tls/server_config.hpp"
#include "uv/uv_server.hpp"

namespace derp::bench {

namespace {

// The live child, for the emergency paths (signal handlers, atexit). One server runs at a time.
volatile pid_t g_child = -1;

// Commands on the control pipe, one byte each.
constexpr char kCmdStats = 's';
constexpr char kCmdQuit = 'q';

bool write_all(int fd, const void* data, std::size_t len) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (len > 0) {
    const ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

// Reads exactly len bytes, waiting at most timeout_ms in total.
bool read_exact(int fd, void* data, std::size_t len, int timeout_ms) {
  auto* p = static_cast<std::uint8_t*>(data);
  const std::uint64_t deadline = uv_hrtime() + static_cast<std::uint64_t>(timeout_ms) * 1000000u;
  while (len > 0) {
    const std::uint64_t now = uv_hrtime();
    if (now >= deadline) return false;
    pollfd pfd{fd, POLLIN, 0};
    const int left_ms = static_cast<int>((deadline - now) / 1000000u) + 1;
    const int r = ::poll(&pfd, 1, left_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    const ssize_t n = ::read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

std::string hex(const std::uint8_t* p, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

bool unhex(const std::string& text, std::uint8_t* out, std::size_t n) {
  if (text.size() != 2 * n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string byte = text.substr(2 * i, 2);
    char* end = nullptr;
    const unsigned long v = std::strtoul(byte.c_str(), &end, 16);
    if (end != byte.c_str() + 2) return false;
    out[i] = static_cast<std::uint8_t>(v);
  }
  return true;
}

// ---- the child -------------------------------------------------------------------------------------------------

// Everything the child's loop callbacks need.
struct Child {
  std::unique_ptr<uv::UvServer> server;
  uv_pipe_t control{};
  uv_timer_t lifetime{};
  int report_fd = -1;
  char command_buffer[64];
  bool stopping = false;
};

void child_stop(Child& c) {
  if (c.stopping) return;
  c.stopping = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c.control), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.lifetime), nullptr);
  c.server->close();
}

void child_report_stats(Child& c) {
  const server::Counters& k = c.server->counters();
  ServerStats s;
  s.current_connections = k.current_connections;
  s.current_clients = k.current_clients;
  s.packets_received = k.packets_received;
  s.packets_sent = k.packets_sent;
  for (const auto& by_kind : k.packets_dropped) s.packets_dropped += by_kind[0] + by_kind[1];
  for (const auto& by_kind : k.bytes_dropped) s.bytes_dropped += by_kind[0] + by_kind[1];
  s.queued_bytes = k.queued_bytes;
  for (const std::uint64_t n : k.handshake_failures) s.handshake_failures += n;
  s.write_timeouts = k.sclient_write_timeouts;
  s.heap_allocations = heap_allocations();
  s.client_info_replays = k.client_info_replays;
  s.partial_frame_bytes = k.partial_frame_bytes;
  s.partial_frame_budget_closes = k.partial_frame_budget_closes;
  s.accepts = k.accepts;
  // A pipe takes this much at once; the parent reads each answer before asking again.
  write_all(c.report_fd, &s, sizeof s);
}

constexpr const char* kChildFlag = "--serve-child";

int child_main(bool tls, bool derper_limits, int control_fd, int report_fd) {
  signal(SIGINT, SIG_IGN);  // a ^C reaches the whole process group; the parent decides when we stop
  signal(SIGPIPE, SIG_IGN);

  Child c;
  c.report_fd = report_fd;
  uv::UvServerOptions o;
  if (crypto::generate_private(&o.core.private_key) != DERP_OK) return 2;
  o.tcp_listen = {"127.0.0.1:0"};
  if (!derper_limits) {
    o.core.queue_packets = kServerQueuePackets;
    o.core.queue_bytes = kServerQueueBytes;
  }
  // Under a tool (DERP_BENCH_SERVER_WRAP: callgrind runs ~50x slower) 16 handshakes take longer than the 10 s
  // handshake timeout.
  if (const char* wrap = std::getenv("DERP_BENCH_SERVER_WRAP"); wrap != nullptr && *wrap != '\0') {
    o.core.handshake_timeout = 300 * server::kSecond;
  }
  o.core.log = [](server::LogLevel level, std::string_view line) {
    if (level == server::LogLevel::Warn || level == server::LogLevel::Error) {
      std::fprintf(stderr, "  [server] %.*s\n", static_cast<int>(line.size()), line.data());
    }
  };
  std::unique_ptr<tls::ServerConfig> tls_config;
  std::string detail;
  if (tls) {
    if (tls::ServerConfig::self_signed("127.0.0.1", static_cast<std::int64_t>(std::time(nullptr)), &tls_config,
                                       &detail) != DERP_OK) {
      std::fprintf(stderr, "  [server] TLS config: %s\n", detail.c_str());
      return 3;
    }
    o.tls = tls_config.get();
  }
  crypto::NodePublic public_key;
  crypto::public_of(o.core.private_key, &public_key);
  if (uv::UvServer::create(nullptr, std::move(o), &c.server, &detail) != DERP_OK ||
      c.server->listen(&detail) != DERP_OK) {
    std::fprintf(stderr, "  [server] %s\n", detail.c_str());
    return 4;
  }
  uv_loop_t* loop = c.server->loop();

  // "<port> <public key hex> <cert pin or ->\n"
  const std::string line = std::to_string(c.server->tcp_addresses().at(0).port) + " " +
                           hex(public_key.data(), public_key.bytes().size()) + " " +
                           (tls ? tls_config->cert_name() : std::string("-")) + "\n";
  if (!write_all(report_fd, line.data(), line.size())) return 5;

  uv_pipe_init(loop, &c.control, 0);
  uv_pipe_open(&c.control, control_fd);
  c.control.data = &c;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c.control),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* self = static_cast<Child*>(h->data);
        *buf = uv_buf_init(self->command_buffer, sizeof self->command_buffer);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* self = static_cast<Child*>(s->data);
        if (nread < 0) {  // the parent went away or closed the pipe: stop
          child_stop(*self);
          return;
        }
        for (ssize_t i = 0; i < nread && !self->stopping; ++i) {
          if (buf->base[i] == kCmdStats) child_report_stats(*self);
          if (buf->base[i] == kCmdQuit) child_stop(*self);
        }
      });
  uv_timer_init(loop, &c.lifetime);
  c.lifetime.data = &c;
  uv_timer_start(&c.lifetime, [](uv_timer_t* t) { child_stop(*static_cast<Child*>(t->data)); }, kChildLifetimeMs, 0);

  c.server->run();
  c.server.reset();
  return 0;
}

}  // namespace

bool is_server_child(int argc, char** argv) { return argc == 5 && std::strcmp(argv[1], kChildFlag) == 0; }

int server_child_main(int argc, char** argv) {
  if (!is_server_child(argc, argv)) return 2;
  return child_main(std::strcmp(argv[2], "tls") == 0, std::strcmp(argv[2], "plain-derper") == 0, std::atoi(argv[3]),
                    std::atoi(argv[4]));
}

// ---- /proc -----------------------------------------------------------------------------------------------------

namespace {

// The "Name:  <n> kB" lines of a /proc file, as bytes.
void read_kib_fields(const std::string& path, const char* const* names, std::uint64_t* const* outs, std::size_t n,
                     bool* found_first) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    std::uint64_t kib = 0;
    if (!(fields >> name >> kib)) continue;
    for (std::size_t i = 0; i < n; ++i) {
      if (name == names[i]) {
        *outs[i] = kib * 1024;
        if (i == 0) *found_first = true;
      }
    }
  }
}

}  // namespace

bool read_rss(pid_t pid, Rss* out) {
  const std::string dir = "/proc/" + std::to_string(pid);
  const char* const rollup_names[] = {"Rss:", "Anonymous:"};
  std::uint64_t* const rollup_outs[] = {&out->total, &out->anon};
  bool rollup = false;
  read_kib_fields(dir + "/smaps_rollup", rollup_names, rollup_outs, 2, &rollup);
  const char* const status_names[] = {"VmRSS:", "RssAnon:"};
  std::uint64_t status_anon = 0;
  std::uint64_t* const status_outs[] = {&out->vm_rss, &status_anon};
  bool status = false;
  read_kib_fields(dir + "/status", status_names, status_outs, 2, &status);
  if (!rollup && status) {  // a kernel without smaps_rollup (before 4.14)
    out->total = out->vm_rss;
    out->anon = status_anon;
  }
  return rollup || status;
}

bool read_syscall_counts(pid_t pid, SyscallCounts* out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/io");
  std::string name;
  std::uint64_t value = 0;
  bool found = false;
  while (in >> name >> value) {
    if (name == "syscr:") {
      out->reads = value;
      found = true;
    } else if (name == "syscw:") {
      out->writes = value;
    }
  }
  return found;
}

double read_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
  const std::size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// ---- the parent's side -----------------------------------------------------------------------------------------

void kill_server_child_now() {
  const pid_t pid = g_child;
  if (pid > 0) ::kill(pid, SIGKILL);
}

bool ServerProcess::start(bool tls, std::string* error, bool derper_limits) {
  int control[2];
  int report[2];
  if (pipe2(control, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  // The child writes to the same stdout and stderr: what we printed so far comes first.
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    // Die with the parent whatever way it ends, so a crashed benchmark leaves no server behind (this survives
    // the exec). If the parent is already gone, stop here.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    // Only these two descriptors cross the exec; everything else of ours is close-on-exec (libuv's too).
    fcntl(control[0], F_SETFD, 0);
    fcntl(report[1], F_SETFD, 0);
    const std::string control_fd = std::to_string(control[0]);
    const std::string report_fd = std::to_string(report[1]);
    const char* mode = tls ? "tls" : derper_limits ? "plain-derper" : "plain";
    const char* args[] = {"bench_server", kChildFlag, mode, control_fd.c_str(), report_fd.c_str(), nullptr};
    // DERP_BENCH_SERVER_WRAP runs the server under a tool (valgrind --tool=callgrind ..., strace -c ...): the
    // command is split at spaces and the server's own command line follows it.
    if (const char* wrap = std::getenv("DERP_BENCH_SERVER_WRAP"); wrap != nullptr && *wrap != '\0') {
      static char exe[4096];
      const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
      if (len > 0) {
        exe[len] = '\0';
        static std::string words(wrap);
        std::vector<char*> argv;
        for (char* word = std::strtok(words.data(), " "); word != nullptr; word = std::strtok(nullptr, " ")) {
          argv.push_back(word);
        }
        argv.push_back(exe);
        for (std::size_t i = 1; args[i] != nullptr; ++i) argv.push_back(const_cast<char*>(args[i]));
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
      }
    }
    execv("/proc/self/exe", const_cast<char* const*>(args));
    // _exit: the parent's atexit handlers and stdio buffers are not ours to run.
    _exit(127);
  }
  ::close(control[0]);
  ::close(report[1]);
  pid_ = pid;
  g_child = pid;
  control_fd_ = control[1];
  report_fd_ = report[0];

  // The first line: the bound port, the public key and the certificate pin. TLS key generation takes a moment.
  std::string line;
  for (;;) {
    char ch = 0;
    if (!read_exact(report_fd_, &ch, 1, 10000)) {
      *error = "the server child did not report its address";
      stop();
      return false;
    }
    if (ch == '\n') break;
    line += ch;
  }
  std::istringstream fields(line);
  unsigned port = 0;
  std::string key_hex;
  std::string pin;
  fields >> port >> key_hex >> pin;
  crypto::KeyBytes raw{};
  if (port == 0 || !unhex(key_hex, raw.data(), raw.size())) {
    *error = "the server child reported \"" + line + "\"";
    stop();
    return false;
  }
  public_key_ = crypto::NodePublic(raw);
  cert_name_ = pin == "-" ? "" : pin;
  address_ = derp_addr{};
  address_.family = DERP_AF_INET;
  address_.ip[0] = 127;
  address_.ip[3] = 1;
  address_.port = static_cast<std::uint16_t>(port);
  return true;
}

bool ServerProcess::stats(ServerStats* out) {
  if (pid_ <= 0) return false;
  if (!write_all(control_fd_, &kCmdStats, 1)) return false;
  return read_exact(report_fd_, out, sizeof *out, 5000);
}

Rss ServerProcess::rss() const {
  Rss r;
  if (pid_ > 0) read_rss(pid_, &r);
  return r;
}

void ServerProcess::stop() {
  if (pid_ <= 0) return;
  write_all(control_fd_, &kCmdQuit, 1);
  // A clean exit closes every connection properly; give it 2 s, then kill.
  bool exited = false;
  for (int i = 0; i < 200 && !exited; ++i) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || r < 0) {
      exited = true;
    } else {
      usleep(10000);
    }
  }
  if (!exited) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  ::close(control_fd_);
  ::close(report_fd_);
  control_fd_ = report_fd_ = -1;
  g_child = -1;
  pid_ = -1;
}

}  // namespace derp::bench
