// include/derp/client.h, libuv half: derp_uv_client against derp_uv_server over loopback, in thread mode with queued
// events (the Python shape) and on a host loop with callbacks. Helper threads never use Catch2 macros.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

#include "derp/client.h"
#include "derp/common.h"
#include "derp/key.h"
#include "derp/uv.h"

namespace {

struct Got {
  int rc = DERP_ERR_TIMEOUT;
  derp_client_event event{};
  std::vector<std::uint8_t> data;
  std::string detail;
};

// The next event of `type` within timeout_ms, skipping others (CLOSED always stops the search).
Got wait_for(derp_uv_client* c, int type, int timeout_ms = 10000) {
  std::vector<std::uint8_t> buf(70000);
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Got g;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return g;
    derp_client_event e{};
    e.struct_size = sizeof e;
    g.rc = derp_uv_client_next_event(c, static_cast<int>(left.count()), &e, buf.data(), buf.size());
    if (g.rc != DERP_OK) return g;
    if (e.type == type || e.type == DERP_CLIENT_EVENT_CLOSED) {
      g.event = e;
      if (e.data != nullptr) g.data.assign(e.data, e.data + e.len);
      if (e.detail != nullptr) g.detail = e.detail;
      return g;
    }
  }
}

std::string server_url(derp_uv_server* s) {
  char url[128];
  std::size_t n = 0;
  REQUIRE(derp_uv_server_url(s, url, sizeof url, &n) == DERP_OK);
  return url;
}

derp_uv_client* thread_client(const std::string& url, bool reconnect = true, derp_client_event_fn fn = nullptr,
                              void* user = nullptr) {
  derp_client_options o;
  REQUIRE(derp_client_options_init(&o, sizeof o) == DERP_OK);
  REQUIRE(derp_key_generate(o.private_key) == DERP_OK);
  o.on_event = fn;
  o.user_data = user;
  derp_uv_client_options d;
  REQUIRE(derp_uv_client_options_init(&d, sizeof d) == DERP_OK);
  d.url = url.c_str();
  d.queue_events = 1;
  d.reconnect = reconnect ? 1 : 0;
  d.connect_timeout_ms = 5000;
  derp_uv_client* c = nullptr;
  REQUIRE(derp_uv_client_new(nullptr, &o, &d, &c) == DERP_OK);
  REQUIRE(derp_uv_client_start_thread(c) == DERP_OK);
  return c;
}

derp_uv_server* thread_server() {
  derp_uv_server* s = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, nullptr, &s) == DERP_OK);
  REQUIRE(derp_uv_server_start_thread(s) == DERP_OK);
  return s;
}

}  // namespace

