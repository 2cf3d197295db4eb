// include/derp/client.h, sans-IO half: derp_client against the sans-IO server of derp/server.h, both through
// their C entry points only, in one process with no sockets: bytes are carried by hand, time is passed in.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "derp/client.h"
#include "derp/common.h"
#include "derp/frame.h"
#include "derp/key.h"
#include "derp/server.h"

namespace {

constexpr std::uint64_t kStart = 5'000'000'000'000ull;

struct Seen {
  int type = 0;
  std::size_t struct_size = 0;
  std::vector<std::uint8_t> key;
  std::vector<std::uint8_t> data;
  std::uint64_t ping_id = 0;
  int error = 0;
  std::string detail;
  std::uint8_t reason = 0;
};

// One client: its key, the client connection, its server-side connection, and what its callback saw.
struct Peer {
  std::uint8_t priv[DERP_KEY_LEN] = {};
  std::uint8_t pub[DERP_KEY_LEN] = {};
  derp_client* conn = nullptr;
  derp_server_conn* sconn = nullptr;
  std::vector<Seen> seen;
  bool free_in_closed = false;  // the CLOSED callback frees the connection (not allowed, but must not crash)

  Peer() {
    REQUIRE(derp_key_generate(priv) == DERP_OK);
    REQUIRE(derp_key_public_from_private(priv, pub) == DERP_OK);
  }
  ~Peer() { derp_client_free(conn); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  std::size_t count(int type) const {
    std::size_t n = 0;
    for (const Seen& s : seen) n += s.type == type ? 1 : 0;
    return n;
  }
  const Seen* last(int type) const {
    for (auto it = seen.rbegin(); it != seen.rend(); ++it) {
      if (it->type == type) return &*it;
    }
    return nullptr;
  }
};

void on_event(const derp_client_event* e, void* user_data) {
  auto* p = static_cast<Peer*>(user_data);
  Seen s;
  s.type = e->type;
  s.struct_size = e->struct_size;
  s.key.assign(e->key, e->key + DERP_KEY_LEN);
  if (e->data != nullptr) s.data.assign(e->data, e->data + e->len);
  s.ping_id = e->ping_id;
  s.error = e->error;
  s.reason = e->reason;
  if (e->detail != nullptr) s.detail = e->detail;
  p->seen.push_back(s);
  if (e->type == DERP_CLIENT_EVENT_CLOSED && p->free_in_closed) {
    derp_client_free(p->conn);
    p->conn = nullptr;
  }
}

derp_client_options options_for(Peer& p) {
  derp_client_options o;
  REQUIRE(derp_client_options_init(&o, sizeof o) == DERP_OK);
  std::memcpy(o.private_key, p.priv, DERP_KEY_LEN);
  o.on_event = on_event;
  o.user_data = &p;
  return o;
}

// The relay and its clients, with the host's byte carrying.
struct Net {
  derp_server* server = nullptr;
  std::uint8_t server_pub[DERP_KEY_LEN] = {};
  std::uint64_t now = kStart;

  Net() {
    REQUIRE(derp_server_new(nullptr, &server) == DERP_OK);
    REQUIRE(derp_server_public_key(server, server_pub) == DERP_OK);
  }
  ~Net() { derp_server_free(server); }
  Net(const Net&) = delete;
  Net& operator=(const Net&) = delete;

  void attach(Peer& p) {
    const derp_client_options o = options_for(p);
    REQUIRE(derp_client_new(&o, "derp.test", nullptr, now, &p.conn) == DERP_OK);
    derp_addr remote{};
    REQUIRE(derp_addr_parse("192.0.2.1:4000", &remote) == DERP_OK);
    REQUIRE(derp_server_accept(server, &remote, now, &p.sconn) == DERP_OK);
  }

