// DERP over WebSocket on real loopback sockets, judged by Go's per-message read limit (issue 13): our libuv client
// talks WebSocket to our UvServer through a tap that forwards every byte unchanged and reads each direction as
// Go's WebSocket library would (support/go_ws_reader: no message over 32 KiB). A 64 KiB packet goes both ways.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/address.hpp"
#include "http/websocket_stream.hpp"
#include "support/go_ws_reader.hpp"
#include "support/uv_client_test_loop.hpp"
#include "uv/socket_address.hpp"

using derp::uv::UvClient;
using derp::test::GoWsReader;
using namespace derp::uvclienttest;

namespace {

// One direction of the tap: skips the HTTP head, then reads WebSocket frames the way Go does.
struct Direction {
  explicit Direction(bool masked) : reader(masked) {}
  std::string head;
  bool head_done = false;
  GoWsReader reader;
  std::vector<std::uint8_t> stream;

  void see(const std::uint8_t* p, std::size_t n) {
    if (!head_done) {
      head.append(reinterpret_cast<const char*>(p), n);
      const std::size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) return;
      head_done = true;
      const std::string rest = head.substr(end + 4);
      reader.feed(derp::Bytes(reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size()), &stream);
      return;
    }
    reader.feed(derp::Bytes(p, n), &stream);
  }
};

// Accepts one connection on 127.0.0.1 and relays it to `upstream` from its own thread, watching both ways.
class Tap {
 public:
  explicit Tap(const derp_addr& upstream) : upstream_(upstream) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(listen_fd_, 1) == 0);
    socklen_t len = sizeof sa;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    address_ = derp::uv::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa));
    thread_ = std::thread([this] { run(); });
  }
  ~Tap() { stop(); }

  const derp_addr& address() const { return address_; }
  // Ends the relay; the results below may be read after it.
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int* fd : {&listen_fd_, &client_fd_, &server_fd_}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }

  Direction to_server{true};
  Direction to_client{false};
  std::string error;

 private:
  void run() {
    pollfd l{listen_fd_, POLLIN, 0};
    // Bounded: the test stops the tap after at most its own time limits.
    while (!stop_ && ::poll(&l, 1, 20) == 0) {
    }
    if (stop_) return;
    client_fd_ = ::accept(listen_fd_, nullptr, nullptr);
    server_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_storage to;
    derp::uv::to_sockaddr(upstream_, &to);
    if (client_fd_ < 0 || ::connect(server_fd_, reinterpret_cast<const sockaddr*>(&to), sizeof(sockaddr_in)) != 0) {
      error = "tap could not connect";
      return;
    }
    std::vector<std::uint8_t> buf(65536);
    while (!stop_) {
      pollfd fds[2] = {{client_fd_, POLLIN, 0}, {server_fd_, POLLIN, 0}};
      if (::poll(fds, 2, 20) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = ::recv(fds[i].fd, buf.data(), buf.size(), 0);
        if (n <= 0) return;  // one side closed: the relay ends
        (i == 0 ? to_server : to_client).see(buf.data(), static_cast<std::size_t>(n));
        const int out = i == 0 ? server_fd_ : client_fd_;
        for (ssize_t sent = 0; sent < n;) {
          const ssize_t k = ::send(out, buf.data() + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
          if (k <= 0) return;
          sent += k;
        }
      }
    }
  }

  derp_addr upstream_;
  derp_addr address_{};
  int listen_fd_ = -1;
  int client_fd_ = -1;
  int server_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::unique_ptr<UvClient> make_client(TestLoop& loop, derp::uv::UvClientOptions options, Recorder* events) {
  std::unique_ptr<UvClient> client;
  std::string detail;
  REQUIRE(UvClient::create(loop.get(), std::move(options), events, &client, &detail) == DERP_OK);
  REQUIRE(client->start() == DERP_OK);
  return client;
}

}  // namespace

TEST_CASE("uv client: a 64 KiB packet both ways over WebSocket stays within Go's message limit", "[uvclient]") {
  TestLoop loop;
  auto server = start_server(loop.get());
  REQUIRE(server);
  Tap tap(server->tcp_addresses().at(0));

  auto ws_options = client_options(url_for(tap.address()));
  ws_options.connection.websocket = true;
  Recorder ews, eplain;
  auto ws = make_client(loop, std::move(ws_options), &ews);
  auto plain = make_client(loop, client_options(url_for(server->tcp_addresses().at(0))), &eplain);
  REQUIRE(loop.run_until([&] { return ws->connected() && plain->connected(); }));
  // ServerInfo comes after the server registered the key: only then can packets find their way.
  REQUIRE(loop.run_until([&] { return ews.server_infos == 1 && eplain.server_infos == 1; }));

  const auto up = payload(65536, 11);
  const auto down = payload(65536, 12);
  REQUIRE(ws->send_packet(plain->public_key(), derp::Bytes(up)) == DERP_OK);
  REQUIRE(plain->send_packet(ws->public_key(), derp::Bytes(down)) == DERP_OK);
  REQUIRE(loop.run_until([&] { return eplain.packets.size() == 1 && ews.packets.size() == 1; }));
  CHECK(eplain.packets[0].payload == up);
  CHECK(ews.packets[0].payload == down);

  ws->stop();
  plain->stop();
  CHECK(stop_server(loop, *server));
  tap.stop();
  INFO(tap.error << " | to server: " << tap.to_server.reader.error() << " | to client: "
                 << tap.to_client.reader.error());
  CHECK(tap.error.empty());
  CHECK(tap.to_server.head.rfind("GET /derp HTTP/1.1", 0) == 0);
  CHECK(tap.to_client.head.rfind("HTTP/1.1 101", 0) == 0);
  CHECK(tap.to_server.reader.error().empty());
  CHECK(tap.to_client.reader.error().empty());
  CHECK(tap.to_server.reader.largest_message() <= derp::http::kWsMaxDataMessage);
  CHECK(tap.to_client.reader.largest_message() <= derp::http::kWsMaxDataMessage);
  CHECK(tap.to_server.reader.messages() >= 5);
  CHECK(tap.to_client.reader.messages() >= 5);
  // Every byte seen is DERP stream: at least the two packets went through the tap.
  CHECK(tap.to_server.stream.size() >= up.size());
  CHECK(tap.to_client.stream.size() >= down.size());
  ws.reset();
  plain.reset();
  server.reset();
  CHECK(loop.finish() == 0);
}
