// derp_uv_client_event_fd: the descriptor an event loop (asyncio, epoll, uv_poll) waits on instead of a thread blocked
// in derp_uv_client_next_event. Readable exactly while next_event would return at once; checked with poll().
#include <catch2/catch.hpp>

#include <poll.h>

#include <cstring>
#include <string>
#include <vector>

#include "derp/client.h"
#include "derp/common.h"
#include "derp/key.h"
#include "derp/uv.h"

namespace {

// Whether fd becomes readable within timeout_ms (0: is it now).
bool readable(int fd, int timeout_ms) {
  pollfd p{};
  p.fd = fd;
  p.events = POLLIN;
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

// Takes every queued event without waiting (the event-loop way); returns their types.
std::vector<int> drain(derp_uv_client* c, int* last_rc) {
  std::vector<int> types;
  std::vector<std::uint8_t> buf(70000);
  for (int i = 0; i < 1000; ++i) {
    derp_client_event e{};
    e.struct_size = sizeof e;
    *last_rc = derp_uv_client_next_event(c, 0, &e, buf.data(), buf.size());
    if (*last_rc != DERP_OK) break;
    types.push_back(e.type);
  }
  return types;
}

// Waits on the fd (never in next_event) until an event of `type` was taken, at most `rounds` wake-ups of 10 s.
bool wait_on_fd_for(derp_uv_client* c, int fd, int type) {
  for (int round = 0; round < 20; ++round) {
    if (!readable(fd, 10000)) return false;
    int rc = DERP_OK;
    for (const int t : drain(c, &rc)) {
      if (t == type) return true;
    }
    if (rc != DERP_ERR_TIMEOUT) return false;
  }
  return false;
}

derp_uv_client* thread_client(const std::string& url, bool queue_events, std::uint8_t pub_out[DERP_KEY_LEN]) {
  derp_client_options o;
  REQUIRE(derp_client_options_init(&o, sizeof o) == DERP_OK);
  REQUIRE(derp_key_generate(o.private_key) == DERP_OK);
  REQUIRE(derp_key_public_from_private(o.private_key, pub_out) == DERP_OK);
  derp_uv_client_options d;
  REQUIRE(derp_uv_client_options_init(&d, sizeof d) == DERP_OK);
  d.url = url.c_str();
  d.queue_events = queue_events ? 1 : 0;
  derp_uv_client* c = nullptr;
  REQUIRE(derp_uv_client_new(nullptr, &o, &d, &c) == DERP_OK);
  REQUIRE(derp_uv_client_start_thread(c) == DERP_OK);
  return c;
}

}  // namespace

TEST_CASE("derp_uv_client_event_fd: readable while events are queued, clear once drained, readable after CLOSED",
          "[capi-client]") {
  derp_uv_server* server = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, nullptr, &server) == DERP_OK);
  REQUIRE(derp_uv_server_start_thread(server) == DERP_OK);
  char url[128];
  std::size_t n = 0;
  REQUIRE(derp_uv_server_url(server, url, sizeof url, &n) == DERP_OK);

  std::uint8_t a_pub[DERP_KEY_LEN];
  std::uint8_t b_pub[DERP_KEY_LEN];
  derp_uv_client* a = thread_client(url, true, a_pub);
  derp_uv_client* b = thread_client(url, true, b_pub);
  int fd = -1;
  REQUIRE(derp_uv_client_event_fd(a, &fd) == DERP_OK);
  REQUIRE(fd >= 0);
  int again = -1;
  REQUIRE(derp_uv_client_event_fd(a, &again) == DERP_OK);
  CHECK(again == fd);  // one descriptor per client

  // Registered (SERVER_INFO) through the fd alone; then, with nothing more coming, it is not readable.
  REQUIRE(wait_on_fd_for(a, fd, DERP_CLIENT_EVENT_SERVER_INFO));
  int rc = DERP_OK;
  drain(a, &rc);
  CHECK(rc == DERP_ERR_TIMEOUT);
  CHECK_FALSE(readable(fd, 0));
  int b_fd = -1;
  REQUIRE(derp_uv_client_event_fd(b, &b_fd) == DERP_OK);
  REQUIRE(wait_on_fd_for(b, b_fd, DERP_CLIENT_EVENT_SERVER_INFO));

  // A packet makes it readable; taking it (and finding nothing else) clears it.
  const std::string hello = "wake up";
  REQUIRE(derp_uv_client_send(b, a_pub, reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()) == DERP_OK);
  REQUIRE(readable(fd, 10000));
  std::vector<std::uint8_t> buf(100);
  derp_client_event e{};
  e.struct_size = sizeof e;
  REQUIRE(derp_uv_client_next_event(a, 0, &e, buf.data(), buf.size()) == DERP_OK);
  CHECK(e.type == DERP_CLIENT_EVENT_PACKET);
  CHECK(std::string(e.data, e.data + e.len) == hello);
  // An event left queued by a too-small buffer keeps it readable.
  REQUIRE(derp_uv_client_send(b, a_pub, reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()) == DERP_OK);
  REQUIRE(readable(fd, 10000));
  std::uint8_t tiny[2];
  CHECK(derp_uv_client_next_event(a, 0, &e, tiny, sizeof tiny) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(readable(fd, 0));
  drain(a, &rc);
  CHECK(rc == DERP_ERR_TIMEOUT);
  CHECK_FALSE(readable(fd, 0));

  // A client whose events were queued before anyone asked for the fd: readable at once. After CLOSED is taken it
  // stays readable, and next_event says CLOSED without waiting.
  derp_uv_client_stop(b);  // returns once CLOSED is queued
  int late_fd = -1;
  REQUIRE(derp_uv_client_event_fd(b, &late_fd) == DERP_OK);
  CHECK(late_fd == b_fd);
  CHECK(readable(b_fd, 0));
  const std::vector<int> last = drain(b, &rc);
  REQUIRE_FALSE(last.empty());
  CHECK(last.back() == DERP_CLIENT_EVENT_CLOSED);
  CHECK(rc == DERP_ERR_CLOSED);
  CHECK(readable(b_fd, 0));

  derp_uv_client_free(b);
  derp_uv_client_free(a);
  derp_uv_server_free(server);
}

TEST_CASE("derp_uv_client_event_fd: refused without queue_events and for bad arguments", "[capi-client]") {
  derp_uv_server* server = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, nullptr, &server) == DERP_OK);
  REQUIRE(derp_uv_server_start_thread(server) == DERP_OK);
  char url[128];
  std::size_t n = 0;
  REQUIRE(derp_uv_server_url(server, url, sizeof url, &n) == DERP_OK);
  std::uint8_t pub[DERP_KEY_LEN];
  derp_uv_client* c = thread_client(url, false, pub);
  int fd = 7;
  CHECK(derp_uv_client_event_fd(c, &fd) == DERP_ERR_UNSUPPORTED);
  CHECK(fd == -1);
  CHECK(derp_uv_client_event_fd(c, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_client_event_fd(nullptr, &fd) == DERP_ERR_INVALID_ARGUMENT);
  derp_uv_client_free(c);
  derp_uv_server_free(server);
}
