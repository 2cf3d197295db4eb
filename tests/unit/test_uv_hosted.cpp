// lib/uv's hosted objects without the C API: the client event queue's drop policy and event fd, a HostedUvServer
// and two HostedUvClients each on a thread of its own (events taken from the queue, totals summed across
// reconnects), the uv server's own TLS setup and URL, and the one text-copy rule. Threads other than the test's
// never use Catch2 macros. Every wait is bounded.
#include <catch2/catch.hpp>

#include <poll.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/text_copy.hpp"
#include "crypto/node_key.hpp"
#include "support/uv_client_test_loop.hpp"
#include "uv/hosted_uv_client.hpp"
#include "uv/hosted_uv_server.hpp"
#include "uv/uv_client_event_queue.hpp"

using derp::uv::HostedUvClient;
using derp::uv::HostedUvClientOptions;
using derp::uv::HostedUvServer;
using derp::uv::HostedUvServerOptions;
using derp::uv::UvClientEvent;
using derp::uv::UvClientEventQueue;
using derp::uv::UvClientEventType;

namespace {

UvClientEvent event(UvClientEventType type, std::uint8_t tag = 0) {
  UvClientEvent e;
  e.type = type;
  e.ping_id = tag;
  return e;
}

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

// Takes events until one of `type` (bounded: 10 s of 100 ms waits); its data and detail are copied out (the
// event's own pointers are into a buffer that ends with this call, so out->data and out->detail are cleared).
bool take_until(UvClientEventQueue& q, UvClientEventType type, UvClientEvent* out, std::vector<std::uint8_t>* data,
                std::string* detail = nullptr) {
  std::vector<std::uint8_t> buf(70000);
  for (int i = 0; i < 100; ++i) {
    UvClientEvent e;
    std::size_t need = 0;
    const int rc = q.take(100, &e, derp::MutableBytes(buf), &need);
    if (rc == DERP_ERR_TIMEOUT) continue;
    if (rc != DERP_OK) return false;
    if (e.type == type) {
      if (data != nullptr) data->assign(e.data.begin(), e.data.end());
      if (detail != nullptr) *detail = e.detail != nullptr ? e.detail : "<null>";
      *out = e;
      out->data = {};
      out->detail = nullptr;
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("uv client event queue: the oldest PACKET goes when full, other kinds stay, CLOSED ends it",
          "[uv][hosted]") {
  UvClientEventQueue q(2);
  int fd = -1;
  REQUIRE(q.event_fd(&fd) == DERP_OK);
  CHECK_FALSE(readable(fd));

  const std::uint8_t bytes[3] = {1, 2, 3};
  UvClientEvent p1 = event(UvClientEventType::kPacket, 1);
  p1.data = derp::Bytes(bytes, 3);
  q.push(p1);
  CHECK(readable(fd));
  q.push(event(UvClientEventType::kPacket, 2));
  q.push(event(UvClientEventType::kPacket, 3));  // full: packet 1 goes
  CHECK(q.dropped() == 1);
  UvClientEvent d = event(UvClientEventType::kDisconnected);
  d.detail = "gone away";
  q.push(d);  // full: packet 2 goes
  q.push(event(UvClientEventType::kPingResult, 9));  // full: packet 3 goes
  CHECK(q.dropped() == 3);
  q.push(event(UvClientEventType::kPacket, 4));  // full, no packet queued: the new packet goes itself
  CHECK(q.dropped() == 4);
  CHECK(q.size() == 2);
  q.push(event(UvClientEventType::kClosed));  // never dropped: the queue exceeds its bound
  CHECK(q.size() == 3);

  // Too small a buffer: the event stays, *needed says how much (the detail with its NUL).
  char small[4];
  UvClientEvent e;
  std::size_t need = 0;
  CHECK(q.take(0, &e, derp::MutableBytes(reinterpret_cast<std::uint8_t*>(small), sizeof small), &need) ==
        DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(need == std::strlen("gone away") + 1);
  CHECK(e.type == UvClientEventType::kDisconnected);
  CHECK(e.detail == nullptr);

  std::uint8_t buf[64];
  REQUIRE(q.take(0, &e, derp::MutableBytes(buf), &need) == DERP_OK);
  CHECK(e.type == UvClientEventType::kDisconnected);
  REQUIRE(e.detail != nullptr);
  CHECK(std::string(e.detail) == "gone away");
  CHECK(reinterpret_cast<const std::uint8_t*>(e.detail) == buf);  // in the caller's buffer
  REQUIRE(q.take(0, &e, derp::MutableBytes(buf), &need) == DERP_OK);
  CHECK(e.type == UvClientEventType::kPingResult);
  CHECK(e.ping_id == 9);
  CHECK(readable(fd));
  REQUIRE(q.take(0, &e, derp::MutableBytes(buf), &need) == DERP_OK);
  CHECK(e.type == UvClientEventType::kClosed);
  // After CLOSED: every take says CLOSED at once, and the fd stays readable so a poller learns it.
  CHECK(q.take(-1, &e, derp::MutableBytes(buf), &need) == DERP_ERR_CLOSED);
  CHECK(readable(fd));
}

TEST_CASE("uv client event queue: an empty queue times out and its fd is clear once drained", "[uv][hosted]") {
  UvClientEventQueue q(8);
  UvClientEvent e;
  std::uint8_t buf[8];
  CHECK(q.take(0, &e, derp::MutableBytes(buf), nullptr) == DERP_ERR_TIMEOUT);
  q.push(event(UvClientEventType::kConnected));
  int fd = -1;
  REQUIRE(q.event_fd(&fd) == DERP_OK);  // made after the push: readable at once
  CHECK(readable(fd));
  REQUIRE(q.take(0, &e, derp::MutableBytes(buf), nullptr) == DERP_OK);
  CHECK_FALSE(readable(fd));
}

TEST_CASE("uv client hosted on a thread: relays through a hosted server thread, totals across reconnects",
          "[uv][hosted]") {
  HostedUvServerOptions so;
  REQUIRE(derp::crypto::generate_private(&so.server.core.private_key) == DERP_OK);
  so.server.tcp_listen = {"127.0.0.1:0"};
  so.server.shutdown_grace = 200 * derp::kMillisecond;
  so.restart_reconnect_in_ms = 10;
  so.restart_try_for_ms = 5000;
  std::unique_ptr<HostedUvServer> server;
  std::string detail;
  REQUIRE(HostedUvServer::create(std::move(so), &server, &detail) == DERP_OK);
  CHECK_FALSE(server->started());
  CHECK(server->derp_url().empty());
  REQUIRE(server->start_thread(&detail) == DERP_OK);
  REQUIRE(server->started());
  const std::string url = server->derp_url();
  CHECK(url == derp::uvclienttest::url_for(server->tcp_address()));
  CHECK(server->cert_pin().empty());

  auto make = [&](std::unique_ptr<HostedUvClient>* out) {
    HostedUvClientOptions o;
    o.client = derp::uvclienttest::client_options(url);
    o.queue_events = true;
    o.max_queued_events = 64;
    REQUIRE(HostedUvClient::create(std::move(o), out, &detail) == DERP_OK);
    REQUIRE((*out)->owns_loop());
    REQUIRE((*out)->start() == DERP_ERR_UV_STATE);  // a private loop: thread mode only
    REQUIRE((*out)->start_thread(&detail) == DERP_OK);
  };
  std::unique_ptr<HostedUvClient> a;
  std::unique_ptr<HostedUvClient> b;
  make(&a);
  make(&b);
  UvClientEvent e;
  REQUIRE(take_until(*a->events(), UvClientEventType::kConnected, &e, nullptr));
  CHECK(e.key == server->public_key());
  REQUIRE(take_until(*b->events(), UvClientEventType::kConnected, &e, nullptr));
  // "Connected" means b's ClientInfo is queued, not that the server has read it: a's packet could reach the server
  // first and be dropped as "no such peer". The server answers b's ping only after the ClientInfo before it on the
  // same stream, so once the pong is back b is registered.
  std::uint64_t b_ping = 0;
  REQUIRE(b->ping(&b_ping) == DERP_OK);
  REQUIRE(take_until(*b->events(), UvClientEventType::kPingResult, &e, nullptr));
  REQUIRE(e.ping_id == b_ping);

  const std::vector<std::uint8_t> packet = derp::uvclienttest::payload(1000, 7);
  REQUIRE(a->send(b->public_key(), derp::Bytes(packet)) == DERP_OK);  // not the loop thread: the thread-safe queue
  std::vector<std::uint8_t> got;
  REQUIRE(take_until(*b->events(), UvClientEventType::kPacket, &e, &got));
  CHECK(e.key == a->public_key());
  CHECK(got == packet);

  std::uint64_t id = 0;
  REQUIRE(a->ping(&id) == DERP_OK);
  REQUIRE(take_until(*a->events(), UvClientEventType::kPingResult, &e, nullptr));
  CHECK(e.ping_id == id);
  CHECK(e.error == DERP_OK);

  // The server restarts (a new one on the same port would race; a graceful stop of this one is enough): the
  // client reports the loss, and its totals keep the first connection's counts.
  derp::uv::UvClientTotals t;
  REQUIRE(a->totals(&t) == DERP_OK);
  CHECK(t.connects == 1);
  CHECK(t.packets_sent == 1);
  CHECK(t.bytes_sent == packet.size());
  CHECK(t.pings_sent == 1);
  server->stop();
  REQUIRE(take_until(*a->events(), UvClientEventType::kDisconnected, &e, nullptr));
  REQUIRE(a->totals(&t) == DERP_OK);
  CHECK(t.disconnects == 1);
  CHECK(t.bytes_sent == packet.size());  // folded in when the connection ended
  CHECK(t.pings_sent == 1);
  CHECK(a->send(b->public_key(), derp::Bytes(packet)) == DERP_ERR_NOT_CONNECTED);
  REQUIRE(a->totals(&t) == DERP_OK);
  CHECK(t.packets_dropped_disconnected == 1);

  // stop from this thread: CLOSED with DERP_OK is the last event, the thread is joined.
  a->stop();
  std::string detail_text;
  REQUIRE(take_until(*a->events(), UvClientEventType::kClosed, &e, nullptr, &detail_text));
  CHECK(e.error == DERP_OK);
  CHECK(detail_text == "stopped");
  CHECK(a->send(b->public_key(), derp::Bytes(packet)) == DERP_ERR_CLOSED);
  CHECK(a->may_destroy_here());
  a.reset();
  b.reset();  // never stopped: the destructor stops it and joins
  server.reset();
}

TEST_CASE("uv server TLS setup: self-signed for an IP, the https URL and the pin, bad setups refused", "[uv][hosted]") {
  derp::uvclienttest::TestLoop loop;
  {
    HostedUvServerOptions so;
    REQUIRE(derp::crypto::generate_private(&so.server.core.private_key) == DERP_OK);
    so.server.tcp_listen = {"127.0.0.1:0"};
    so.server.tls_setup.mode = derp::uv::UvServerTlsMode::kSelfSigned;
    so.server.tls_setup.hostname = "127.0.0.1";
    so.host.host_loop = loop.get();
    std::unique_ptr<HostedUvServer> server;
    std::string detail;
    REQUIRE(HostedUvServer::create(std::move(so), &server, &detail) == DERP_OK);
    REQUIRE(server->start(&detail) == DERP_OK);  // host-loop mode, on this (the loop's) thread
    const std::string port = std::to_string(server->tcp_address().port);
    CHECK(server->derp_url() == "https://127.0.0.1:" + port + "/derp");
    CHECK(server->cert_pin().rfind("sha256-raw:", 0) == 0);
    CHECK(server->cert_pin().size() == std::strlen("sha256-raw:") + 64);
    REQUIRE(server->server().tls() != nullptr);
    CHECK(server->cert_pin() == server->server().tls()->cert_name());
    server->stop();  // posted through the task queue: runs when the loop runs
    REQUIRE(loop.run_until([&] { return server->server().stopped(); }));
  }
  CHECK(loop.finish() == 0);

  const auto refused = [](derp::uv::UvServerTlsOptions tls, const derp::tls::ServerConfig* given = nullptr) {
    HostedUvServerOptions so;
    derp::crypto::generate_private(&so.server.core.private_key);
    so.server.tcp_listen = {"127.0.0.1:0"};
    so.server.tls_setup = std::move(tls);
    so.server.tls = given;
    std::unique_ptr<HostedUvServer> server;
    std::string detail;
    const int rc = HostedUvServer::create(std::move(so), &server, &detail);
    CHECK_FALSE(detail.empty());
    return rc;
  };
  derp::uv::UvServerTlsOptions t;
  t.mode = derp::uv::UvServerTlsMode::kPemFiles;
  CHECK(refused(t) == DERP_ERR_INVALID_ARGUMENT);  // no files named
  t.cert_file = "/nonexistent/cert.pem";
  t.key_file = "/nonexistent/key.pem";
  CHECK(refused(t) != DERP_OK);
  t = {};
  t.mode = derp::uv::UvServerTlsMode::kSelfSigned;
  CHECK(refused(t) == DERP_ERR_INVALID_ARGUMENT);  // no hostname
  t.mode = derp::uv::UvServerTlsMode::kManualDir;
  t.hostname = "derp.example.com";
  CHECK(refused(t) == DERP_ERR_INVALID_ARGUMENT);  // no directory
  t = {};
  t.mode = derp::uv::UvServerTlsMode::kSelfSigned;
  t.hostname = "127.0.0.1";
  std::unique_ptr<derp::tls::ServerConfig> config;
  std::string detail;
  REQUIRE(derp::tls::ServerConfig::self_signed("127.0.0.1", 1700000000, &config, &detail) == DERP_OK);
  CHECK(refused(t, config.get()) == DERP_ERR_INVALID_ARGUMENT);  // a configuration and a mode
}

TEST_CASE("copy_text: one rule, NUL always, size always, truncation at a UTF-8 boundary", "[common]") {
  std::size_t need = 0;
  char out[8];
  CHECK(derp::copy_text("abc", out, sizeof out, &need) == DERP_OK);
  CHECK(need == 4);
  CHECK(std::string(out) == "abc");
  CHECK(derp::copy_text("abcdefg", out, sizeof out, &need) == DERP_OK);  // exactly fits with its NUL
  CHECK(std::string(out) == "abcdefg");
  CHECK(derp::copy_text("abcdefgh", out, sizeof out, &need) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(need == 9);
  CHECK(std::string(out) == "abcdefg");  // truncated, terminated
  CHECK(derp::copy_text("abc", nullptr, 0, &need) == DERP_ERR_BUFFER_TOO_SMALL);  // a size query
  CHECK(need == 4);
  CHECK(derp::copy_text("", out, 1, &need) == DERP_OK);
  CHECK(need == 1);
  CHECK(out[0] == '\0');
  // "abcdé" is 6 bytes (é = C3 A9); 6 bytes of room hold "abcd" only: é is not split.
  char six[6];
  CHECK(derp::copy_text("abcd\xC3\xA9", six, sizeof six, &need) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(std::string(six) == "abcd");
  char one[1] = {'x'};
  CHECK(derp::copy_text("abc", one, sizeof one, &need) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(one[0] == '\0');
}
