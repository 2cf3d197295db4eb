// Host-driven use without libuv: the test is the host for two client cores and our server core, joined by
// AF_UNIX socketpairs with non-blocking fds and a poll() loop, reading a real monotonic clock.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>

#include "client/connection.hpp"
#include "server/server.hpp"
#include "support/client_harness.hpp"

using derp::Bytes;
using derp::Nanos;
using derp::client::ClientConnection;
using namespace derp::test;

namespace {

Nanos monotonic_now() {
  return static_cast<Nanos>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

void set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  REQUIRE(flags >= 0);
  REQUIRE(fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
}

// One client and its server-side connection, each on one end of a socketpair.
struct Pair {
  RecordingEvents events;
  std::unique_ptr<ClientConnection> client;
  derp::server::Connection* server_conn = nullptr;
  int client_fd = -1;
  int server_fd = -1;
  bool client_eof = false;

  ~Pair() {
    if (client_fd >= 0) ::close(client_fd);
    if (server_fd >= 0) ::close(server_fd);
  }
};

// Writes as much of the pending output as the socket takes (the host's half of the output contract).
void flush_client(Pair& p) {
  while (p.client_fd >= 0) {
    const Bytes out = p.client->pending_output();
    if (out.empty()) return;
    const ssize_t n = ::send(p.client_fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
      return;
    }
    p.client->output_written(static_cast<std::size_t>(n), monotonic_now());
  }
}

void flush_server(Pair& p) {
  while (p.server_conn != nullptr && p.server_conn->output_size() > 0) {
    Bytes views[8];
    const std::size_t count = p.server_conn->output(views);
    std::size_t written = 0;
    bool blocked = false;
    for (std::size_t i = 0; i < count && !blocked; ++i) {
      const ssize_t n = ::send(p.server_fd, views[i].data(), views[i].size(), MSG_NOSIGNAL);
      if (n < 0) {
        REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
        blocked = true;
      } else {
        written += static_cast<std::size_t>(n);
        blocked = static_cast<std::size_t>(n) < views[i].size();
      }
    }
    p.server_conn->output_written(written, monotonic_now());
    if (blocked) return;
  }
}

// One round of the host loop for every pair: poll, read into the cores, write what they queued, fire timers.
void run_once(derp::server::Server& server, std::vector<std::unique_ptr<Pair>>& pairs, int timeout_ms) {
  std::vector<pollfd> fds;
  for (auto& p : pairs) {
    const short client_events = static_cast<short>(POLLIN | (p->client->pending_output().empty() ? 0 : POLLOUT));
    fds.push_back(pollfd{p->client_fd, client_events, 0});
    const bool server_out = p->server_conn != nullptr && p->server_conn->output_size() > 0;
    fds.push_back(pollfd{p->server_conn != nullptr ? p->server_fd : -1, static_cast<short>(POLLIN | (server_out ? POLLOUT : 0)), 0});
  }
  REQUIRE(::poll(fds.data(), fds.size(), timeout_ms) >= 0);
  std::uint8_t buf[16384];
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    Pair& p = *pairs[i];
    if (fds[2 * i].revents & (POLLIN | POLLHUP)) {
      const ssize_t n = ::recv(p.client_fd, buf, sizeof buf, 0);
      if (n > 0) {
        p.client->receive(Bytes(buf, static_cast<std::size_t>(n)), monotonic_now());
      } else if (n == 0 && !p.client_eof) {
        p.client_eof = true;
        p.client->receive_eof(monotonic_now());
      }
    }
    if (p.server_conn != nullptr && (fds[2 * i + 1].revents & (POLLIN | POLLHUP))) {
      const ssize_t n = ::recv(p.server_fd, buf, sizeof buf, 0);
      if (n > 0) p.server_conn->receive(Bytes(buf, static_cast<std::size_t>(n)), monotonic_now());
      if (n == 0) {
        server.remove(p.server_conn, monotonic_now());
        p.server_conn = nullptr;
        ::shutdown(p.server_fd, SHUT_WR);
      }
    }
  }
  const Nanos now = monotonic_now();
  for (auto& p : pairs) {
    if (p->client->deadline() <= now) p->client->tick(now);
    if (p->server_conn != nullptr && p->server_conn->deadline() <= now) p->server_conn->tick(now);
  }
  server.drain_ready([](derp::server::Connection&) {});
  for (auto& p : pairs) {
    flush_client(*p);
    flush_server(*p);
    // A closed client core: the host closes its end of the transport (after writing what it could).
    if (p->client->phase() == derp::client::ClientPhase::Closed && p->client_fd >= 0 &&
        p->client->pending_output().empty()) {
      ::shutdown(p->client_fd, SHUT_WR);
    }
  }
}

bool run_until(derp::server::Server& server, std::vector<std::unique_ptr<Pair>>& pairs,
               const std::function<bool()>& done) {
  const Nanos give_up = monotonic_now() + 10 * derp::kSecond;
  while (!done()) {
    if (monotonic_now() > give_up) return false;
    run_once(server, pairs, 10);
  }
  return true;
}

}  // namespace

