#include "test_uv_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <thread>

#include "crypto/client_info.hpp"
#include "crypto/sealed_info.hpp"
#include "frame/decode.hpp"
#include "frame/header.hpp"
#include "frame/messages.hpp"
#include "uv/socket_address.hpp"

namespace derp::uvtest {

// ---- LoopRunner ------------------------------------------------------------------------------------------------

LoopRunner::LoopRunner(uv::UvServer& server) : server_(server) {}

void LoopRunner::post(std::function<void()> f) {
  std::lock_guard<std::mutex> lock(mutex_);
  tasks_.push_back(std::move(f));
  uv_async_send(&async_);
}

void LoopRunner::call(std::function<void()> f) {
  std::promise<void> done;
  post([&] {
    f();
    done.set_value();
  });
  done.get_future().wait();
}

void LoopRunner::on_async(uv_async_t* async) {
  auto* self = static_cast<LoopRunner*>(async->data);
  std::vector<std::function<void()>> tasks;
  bool client_done = false;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    tasks.swap(self->tasks_);
    client_done = self->client_done_;
  }
  for (auto& task : tasks) task();
  if (!client_done) return;
  // The client sent its last wake-up under the mutex before we read client_done: the handle can go.
  uv_close(reinterpret_cast<uv_handle_t*>(&self->async_), nullptr);
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&self->watchdog_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&self->watchdog_), nullptr);
  }
  self->server_.close();
}

bool LoopRunner::run(const std::function<void(LoopRunner&)>& client, unsigned limit_ms) {
  uv_loop_t* loop = server_.loop();
  uv_async_init(loop, &async_, on_async);
  async_.data = this;
  uv_timer_init(loop, &watchdog_);
  watchdog_.data = this;
  uv_timer_start(
      &watchdog_,
      [](uv_timer_t* t) {
        auto* self = static_cast<LoopRunner*>(t->data);
        self->timed_out_ = true;
        self->server_.close();
        uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
      },
      limit_ms, 0);
  std::thread thread([&] {
    client(*this);
    std::lock_guard<std::mutex> lock(mutex_);
    client_done_ = true;
    uv_async_send(&async_);
  });
  uv_run(loop, UV_RUN_DEFAULT);
  thread.join();
  return !timed_out_;
}

// ---- options ---------------------------------------------------------------------------------------------------

crypto::NodePrivate fresh_key() {
  crypto::NodePrivate key;
  if (crypto::generate_private(&key) != DERP_OK) std::abort();
  return key;
}

uv::UvServerOptions loopback_options(bool with_stun) {
  uv::UvServerOptions o;
  o.core.private_key = fresh_key();
  o.tcp_listen = {"127.0.0.1:0"};
  if (with_stun) o.stun_listen = {"127.0.0.1:0"};
  // DERP_TEST_LOG=1 shows the server's log lines, for debugging a failing test.
  if (std::getenv("DERP_TEST_LOG") != nullptr) {
    o.core.log = [](server::LogLevel, std::string_view line) {
      std::fprintf(stderr, "server: %.*s\n", static_cast<int>(line.size()), line.data());
    };
  }
  return o;
}

// ---- streams ---------------------------------------------------------------------------------------------------

bool Stream::read_to_end(std::string* out) {
  std::uint8_t buf[4096];
  for (;;) {
    const long n = read_some(MutableBytes(buf, sizeof buf));
    if (n == 0 || n == -ECONNRESET) return true;
    if (n < 0) return false;
    out->append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
  }
}

PlainStream::PlainStream(const derp_addr& to) {
  sockaddr_storage sa;
  uv::to_sockaddr(to, &sa);
  fd_ = ::socket(sa.ss_family, SOCK_STREAM, 0);
  if (fd_ < 0) return;
  timeval tv{};
  tv.tv_sec = kIoTimeoutMs / 1000;
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const socklen_t len = sa.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), len) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

PlainStream::~PlainStream() {
  if (fd_ >= 0) ::close(fd_);
}

bool PlainStream::write_all(Bytes data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return true;
}

long PlainStream::read_some(MutableBytes out) {
  if (fd_ < 0) return -EBADF;
  const ssize_t n = ::recv(fd_, out.data(), out.size(), 0);
  if (n < 0) return -errno;
  return static_cast<long>(n);
}

TlsStream::TlsStream(const derp_addr& to, const tls::ClientConfig& config, const std::string& cert_name) : tcp_(to) {
  if (tcp_.fd() < 0) {
    error_ = "connect failed";
    return;
  }
  tls::ClientTarget target;
  target.host = "127.0.0.1";
  target.cert_name = cert_name;
  if (tls::Session::create_client(config, target, &session_, &error_) != DERP_OK) return;
  while (!session_->handshake_done()) {
    if (!flush() || !pump_in()) {
      if (error_.empty()) error_ = "handshake: " + session_->error_detail();
      return;
    }
  }
  ok_ = flush();
}

bool TlsStream::flush() {
  const Bytes pending = session_->pending_ciphertext();
  if (pending.empty()) return true;
  if (!tcp_.write_all(pending)) return false;
  session_->consume_ciphertext(pending.size());
  return true;
}

bool TlsStream::pump_in() {
  std::uint8_t buf[16384];
  const long n = tcp_.read_some(MutableBytes(buf, sizeof buf));
  if (n <= 0) return false;
  Bytes in(buf, static_cast<std::size_t>(n));
  std::uint8_t plain[16384];
  for (;;) {
    std::size_t used = 0;
    if (!in.empty() && session_->feed_ciphertext(in, &used) != DERP_OK) return false;
    in = in.subspan(used);
    for (;;) {
      std::size_t got = 0;
      const int rc = session_->read_plaintext(MutableBytes(plain, sizeof plain), &got);
      if (rc != DERP_OK || got == 0) break;
      plain_.insert(plain_.end(), plain, plain + got);
    }
    if (!flush()) return false;
    if (in.empty()) return true;
  }
}