TEST_CASE("derp_uv_client thread mode: connect, packets both ways, ping, stop from another thread", "[capi-client]") {
  derp_uv_server* server = thread_server();
  const std::string url = server_url(server);
  derp_uv_client* a = thread_client(url);
  derp_uv_client* b = thread_client(url);
  std::uint8_t a_pub[DERP_KEY_LEN];
  std::uint8_t b_pub[DERP_KEY_LEN];
  REQUIRE(derp_uv_client_public_key(a, a_pub) == DERP_OK);
  REQUIRE(derp_uv_client_public_key(b, b_pub) == DERP_OK);

  const Got ca = wait_for(a, DERP_CLIENT_EVENT_CONNECTED);
  const Got cb = wait_for(b, DERP_CLIENT_EVENT_CONNECTED);
  REQUIRE(ca.rc == DERP_OK);
  REQUIRE(ca.event.type == DERP_CLIENT_EVENT_CONNECTED);
  REQUIRE(cb.event.type == DERP_CLIENT_EVENT_CONNECTED);
  // SERVER_INFO says the server has registered each of them: only then is a packet for b sure to be delivered.
  REQUIRE(wait_for(a, DERP_CLIENT_EVENT_SERVER_INFO).event.type == DERP_CLIENT_EVENT_SERVER_INFO);
  REQUIRE(wait_for(b, DERP_CLIENT_EVENT_SERVER_INFO).event.type == DERP_CLIENT_EVENT_SERVER_INFO);
  CHECK(std::memcmp(ca.event.key, cb.event.key, DERP_KEY_LEN) == 0);  // the one server's key
  CHECK(ca.event.struct_size == sizeof(derp_client_event));

  const std::string hello = "hello from a";
  REQUIRE(derp_uv_client_send(a, b_pub, reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()) == DERP_OK);
  Got pb = wait_for(b, DERP_CLIENT_EVENT_PACKET);
  REQUIRE(pb.event.type == DERP_CLIENT_EVENT_PACKET);
  CHECK(std::string(pb.data.begin(), pb.data.end()) == hello);
  CHECK(std::memcmp(pb.event.key, a_pub, DERP_KEY_LEN) == 0);

  // A buffer too small keeps the event queued and says what is needed.
  std::vector<std::uint8_t> big(300, 0x5A);
  REQUIRE(derp_uv_client_send(b, a_pub, big.data(), big.size()) == DERP_OK);
  {
    derp_client_event e{};
    e.struct_size = sizeof e;
    std::uint8_t small[10];
    int rc = DERP_ERR_TIMEOUT;
    for (int i = 0; i < 50; ++i) {  // skip SERVER_INFO and such until the packet is at the front
      rc = derp_uv_client_next_event(a, 5000, &e, small, sizeof small);
      if (rc != DERP_OK) break;
    }
    REQUIRE(rc == DERP_ERR_BUFFER_TOO_SMALL);
    CHECK(e.type == DERP_CLIENT_EVENT_PACKET);
    CHECK(e.len == big.size());
    // An older, shorter event struct: filled up to its size only.
    union {
      struct {
        unsigned char head[offsetof(derp_client_event, data)];
        unsigned char canary[sizeof(derp_client_event)];
      } shim;
      derp_client_event full;
    } u;
    std::memset(&u, 0xEE, sizeof u);
    u.full.struct_size = offsetof(derp_client_event, data);
    std::vector<std::uint8_t> buf(1000);
    REQUIRE(derp_uv_client_next_event(a, 1000, &u.full, buf.data(), buf.size()) == DERP_OK);
    CHECK(u.full.struct_size == offsetof(derp_client_event, data));
    CHECK(u.full.type == DERP_CLIENT_EVENT_PACKET);
    CHECK(std::memcmp(u.full.key, b_pub, DERP_KEY_LEN) == 0);
    for (unsigned char byte : u.shim.canary) REQUIRE(byte == 0xEE);
    CHECK(std::memcmp(buf.data(), big.data(), big.size()) == 0);
  }

  std::uint64_t id = 0;
  REQUIRE(derp_uv_client_ping(a, &id) == DERP_OK);
  CHECK(id != 0);
  const Got pr = wait_for(a, DERP_CLIENT_EVENT_PING_RESULT);
  REQUIRE(pr.event.type == DERP_CLIENT_EVENT_PING_RESULT);
  CHECK(pr.event.ping_id == id);
  CHECK(pr.event.error == DERP_OK);
  CHECK(derp_uv_client_note_preferred(a, 1) == DERP_OK);

  derp_client_stats_t st;
  REQUIRE(derp_client_stats_init(&st, sizeof st) == DERP_OK);
  REQUIRE(derp_uv_client_stats(a, &st) == DERP_OK);
  CHECK(st.connects == 1);
  CHECK(st.packets_sent == 1);
  CHECK(st.packets_received == 1);
  CHECK(st.bytes_received == big.size());
  CHECK(st.pings_sent >= 1);
  CHECK(st.pongs_matched >= 1);

  // Nothing more is queued: a poll times out at once.
  {
    derp_client_event e{};
    e.struct_size = sizeof e;
    std::uint8_t buf[64];
    while (derp_uv_client_next_event(a, 200, &e, buf, sizeof buf) == DERP_OK) {
    }
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(derp_uv_client_next_event(a, 0, &e, buf, sizeof buf) == DERP_ERR_TIMEOUT);
    CHECK(derp_uv_client_next_event(a, 50, &e, buf, sizeof buf) == DERP_ERR_TIMEOUT);
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(50));
  }

  // b stops from another thread; its CLOSED says DERP_OK, then the queue is closed for good.
  int stop_rc = -1;
  std::thread stopper([&] { stop_rc = derp_uv_client_stop(b); });
  stopper.join();
  CHECK(stop_rc == DERP_OK);
  const Got closed = wait_for(b, DERP_CLIENT_EVENT_CLOSED);
  REQUIRE(closed.event.type == DERP_CLIENT_EVENT_CLOSED);
  CHECK(closed.event.error == DERP_OK);
  derp_client_event e{};
  e.struct_size = sizeof e;
  std::uint8_t buf[16];
  CHECK(derp_uv_client_next_event(b, 0, &e, buf, sizeof buf) == DERP_ERR_CLOSED);
  CHECK(derp_uv_client_send(b, a_pub, buf, 1) == DERP_ERR_CLOSED);
  CHECK(derp_uv_client_ping(b, &id) == DERP_ERR_CLOSED);
  CHECK(derp_uv_client_stop(b) == DERP_OK);  // idempotent
  REQUIRE(derp_uv_client_stats(b, &st) == DERP_OK);  // after stop: the final counters
  CHECK(st.packets_sent == 1);
  derp_uv_client_free(b);

  // a hears that b left (it sent to b), or at least sends are still accepted; then a stops on this thread.
  REQUIRE(derp_uv_client_stop(a) == DERP_OK);
  const Got closed_a = wait_for(a, DERP_CLIENT_EVENT_CLOSED);
  REQUIRE(closed_a.event.type == DERP_CLIENT_EVENT_CLOSED);
  CHECK(closed_a.event.error == DERP_OK);
  derp_uv_client_free(a);
  CHECK(derp_uv_server_stop(server) == DERP_OK);
  derp_uv_server_free(server);
}