  // Carries bytes both ways until nothing moves.
  void pump(std::vector<Peer*> peers) {
    for (int round = 0; round < 100; ++round) {
      bool moved = false;
      for (Peer* p : peers) {
        if (p->conn == nullptr || p->sconn == nullptr) continue;
        derp_bytes out[4];
        std::size_t out_count = 0;
        REQUIRE(derp_client_output(p->conn, out, 4, &out_count) == DERP_OK);
        std::size_t n = 0;
        for (std::size_t i = 0; i < out_count; ++i) {
          derp_server_conn_receive(p->sconn, out[i].data, out[i].len, now);
          n += out[i].len;
        }
        if (n > 0) {
          REQUIRE(n == derp_client_output_size(p->conn));
          REQUIRE(derp_client_output_written(p->conn, n, now) == DERP_OK);
          moved = true;
        }
        derp_bytes views[4];
        std::size_t count = 0;
        REQUIRE(derp_server_conn_output(p->sconn, views, 4, &count) == DERP_OK);
        std::size_t total = 0;
        for (std::size_t i = 0; i < count; ++i) {
          derp_client_receive(p->conn, views[i].data, views[i].len, now);
          total += views[i].len;
        }
        if (total > 0) {
          REQUIRE(derp_server_conn_output_written(p->sconn, total, now) == DERP_OK);
          moved = true;
        }
      }
      derp_server_conn* ready = nullptr;
      while (derp_server_next_ready(server, &ready) == 1) {
      }
      if (!moved) return;
    }
    FAIL("the byte carrying did not settle");
  }
};

}  // namespace

TEST_CASE("client C API: handshake, packets both ways, ping, peer gone, close", "[capi-client]") {
  Net net;
  Peer alice;
  Peer bob;
  net.attach(alice);
  net.attach(bob);
  CHECK(derp_client_state(alice.conn) == DERP_CLIENT_UPGRADE);
  std::uint8_t key[DERP_KEY_LEN];
  CHECK(derp_client_server_key(alice.conn, key) == DERP_ERR_NOT_CONNECTED);
  CHECK(derp_client_send(alice.conn, bob.pub, nullptr, 0, net.now) == DERP_ERR_NOT_CONNECTED);
  std::uint64_t id = 0;
  CHECK(derp_client_ping(alice.conn, net.now, &id) == DERP_ERR_NOT_CONNECTED);

  net.pump({&alice, &bob});
  for (Peer* p : {&alice, &bob}) {
    REQUIRE(p->count(DERP_CLIENT_EVENT_CONNECTED) == 1);
    const Seen* c = p->last(DERP_CLIENT_EVENT_CONNECTED);
    CHECK(std::memcmp(c->key.data(), net.server_pub, DERP_KEY_LEN) == 0);
    CHECK(c->struct_size == sizeof(derp_client_event));  // callbacks get the library's whole struct
    CHECK(derp_client_state(p->conn) == DERP_CLIENT_RUNNING);
    REQUIRE(derp_client_server_key(p->conn, key) == DERP_OK);
    CHECK(std::memcmp(key, net.server_pub, DERP_KEY_LEN) == 0);
  }
  CHECK(alice.count(DERP_CLIENT_EVENT_SERVER_INFO) == 1);

  const std::uint8_t hello[] = {'h', 'e', 'l', 'l', 'o'};
  REQUIRE(derp_client_send(alice.conn, bob.pub, hello, sizeof hello, net.now) == DERP_OK);
  net.pump({&alice, &bob});
  REQUIRE(bob.count(DERP_CLIENT_EVENT_PACKET) == 1);
  CHECK(bob.last(DERP_CLIENT_EVENT_PACKET)->data == std::vector<std::uint8_t>(hello, hello + sizeof hello));
  CHECK(std::memcmp(bob.last(DERP_CLIENT_EVENT_PACKET)->key.data(), alice.pub, DERP_KEY_LEN) == 0);

  const std::uint8_t reply[] = {'h', 'i'};
  REQUIRE(derp_client_send(bob.conn, alice.pub, reply, sizeof reply, net.now) == DERP_OK);
  net.pump({&alice, &bob});
  REQUIRE(alice.count(DERP_CLIENT_EVENT_PACKET) == 1);
  CHECK(alice.last(DERP_CLIENT_EVENT_PACKET)->data == std::vector<std::uint8_t>(reply, reply + sizeof reply));

  std::vector<std::uint8_t> huge(DERP_MAX_PACKET_SIZE + 1);
  CHECK(derp_client_send(alice.conn, bob.pub, huge.data(), huge.size(), net.now) == DERP_ERR_FRAME_TOO_LARGE);

  REQUIRE(derp_client_ping(alice.conn, net.now, &id) == DERP_OK);
  CHECK(id != 0);
  net.now += 3'000'000;
  net.pump({&alice, &bob});
  REQUIRE(alice.count(DERP_CLIENT_EVENT_PING_RESULT) == 1);
  CHECK(alice.last(DERP_CLIENT_EVENT_PING_RESULT)->ping_id == id);
  CHECK(alice.last(DERP_CLIENT_EVENT_PING_RESULT)->error == DERP_OK);
  CHECK(derp_client_note_preferred(alice.conn, 1) == DERP_OK);

  derp_client_stats_t st;
  REQUIRE(derp_client_stats_init(&st, sizeof st) == DERP_OK);
  REQUIRE(derp_client_stats(alice.conn, &st) == DERP_OK);
  CHECK(st.packets_sent == 1);
  CHECK(st.bytes_sent == sizeof hello);
  CHECK(st.packets_received == 1);
  CHECK(st.pings_sent == 1);
  CHECK(st.pongs_matched == 1);
  CHECK(st.connects == 1);

  // Bob leaves: alice, who sent to him, hears PeerGone.
  CHECK(derp_client_receive_eof(bob.conn, net.now) == DERP_OK);
  CHECK(derp_client_state(bob.conn) == DERP_CLIENT_CLOSED);
  CHECK(bob.count(DERP_CLIENT_EVENT_CLOSED) == 1);
  CHECK(bob.last(DERP_CLIENT_EVENT_CLOSED)->error == DERP_ERR_PEER_CLOSED);
  REQUIRE(derp_server_conn_remove(bob.sconn, net.now) == DERP_OK);
  bob.sconn = nullptr;
  net.pump({&alice});
  REQUIRE(alice.count(DERP_CLIENT_EVENT_PEER_GONE) == 1);
  CHECK(std::memcmp(alice.last(DERP_CLIENT_EVENT_PEER_GONE)->key.data(), bob.pub, DERP_KEY_LEN) == 0);
  CHECK(alice.last(DERP_CLIENT_EVENT_PEER_GONE)->reason == DERP_PEER_GONE_DISCONNECTED);

  // Close: CLOSED once, with DERP_OK and a sentence; nothing after it.
  const std::uint64_t before = derp_client_ping(alice.conn, net.now, &id) == DERP_OK ? id : 0;
  CHECK(derp_client_close(alice.conn, net.now) == DERP_OK);
  CHECK(derp_client_close(alice.conn, net.now) == DERP_OK);  // idempotent
  CHECK(alice.count(DERP_CLIENT_EVENT_CLOSED) == 1);
  CHECK(alice.seen.back().type == DERP_CLIENT_EVENT_CLOSED);
  CHECK(alice.seen.back().error == DERP_OK);
  if (before != 0) {
    // The ping still out when it closed reported DERP_ERR_CLOSED, before CLOSED.
    CHECK(alice.seen[alice.seen.size() - 2].type == DERP_CLIENT_EVENT_PING_RESULT);
    CHECK(alice.seen[alice.seen.size() - 2].error == DERP_ERR_CLOSED);
  }
  CHECK(derp_client_state(alice.conn) == DERP_CLIENT_CLOSED);
  CHECK(derp_client_send(alice.conn, bob.pub, hello, sizeof hello, net.now) == DERP_ERR_CLOSED);
  CHECK(derp_client_ping(alice.conn, net.now, &id) == DERP_ERR_CLOSED);
  CHECK(alice.count(DERP_CLIENT_EVENT_CLOSED) == 1);
}

TEST_CASE("client C API: the handshake deadline closes with TIMEOUT through tick", "[capi-client]") {
  Peer p;
  derp_client_options o = options_for(p);
  o.handshake_timeout_ms = 50;
  REQUIRE(derp_client_new(&o, "derp.test", "/derp", kStart, &p.conn) == DERP_OK);
  const std::uint64_t deadline = derp_client_deadline(p.conn);
  REQUIRE(deadline != UINT64_MAX);
  CHECK(deadline <= kStart + 50'000'000ull);
  CHECK(derp_client_tick(p.conn, deadline) == DERP_OK);
  CHECK(derp_client_state(p.conn) == DERP_CLIENT_CLOSED);
  REQUIRE(p.count(DERP_CLIENT_EVENT_CLOSED) == 1);
  CHECK(p.last(DERP_CLIENT_EVENT_CLOSED)->error == DERP_ERR_TIMEOUT);
  CHECK_FALSE(p.last(DERP_CLIENT_EVENT_CLOSED)->detail.empty());
}

TEST_CASE("client C API: freeing a connection inside its own callback does not crash", "[capi-client]") {
  Net net;
  Peer alice;
  net.attach(alice);
  net.pump({&alice});
  REQUIRE(alice.count(DERP_CLIENT_EVENT_CONNECTED) == 1);
  alice.free_in_closed = true;
  derp_client* conn = alice.conn;
  derp_client_close(conn, net.now);  // the callback frees; the connection goes as close returns
  CHECK(alice.conn == nullptr);
  CHECK(alice.count(DERP_CLIENT_EVENT_CLOSED) == 1);
  REQUIRE(derp_server_conn_remove(alice.sconn, net.now) == DERP_OK);
}

TEST_CASE("client C API: bad arguments are refused, never a crash", "[capi-client]") {
  Peer p;
  derp_client_options o = options_for(p);
  derp_client* c = nullptr;
  CHECK(derp_client_options_init(nullptr, sizeof o) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_options_init(&o, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_stats_init(nullptr, sizeof(derp_client_stats_t)) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_new(nullptr, "h", nullptr, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_new(&o, nullptr, nullptr, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_new(&o, "", nullptr, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_new(&o, "h", nullptr, 0, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_new(&o, "h", "no-slash", 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(c == nullptr);
  derp_client_options zero_key = o;
  std::memset(zero_key.private_key, 0, DERP_KEY_LEN);
  CHECK(derp_client_new(&zero_key, "h", nullptr, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  derp_client_options uninit = o;
  uninit.struct_size = 0;  // forgot the init
  CHECK(derp_client_new(&uninit, "h", nullptr, 0, &c) == DERP_ERR_INVALID_ARGUMENT);
  derp_client_options no_timeout = o;
  no_timeout.handshake_timeout_ms = 0;
  CHECK(derp_client_new(&no_timeout, "h", nullptr, 0, &c) == DERP_ERR_INVALID_ARGUMENT);

  // NULL connections.
  derp_bytes view{};
  std::size_t n = 0;
  std::uint8_t key[DERP_KEY_LEN] = {};
  std::uint64_t id = 0;
  derp_client_stats_t st;
  REQUIRE(derp_client_stats_init(&st, sizeof st) == DERP_OK);
  derp_client_free(nullptr);
  CHECK(derp_client_receive(nullptr, key, 1, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_receive_eof(nullptr, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_output(nullptr, &view, 1, &n) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_output_size(nullptr) == 0);
  CHECK(derp_client_output_written(nullptr, 1, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_deadline(nullptr) == UINT64_MAX);
  CHECK(derp_client_tick(nullptr, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_state(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_send(nullptr, key, key, 1, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_note_preferred(nullptr, 1) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_ping(nullptr, 0, &id) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_close(nullptr, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_server_key(nullptr, key) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_stats(nullptr, &st) == DERP_ERR_INVALID_ARGUMENT);

  // A live connection with NULL outputs and inconsistent lengths.
  REQUIRE(derp_client_new(&o, "derp.test", nullptr, kStart, &p.conn) == DERP_OK);
  CHECK(derp_client_receive(p.conn, nullptr, 3, kStart) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_receive(p.conn, nullptr, 0, kStart) == DERP_OK);
  CHECK(derp_client_output(p.conn, nullptr, 1, &n) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_output(p.conn, &view, 1, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_send(p.conn, nullptr, key, 1, kStart) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_send(p.conn, key, nullptr, 1, kStart) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_server_key(p.conn, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_client_stats(p.conn, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  derp_client_stats_t unsized{};
  CHECK(derp_client_stats(p.conn, &unsized) == DERP_ERR_INVALID_ARGUMENT);
  std::size_t count = 0;
  REQUIRE(derp_client_output(p.conn, &view, 1, &count) == DERP_OK);
  n = view.len;
  CHECK(count == 1);
  CHECK(n > 0);  // the upgrade request is pending at once
  CHECK(n == derp_client_output_size(p.conn));
  CHECK(derp_client_output(p.conn, nullptr, 0, &count) == DERP_OK);  // max 0: nothing filled
  CHECK(count == 0);
  // More than pending: refused, nothing consumed.
  CHECK(derp_client_output_written(p.conn, n + 1, kStart) == DERP_ERR_INVALID_ARGUMENT);
  derp_bytes again{};
  REQUIRE(derp_client_output(p.conn, &again, 1, &count) == DERP_OK);
  CHECK(count == 1);
  CHECK(again.len == n);
  CHECK(again.data == view.data);
  // Garbage from the "server" closes the connection with an error, once.
  const std::uint8_t junk[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  CHECK(derp_client_receive(p.conn, junk, sizeof junk - 1, kStart) < 0);
  CHECK(derp_client_state(p.conn) == DERP_CLIENT_CLOSED);
  CHECK(p.count(DERP_CLIENT_EVENT_CLOSED) == 1);

  CHECK(std::string(derp_client_event_name(DERP_CLIENT_EVENT_PACKET)) == "PACKET");
  CHECK(std::string(derp_client_event_name(DERP_CLIENT_EVENT_CLOSED)) == "CLOSED");
  CHECK(std::string(derp_client_event_name(0)) == "UNKNOWN");
  CHECK(std::string(derp_client_event_name(99)) == "UNKNOWN");
}

TEST_CASE("client C API: an older, shorter options struct works, later fields take defaults", "[capi-client]") {
  // What a program built against an older header passes: the fields up to app_name, then memory the library
  // must neither read nor write.
  struct old_options {
    std::size_t struct_size;
    std::uint8_t private_key[32];
    int fast_start;
    int websocket;
    const char* ideal_node;
    const char* mesh_key;
    int is_prober;
    const char* app_name;
  };
  static_assert(offsetof(old_options, app_name) == offsetof(derp_client_options, app_name), "a prefix");
  union {
    struct {
      old_options old;
      unsigned char canary[sizeof(derp_client_options)];
    } shim;
    derp_client_options full;
  } u;
  std::memset(&u, 0xAB, sizeof u);
  REQUIRE(derp_client_options_init(reinterpret_cast<derp_client_options*>(&u.shim.old), sizeof(old_options)) ==
          DERP_OK);
  CHECK(u.shim.old.struct_size == sizeof(old_options));
  CHECK(u.shim.old.fast_start == 0);
  CHECK(u.shim.old.app_name == nullptr);
  for (std::size_t i = 0; i < sizeof u.shim.canary; ++i) {
    INFO("canary byte " << i);
    REQUIRE(u.shim.canary[i] == 0xAB);
  }
  Peer p;
  std::memcpy(u.shim.old.private_key, p.priv, DERP_KEY_LEN);
  // Against a server: no callback (on_event lies beyond the old struct), yet the handshake completes, which needs
  // sane defaults for the timeouts and the output cap.
  Net net;
  REQUIRE(derp_client_new(reinterpret_cast<derp_client_options*>(&u.shim.old), "derp.test", nullptr, net.now,
                          &p.conn) == DERP_OK);
  derp_addr remote{};
  REQUIRE(derp_addr_parse("192.0.2.9:1", &remote) == DERP_OK);
  REQUIRE(derp_server_accept(net.server, &remote, net.now, &p.sconn) == DERP_OK);
  net.pump({&p});
  CHECK(derp_client_state(p.conn) == DERP_CLIENT_RUNNING);
  CHECK(p.seen.empty());
  // The handshake deadline is the 10 s default, not 0xABAB... ms: the connection is idle-bounded, not at once.
  CHECK(derp_client_deadline(p.conn) > net.now);

  // A struct cut before the key is refused: a key has no default.
  derp_client_options tiny;
  REQUIRE(derp_client_options_init(&tiny, offsetof(derp_client_options, private_key) + 8) == DERP_OK);
  derp_client* c = nullptr;
  CHECK(derp_client_new(&tiny, "derp.test", nullptr, 0, &c) == DERP_ERR_INVALID_ARGUMENT);

  // Stats into an older, shorter struct: only what fits is written.
  struct old_stats {
    std::size_t struct_size;
    std::uint64_t packets_sent, bytes_sent;
  };
  union {
    struct {
      old_stats old;
      unsigned char canary[sizeof(derp_client_stats_t)];
    } shim;
    derp_client_stats_t full;
  } s;
  std::memset(&s, 0xCD, sizeof s);
  REQUIRE(derp_client_stats_init(reinterpret_cast<derp_client_stats_t*>(&s.shim.old), sizeof(old_stats)) == DERP_OK);
  REQUIRE(derp_client_stats(p.conn, reinterpret_cast<derp_client_stats_t*>(&s.shim.old)) == DERP_OK);
  CHECK(s.shim.old.packets_sent == 0);
  for (std::size_t i = 0; i < sizeof s.shim.canary; ++i) REQUIRE(s.shim.canary[i] == 0xCD);
}