bool TlsStream::write_all(Bytes data) {
  while (!data.empty()) {
    std::size_t accepted = 0;
    if (session_->write_plaintext(data, &accepted) != DERP_OK) return false;
    data = data.subspan(accepted);
    if (!flush()) return false;
  }
  return true;
}

long TlsStream::read_some(MutableBytes out) {
  while (plain_.empty()) {
    if (session_->peer_closed()) return 0;
    if (!pump_in()) return session_->peer_closed() ? 0 : -ECONNRESET;
  }
  const std::size_t n = std::min(out.size(), plain_.size());
  std::memcpy(out.data(), plain_.data(), n);
  plain_.erase(plain_.begin(), plain_.begin() + static_cast<std::ptrdiff_t>(n));
  return static_cast<long>(n);
}

// ---- DERP client -----------------------------------------------------------------------------------------------

DerpClient::DerpClient(Stream& stream) : stream_(stream), priv_(fresh_key()) { crypto::public_of(priv_, &pub_); }

bool DerpClient::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  return false;
}

bool DerpClient::handshake() {
  const std::string request =
      "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: DERP\r\n\r\n";
  if (!stream_.write_all(text_bytes(request))) return fail("write upgrade");
  std::uint8_t buf[4096];
  for (;;) {
    const std::string text(inbox_.begin(), inbox_.end());
    const std::size_t end = text.find("\r\n\r\n");
    if (end != std::string::npos) {
      if (text.rfind("HTTP/1.1 101 ", 0) != 0) return fail("not a 101: " + text.substr(0, end));
      inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(end + 4));
      break;
    }
    const long n = stream_.read_some(MutableBytes(buf, sizeof buf));
    if (n <= 0) return fail("no HTTP answer");
    inbox_.insert(inbox_.end(), buf, buf + n);
  }
  Frame f;
  if (!next_frame(&f) || f.type != frame::type_byte(frame::FrameType::ServerKey)) return fail("no ServerKey frame");
  frame::ServerKeyFrame key;
  if (frame::decode(Bytes(f.payload), &key) != DERP_OK) return fail("bad ServerKey frame");
  server_key_ = crypto::NodePublic(key.key);

  crypto::ClientInfo info;
  info.version = crypto::kInfoProtocolVersion;
  info.can_ack_pings = true;
  std::vector<std::uint8_t> payload;
  if (crypto::seal_client_info(priv_, server_key_, info, &payload) != DERP_OK) return fail("seal");
  std::vector<std::uint8_t> bytes(frame::kHeaderLen);
  frame::write_header(bytes.data(), frame::type_byte(frame::FrameType::ClientInfo),
                      static_cast<std::uint32_t>(payload.size()));
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  if (!stream_.write_all(Bytes(bytes))) return fail("write ClientInfo");
  if (!wait_frame(frame::FrameType::ServerInfo, &f)) return fail("no ServerInfo frame");
  return true;
}

bool DerpClient::send_packet(const crypto::NodePublic& to, const std::vector<std::uint8_t>& packet) {
  std::vector<std::uint8_t> bytes(frame::kHeaderLen);
  frame::write_header(bytes.data(), frame::type_byte(frame::FrameType::SendPacket),
                      static_cast<std::uint32_t>(DERP_KEY_LEN + packet.size()));
  bytes.insert(bytes.end(), to.bytes().begin(), to.bytes().end());
  bytes.insert(bytes.end(), packet.begin(), packet.end());
  return stream_.write_all(Bytes(bytes)) || fail("write SendPacket");
}

bool DerpClient::next_frame(Frame* out) {
  std::uint8_t buf[65536];
  for (;;) {
    if (!inbox_.empty()) {
      std::size_t used = 0;
      frame::Frame f;
      const int r = reader_.next(Bytes(inbox_), &used, &f);
      if (r < 0) return fail("frame stream broken");
      if (r == 1) {
        out->type = f.type;
        out->payload.assign(f.payload.begin(), f.payload.end());  // before the input it may point into goes
      }
      inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(used));
      if (r == 1) return true;
    }
    const long n = stream_.read_some(MutableBytes(buf, sizeof buf));
    if (n <= 0) return fail(n == 0 ? "EOF" : "read error " + std::to_string(-n));
    inbox_.insert(inbox_.end(), buf, buf + n);
  }
}

bool DerpClient::wait_frame(frame::FrameType type, Frame* out) {
  for (;;) {
    if (!next_frame(out)) return false;
    if (out->type == frame::type_byte(type)) return true;
  }
}

bool DerpClient::wait_closed() {
  std::uint8_t buf[65536];
  for (;;) {
    const long n = stream_.read_some(MutableBytes(buf, sizeof buf));
    if (n == 0 || n == -ECONNRESET) return true;
    if (n < 0) return false;
  }
}

// ---- small helpers ---------------------------------------------------------------------------------------------

std::vector<std::uint8_t> test_packet(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(i * 13 + seed);
  return p;
}

Bytes text_bytes(const std::string& s) { return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

std::string http_exchange(const derp_addr& to, const std::string& request) {
  PlainStream s(to);
  if (s.fd() < 0 || !s.write_all(text_bytes(request))) return "(connect/write failed)";
  std::string answer;
  if (!s.read_to_end(&answer)) answer += "(no EOF)";
  return answer;
}

bool ipv6_loopback_available() {
  const int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

}  // namespace derp::uvtest