TEST_CASE("derp_uv_client: a one-shot client to a refused port gets DISCONNECTED then CLOSED", "[capi-client]") {
  // A bound socket that does not listen: connecting to it is refused, and nobody else can take the port.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  socklen_t len = sizeof sa;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(sa.sin_port)) + "/derp";

  derp_uv_client* c = thread_client(url, /*reconnect=*/false);
  const Got d = wait_for(c, DERP_CLIENT_EVENT_DISCONNECTED);
  REQUIRE(d.event.type == DERP_CLIENT_EVENT_DISCONNECTED);
  CHECK(d.event.error == DERP_ERR_CONNECT);
  CHECK(d.event.retry_in_ns == UINT64_MAX);
  CHECK_FALSE(d.detail.empty());
  const Got closed = wait_for(c, DERP_CLIENT_EVENT_CLOSED);
  REQUIRE(closed.event.type == DERP_CLIENT_EVENT_CLOSED);
  CHECK(closed.event.error == DERP_ERR_CONNECT);
  derp_client_event e{};
  e.struct_size = sizeof e;
  CHECK(derp_uv_client_next_event(c, 0, &e, nullptr, 0) == DERP_ERR_CLOSED);
  std::uint8_t key[DERP_KEY_LEN] = {};
  CHECK(derp_uv_client_send(c, key, key, 1) == DERP_ERR_CLOSED);
  derp_client_stats_t st;
  REQUIRE(derp_client_stats_init(&st, sizeof st) == DERP_OK);
  REQUIRE(derp_uv_client_stats(c, &st) == DERP_OK);
  CHECK(st.connects == 0);
  CHECK(st.disconnects == 1);
  CHECK(derp_uv_client_stop(c) == DERP_OK);
  derp_uv_client_free(c);
  ::close(fd);
}

namespace {

// Host-loop mode: what the callbacks saw, on the loop thread (which is the test's thread here).
struct HostSeen {
  derp_uv_client* self = nullptr;
  int connected = 0;
  int closed = 0;
  int closed_error = -1;
  std::vector<std::string> packets;
  std::vector<std::uint8_t> from;
  int ping_results = 0;
  std::uint64_t ping_id = 0;
  int ping_error = -1;
  bool reply = false;  // answer every packet with "pong"
};

void host_event(const derp_client_event* e, void* user) {
  auto* s = static_cast<HostSeen*>(user);
  switch (e->type) {
    case DERP_CLIENT_EVENT_SERVER_INFO:  // registered at the server (CONNECTED only says our handshake is out)
      s->connected++;
      break;
    case DERP_CLIENT_EVENT_PACKET:
      s->packets.emplace_back(reinterpret_cast<const char*>(e->data), e->len);
      s->from.assign(e->key, e->key + DERP_KEY_LEN);
      if (s->reply) {
        // Commands from inside a callback are fine (the loop thread).
        const char pong[] = "pong";
        (void)derp_uv_client_send(s->self, e->key, reinterpret_cast<const std::uint8_t*>(pong), 4);
      }
      break;
    case DERP_CLIENT_EVENT_PING_RESULT:
      s->ping_results++;
      s->ping_id = e->ping_id;
      s->ping_error = e->error;
      break;
    case DERP_CLIENT_EVENT_CLOSED:
      s->closed++;
      s->closed_error = e->error;
      break;
    default:
      break;
  }
}

// Runs the loop until done() or 10 s; a repeating timer makes sure uv_run returns to check.
template <class Done>
bool run_until(uv_loop_t* loop, Done done) {
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  uv_timer_start(&tick, [](uv_timer_t*) {}, 10, 10);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool ok = false;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) {
      ok = true;
      break;
    }
    uv_run(loop, UV_RUN_ONCE);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return ok;
}

}  // namespace