TEST_CASE("client socketpair: two clients relay packets and pings through our server over real fds",
          "[client][socketpair]") {
  derp::server::Server server(ClientWorld::default_server_options());
  std::vector<std::unique_ptr<Pair>> pairs;
  for (std::uint8_t i = 0; i < 2; ++i) {
    auto p = std::make_unique<Pair>();
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    p->client_fd = sv[0];
    p->server_fd = sv[1];
    set_nonblocking(sv[0]);
    set_nonblocking(sv[1]);
    auto o = client_options(test_client_private(static_cast<std::uint8_t>(i + 1)));
    o.websocket = i == 1;  // one of each transport
    REQUIRE(ClientConnection::create(o, &p->events, monotonic_now(), &p->client) == DERP_OK);
    derp_addr remote{};
    remote.family = DERP_AF_INET;
    remote.ip[0] = 127;
    remote.ip[3] = 1;
    remote.port = static_cast<std::uint16_t>(50000 + i);
    p->server_conn = server.accept(remote, monotonic_now());
    pairs.push_back(std::move(p));
  }
  Pair& a = *pairs[0];
  Pair& b = *pairs[1];
  REQUIRE(run_until(server, pairs, [&] { return a.events.server_infos.size() == 1 && b.events.server_infos.size() == 1; }));
  CHECK(a.client->server_key() == server.public_key());
  CHECK(b.client->server_key() == server.public_key());

  // Enough data to fill the socket buffers many times over, so the host loop meets partial writes. At most 8
  // packets in flight: the server's per-receiver queue (32 packets, 1 MiB) then never drops one.
  ByteVec big(60000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 31);
  REQUIRE(b.client->send_packet(a.client->public_key(), Bytes(big.data(), 100), monotonic_now()) == DERP_OK);
  std::uint64_t ping_id = 0;
  REQUIRE(a.client->ping(monotonic_now(), &ping_id) == DERP_OK);
  std::size_t sent = 0;
  REQUIRE(run_until(server, pairs, [&] {
    while (sent < 40 && sent - b.events.packets.size() < 8) {
      REQUIRE(a.client->send_packet(b.client->public_key(), Bytes(big), monotonic_now()) == DERP_OK);
      ++sent;
    }
    return a.events.packets.size() == 1 && a.events.ping_results.size() == 1 && b.events.packets.size() == 40;
  }));
  for (const auto& p : b.events.packets) {
    CHECK(p.source == a.client->public_key());
    CHECK(p.payload == big);
  }
  CHECK(a.events.packets[0].payload == ByteVec(big.begin(), big.begin() + 100));
  CHECK(a.events.ping_results[0].id == ping_id);
  CHECK(a.events.ping_results[0].result == DERP_OK);
  CHECK(a.events.ping_results[0].rtt > 0);

  // The WebSocket client closes: its close frame goes out, the server sees the end, A hears B is gone.
  b.client->close(monotonic_now());
  REQUIRE(run_until(server, pairs, [&] { return a.events.gone.size() == 1; }));
  CHECK(a.events.gone[0].first == b.client->public_key());
  CHECK(b.events.closed == 1);
  CHECK(b.events.close_error == DERP_OK);

  // The server side of A's transport goes away: A sees EOF and reports PEER_CLOSED.
  server.remove(a.server_conn, monotonic_now());
  a.server_conn = nullptr;
  ::close(a.server_fd);
  a.server_fd = -1;
  REQUIRE(run_until(server, pairs, [&] { return a.events.closed == 1; }));
  CHECK(a.events.close_error == DERP_ERR_PEER_CLOSED);
  if (b.server_conn != nullptr) server.remove(b.server_conn, monotonic_now());
}