TEST_CASE("derp_uv_client host-loop mode: a server and two clients on the test's loop, with callbacks",
          "[capi-client]") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  derp_uv_server* server = nullptr;
  REQUIRE(derp_uv_server_new(&loop, nullptr, &server) == DERP_OK);
  REQUIRE(derp_uv_server_start(server) == DERP_OK);
  const std::string url = server_url(server);

  HostSeen sa;
  HostSeen sb;
  sb.reply = true;
  derp_uv_client* clients[2] = {nullptr, nullptr};
  HostSeen* seen[2] = {&sa, &sb};
  for (int i = 0; i < 2; ++i) {
    derp_client_options o;
    REQUIRE(derp_client_options_init(&o, sizeof o) == DERP_OK);
    REQUIRE(derp_key_generate(o.private_key) == DERP_OK);
    o.on_event = host_event;
    o.user_data = seen[i];
    derp_uv_client_options d;
    REQUIRE(derp_uv_client_options_init(&d, sizeof d) == DERP_OK);
    d.url = url.c_str();
    REQUIRE(derp_uv_client_new(&loop, &o, &d, &clients[i]) == DERP_OK);
    seen[i]->self = clients[i];
    CHECK(derp_uv_client_start_thread(clients[i]) == DERP_ERR_UV_STATE);  // a host loop is the host's to run
    REQUIRE(derp_uv_client_start(clients[i]) == DERP_OK);
    CHECK(derp_uv_client_start(clients[i]) == DERP_ERR_UV_STATE);
  }
  derp_uv_client* a = clients[0];
  derp_uv_client* b = clients[1];
  REQUIRE(run_until(&loop, [&] { return sa.connected == 1 && sb.connected == 1; }));

  std::uint8_t a_pub[DERP_KEY_LEN];
  std::uint8_t b_pub[DERP_KEY_LEN];
  REQUIRE(derp_uv_client_public_key(a, a_pub) == DERP_OK);
  REQUIRE(derp_uv_client_public_key(b, b_pub) == DERP_OK);
  const char ping[] = "ping";
  REQUIRE(derp_uv_client_send(a, b_pub, reinterpret_cast<const std::uint8_t*>(ping), 4) == DERP_OK);
  REQUIRE(run_until(&loop, [&] { return !sa.packets.empty(); }));
  CHECK(sb.packets.at(0) == "ping");
  CHECK(sa.packets.at(0) == "pong");
  CHECK(std::memcmp(sa.from.data(), b_pub, DERP_KEY_LEN) == 0);

  // A send from another thread goes through the client's thread-safe queue.
  int rc = -1;
  std::thread other([&] { rc = derp_uv_client_send(a, b_pub, reinterpret_cast<const std::uint8_t*>(ping), 4); });
  other.join();
  CHECK(rc == DERP_OK);
  REQUIRE(run_until(&loop, [&] { return sa.packets.size() == 2; }));

  std::uint64_t id = 0;
  REQUIRE(derp_uv_client_ping(a, &id) == DERP_OK);
  REQUIRE(run_until(&loop, [&] { return sa.ping_results == 1; }));
  CHECK(sa.ping_id == id);
  CHECK(sa.ping_error == DERP_OK);
  derp_client_event e{};
  e.struct_size = sizeof e;
  CHECK(derp_uv_client_next_event(a, 0, &e, nullptr, 0) == DERP_ERR_UNSUPPORTED);  // no queue_events

  // A stop asked from another thread in host-loop mode is delivered by the loop.
  std::thread stopper([&] { rc = derp_uv_client_stop(b); });
  stopper.join();
  CHECK(rc == DERP_OK);
  REQUIRE(derp_uv_client_stop(a) == DERP_OK);
  REQUIRE(run_until(&loop, [&] { return sa.closed == 1 && sb.closed == 1; }));
  CHECK(sa.closed_error == DERP_OK);
  CHECK(sb.closed_error == DERP_OK);
  REQUIRE(derp_uv_server_stop(server) == DERP_OK);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);  // everything closes by itself
  CHECK(sa.closed == 1);
  derp_uv_client_free(a);
  derp_uv_client_free(b);
  derp_uv_server_free(server);
  // A stopped UvClient still holds its dialer's (inactive) timer until it is destroyed: free closes it, and one
  // more turn of the loop releases it (derp/client.h says so at derp_uv_client_free).
  CHECK(uv_run(&loop, UV_RUN_NOWAIT) == 0);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("derp_uv_client: bad arguments are refused, never a crash", "[capi-client]") {
  derp_client_options o;
  REQUIRE(derp_client_options_init(&o, sizeof o) == DERP_OK);
  REQUIRE(derp_key_generate(o.private_key) == DERP_OK);
  derp_uv_client_options d;
  REQUIRE(derp_uv_client_options_init(&d, sizeof d) == DERP_OK);
  CHECK(d.reconnect == 1);
  CHECK(d.connect_timeout_ms == 10000);
  CHECK(d.max_queued_events == 1024);
  derp_uv_client* c = nullptr;
  CHECK(derp_uv_client_options_init(nullptr, sizeof d) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_client_new(nullptr, &o, &d, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_client_new(nullptr, &o, &d, &c) == DERP_ERR_INVALID_ARGUMENT);  // no target
  CHECK(derp_uv_client_new(nullptr, nullptr, &d, &c) == DERP_ERR_INVALID_ARGUMENT);
  d.url = "ftp://nope";
  CHECK(derp_uv_client_new(nullptr, &o, &d, &c) == DERP_ERR_URL);
  d.url = "http://127.0.0.1:1/derp";
  CHECK(derp_uv_client_new(nullptr, &o, nullptr, &c) == DERP_ERR_INVALID_ARGUMENT);
  d.url = nullptr;
  d.derpmap_json = "{not json";
  CHECK(derp_uv_client_new(nullptr, &o, &d, &c) == DERP_ERR_BAD_JSON);
  d.derpmap_json = R"({"Regions":{"900":{"RegionID":900,"Nodes":[{"Name":"900a","RegionID":900,"HostName":"127.0.0.1","IPv4":"127.0.0.1","DERPPort":1,"InsecureForTests":true}]}}})";
  d.region_id = 901;
  CHECK(derp_uv_client_new(nullptr, &o, &d, &c) == DERP_ERR_INVALID_ARGUMENT);  // no such region
  CHECK(c == nullptr);
  d.region_id = 900;
  REQUIRE(derp_uv_client_new(nullptr, &o, &d, &c) == DERP_OK);  // a DERPMap target
  // Created, never started: commands say so, stop delivers CLOSED at once, free cleans the private loop.
  std::uint8_t key[DERP_KEY_LEN] = {};
  std::uint64_t id = 0;
  CHECK(derp_uv_client_send(c, key, key, 1) == DERP_ERR_NOT_CONNECTED);
  CHECK(derp_uv_client_ping(c, &id) == DERP_ERR_NOT_CONNECTED);
  CHECK(derp_uv_client_start(c) == DERP_ERR_UV_STATE);  // no host loop
  derp_client_event e{};
  CHECK(derp_uv_client_next_event(c, 0, &e, nullptr, 0) == DERP_ERR_INVALID_ARGUMENT);  // struct_size not set
  CHECK(derp_uv_client_stop(c) == DERP_OK);
  CHECK(derp_uv_client_start_thread(c) == DERP_ERR_UV_STATE);
  derp_uv_client_free(c);

  derp_client_stats_t st;
  REQUIRE(derp_client_stats_init(&st, sizeof st) == DERP_OK);
  CHECK(derp_uv_client_start(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_client_start_thread(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_client_send(nullptr, key, key, 1) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_client_note_preferred(nullptr, 1) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_client_ping(nullptr, &id) == DERP_ERR_INVALID_ARGUMENT);
  e.struct_size = sizeof e;
  CHECK(derp_uv_client_next_event(nullptr, 0, &e, nullptr, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_client_stats(nullptr, &st) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_client_public_key(nullptr, key) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_client_stop(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  derp_uv_client_free(nullptr);
}
