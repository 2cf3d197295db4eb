// include/derp/server.h through its C entry points only, driven the way a C host would: bytes in, views out, time
// passed in. The fake clients build their handshake with the frame/info/key C APIs, so this also shows the C API
// is enough to speak DERP.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "derp/common.h"
#include "derp/frame.h"
#include "derp/hooks.h"
#include "derp/info.h"
#include "derp/key.h"
#include "derp/server.h"

namespace {

constexpr std::uint64_t kStart = 1'000'000'000'000ull;  // any monotonic origin
constexpr std::uint64_t kMs = 1'000'000ull;

derp_addr addr(const char* text) {
  derp_addr a{};
  REQUIRE(derp_addr_parse(text, &a) == DERP_OK);
  return a;
}

std::vector<std::uint8_t> bytes_of(const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); }

const char kUpgrade[] = "GET /derp HTTP/1.1\r\nHost: derp.test\r\nConnection: Upgrade\r\nUpgrade: DERP\r\n\r\n";

struct Frame {
  std::uint8_t type = 0;
  std::vector<std::uint8_t> payload;
};

// One fake client: its key, its connection, and what the server wrote to it.
struct Client {
  derp_server* server = nullptr;
  derp_server_conn* conn = nullptr;
  std::uint8_t priv[DERP_KEY_LEN] = {};
  std::uint8_t pub[DERP_KEY_LEN] = {};
  std::string head;                 // the HTTP answer head, once whole
  bool head_done = false;
  std::vector<std::uint8_t> stream;  // bytes after the head, not yet framed
  std::vector<Frame> frames;
  derp_frame_reader* reader = nullptr;

  Client() {
    REQUIRE(derp_key_generate(priv) == DERP_OK);
    REQUIRE(derp_key_public_from_private(priv, pub) == DERP_OK);
    REQUIRE(derp_frame_reader_new(nullptr, &reader) == DERP_OK);
  }
  ~Client() { derp_frame_reader_free(reader); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(const std::vector<std::uint8_t>& bytes, std::uint64_t now) {
    derp_server_conn_receive(conn, bytes.data(), bytes.size(), now);
  }

  // Takes everything pending, in views of at most 3 (so the loop matters), as a host's writev would.
  void flush(std::uint64_t now) {
    for (;;) {
      derp_bytes views[3];
      std::size_t count = 0;
      REQUIRE(derp_server_conn_output(conn, views, 3, &count) == DERP_OK);
      if (count == 0) break;
      std::size_t total = 0;
      for (std::size_t i = 0; i < count; ++i) {
        stream.insert(stream.end(), views[i].data, views[i].data + views[i].len);
        total += views[i].len;
      }
      REQUIRE(derp_server_conn_output_written(conn, total, now) == DERP_OK);
    }
    CHECK(derp_server_conn_output_size(conn) == 0);
    if (!head_done) {
      const std::string s(stream.begin(), stream.end());
      const auto end = s.find("\r\n\r\n");
      if (end == std::string::npos) return;
      head = s.substr(0, end + 4);
      stream.erase(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(end + 4));
      head_done = true;
    }
    if (head.rfind("HTTP/1.1 101", 0) != 0) return;  // a plain HTTP answer: the rest is its body, not frames
    // The reader keeps a partial frame between flushes; every byte handed over is consumed.
    std::size_t offset = 0;
    while (offset < stream.size()) {
      std::size_t used = 0;
      derp_frame f{};
      const int rc = derp_frame_reader_next(reader, stream.data() + offset, stream.size() - offset, &used, &f);
      REQUIRE(rc >= 0);
      offset += used;
      if (rc == 0) break;
      frames.push_back(Frame{f.type, std::vector<std::uint8_t>(f.payload, f.payload + f.payload_len)});
    }
    stream.clear();
  }

  std::vector<Frame> of_type(std::uint8_t type) const {
    std::vector<Frame> out;
    for (const Frame& f : frames) {
      if (f.type == type) out.push_back(f);
    }
    return out;
  }

  // The ClientInfo frame: header + (client key ‖ sealed JSON).
  std::vector<std::uint8_t> client_info_frame() const {
    std::uint8_t server_pub[DERP_KEY_LEN];
    REQUIRE(derp_server_public_key(server, server_pub) == DERP_OK);
    derp_client_info info;
    REQUIRE(derp_client_info_init(&info, sizeof info) == DERP_OK);
    std::vector<std::uint8_t> payload(DERP_CLIENT_INFO_PAYLOAD_MAX);
    std::size_t len = 0;
    REQUIRE(derp_client_info_seal(priv, server_pub, &info, nullptr, payload.data(), payload.size(), &len) == DERP_OK);
    std::vector<std::uint8_t> frame(5 + len);
    REQUIRE(derp_frame_encode_header(DERP_FRAME_CLIENT_INFO, len, frame.data(), 5) == DERP_OK);
    std::memcpy(frame.data() + 5, payload.data(), len);
    return frame;
  }
};

std::vector<std::uint8_t> send_packet_frame(const std::uint8_t dst[DERP_KEY_LEN], const std::vector<std::uint8_t>& data) {
  derp_frame_fields f{};
  f.struct_size = sizeof f;
  f.type = DERP_FRAME_SEND_PACKET;
  std::memcpy(f.dst_key, dst, DERP_KEY_LEN);
  f.data = data.data();
  f.data_len = data.size();
  std::vector<std::uint8_t> out(5 + DERP_KEY_LEN + data.size());
  std::size_t len = 0;
  REQUIRE(derp_frame_encode(&f, out.data(), out.size(), &len) == DERP_OK);
  out.resize(len);
  return out;
}

// The host's after-every-call step: flush every connection the server reports ready.
void drain_ready(derp_server* server, std::uint64_t now) {
  for (;;) {
    derp_server_conn* c = nullptr;
    const int rc = derp_server_next_ready(server, &c);
    REQUIRE(rc >= 0);
    if (rc == 0) {
      CHECK(c == nullptr);
      return;
    }
    auto* client = static_cast<Client*>(derp_server_conn_user_data(c));
    REQUIRE(client != nullptr);
    REQUIRE(client->conn == c);
    client->flush(now);
  }
}

// accept + upgrade + ClientInfo, flushing as a host would. Returns the state the connection ended in.
int connect(derp_server* server, Client& c, std::uint64_t now, const char* remote = "127.0.0.1:40000") {
  c.server = server;
  const derp_addr from = addr(remote);
  REQUIRE(derp_server_accept(server, &from, now, &c.conn) == DERP_OK);
  REQUIRE(c.conn != nullptr);
  REQUIRE(derp_server_conn_set_user_data(c.conn, &c) == DERP_OK);
  CHECK(derp_server_conn_state(c.conn) == DERP_SERVER_CONN_HTTP);
  c.send(bytes_of(kUpgrade), now);
  c.flush(now);
  c.send(c.client_info_frame(), now);
  c.flush(now);
  return derp_server_conn_state(c.conn);
}

derp_server_options test_options() {
  derp_server_options o;
  REQUIRE(derp_server_options_init(&o, sizeof o) == DERP_OK);
  o.random_seed = 42;
  return o;
}

struct LogLines {
  std::vector<std::pair<int, std::string>> lines;
  static void sink(int level, const char* message, void* user_data) {
    static_cast<LogLines*>(user_data)->lines.emplace_back(level, message);
  }
  bool contains(const std::string& needle) const {
    for (const auto& [level, text] : lines) {
      if (text.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

std::string metrics(derp_server* server) {
  std::size_t size = 0;
  REQUIRE(derp_server_metrics_text(server, nullptr, 0, &size) == DERP_ERR_BUFFER_TOO_SMALL);
  REQUIRE(size > 1);
  std::vector<char> buf(size + 256);  // counters may grow between the two calls
  REQUIRE(derp_server_metrics_text(server, buf.data(), buf.size(), &size) == DERP_OK);
  REQUIRE(buf[size - 1] == '\0');
  return std::string(buf.data());
}

}  // namespace

TEST_CASE("server C API: handshake, relay between two connections, next_ready, metrics", "[capi-server]") {
  derp_server_options o = test_options();
  derp_server* server = nullptr;
  REQUIRE(derp_server_new(&o, &server) == DERP_OK);
  std::uint8_t server_pub[DERP_KEY_LEN];
  REQUIRE(derp_server_public_key(server, server_pub) == DERP_OK);
  CHECK(derp_key_is_zero(server_pub) == 0);  // a zero private key in the options means "generate one"

  std::uint64_t now = kStart;
  Client a;
  Client b;
  REQUIRE(connect(server, a, now, "127.0.0.1:40001") == DERP_SERVER_CONN_RUNNING);
  REQUIRE(connect(server, b, now, "[2001:db8::2]:40002") == DERP_SERVER_CONN_RUNNING);
  drain_ready(server, now);

  // The 101 names our key; the ServerKey frame carries it; the ServerInfo box opens with it.
  char hex[DERP_KEY_HEX_LEN];
  REQUIRE(derp_key_format_hex(server_pub, hex, sizeof hex) == DERP_OK);
  CHECK(a.head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
  CHECK(a.head.find(std::string("Derp-Public-Key: ") + hex) != std::string::npos);
  REQUIRE(a.frames.size() >= 2);
  derp_frame_fields fields{};
  fields.struct_size = sizeof fields;
  derp_frame sk{a.frames[0].type, a.frames[0].payload.data(), a.frames[0].payload.size()};
  REQUIRE(derp_frame_decode(&sk, &fields) == DERP_OK);
  CHECK(fields.type == DERP_FRAME_SERVER_KEY);
  CHECK(std::memcmp(fields.key, server_pub, DERP_KEY_LEN) == 0);
  REQUIRE(a.frames[1].type == DERP_FRAME_SERVER_INFO);
  derp_server_info sinfo;
  REQUIRE(derp_server_info_init(&sinfo, sizeof sinfo) == DERP_OK);
  CHECK(derp_server_info_open(a.priv, server_pub, a.frames[1].payload.data(), a.frames[1].payload.size(), &sinfo) ==
        DERP_OK);

  std::uint8_t key[DERP_KEY_LEN];
  REQUIRE(derp_server_conn_client_key(a.conn, key) == DERP_OK);
  CHECK(std::memcmp(key, a.pub, DERP_KEY_LEN) == 0);
  derp_addr remote{};
  REQUIRE(derp_server_conn_remote(b.conn, &remote) == DERP_OK);
  CHECK(remote.family == DERP_AF_INET6);
  CHECK(remote.port == 40002);
  CHECK(std::string(derp_server_conn_close_reason(a.conn)) == "open");

  // a → b: b's output appears through next_ready, not through a's call.
  const std::vector<std::uint8_t> packet = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  now += kMs;
  a.send(send_packet_frame(b.pub, packet), now);
  derp_server_conn* ready = nullptr;
  REQUIRE(derp_server_next_ready(server, &ready) == 1);
  CHECK(ready == b.conn);
  b.flush(now);
  CHECK(derp_server_next_ready(server, &ready) == 0);
  CHECK(ready == nullptr);
  const auto recv = b.of_type(DERP_FRAME_RECV_PACKET);
  REQUIRE(recv.size() == 1);
  derp_frame rf{recv[0].type, recv[0].payload.data(), recv[0].payload.size()};
  REQUIRE(derp_frame_decode(&rf, &fields) == DERP_OK);
  CHECK(std::memcmp(fields.src_key, a.pub, DERP_KEY_LEN) == 0);
  CHECK(std::vector<std::uint8_t>(fields.data, fields.data + fields.data_len) == packet);

  // A connection reported ready twice before it is pulled comes out once.
  a.send(send_packet_frame(b.pub, packet), now);
  a.send(send_packet_frame(b.pub, packet), now);
  REQUIRE(derp_server_next_ready(server, &ready) == 1);
  CHECK(ready == b.conn);
  CHECK(derp_server_next_ready(server, &ready) == 0);
  b.flush(now);
  CHECK(b.of_type(DERP_FRAME_RECV_PACKET).size() == 3);

  // Keep-alives: the deadline is a time in the caller's base; ticking there queues a KeepAlive.
  const std::uint64_t deadline = derp_server_conn_deadline(a.conn);
  REQUIRE(deadline != UINT64_MAX);
  CHECK(deadline > now);
  CHECK(deadline <= now + 65'000 * kMs);
  REQUIRE(derp_server_conn_tick(a.conn, deadline) == DERP_OK);
  a.flush(deadline);
  CHECK(a.of_type(DERP_FRAME_KEEP_ALIVE).size() == 1);

  const std::string page = metrics(server);
  CHECK(page.find("derp_accepts 2") != std::string::npos);
  CHECK(page.find("derp_packets_received 3") != std::string::npos);
  CHECK(page.find("derp_clients_local 2") != std::string::npos);
  char tiny[8];
  std::size_t size = 0;
  CHECK(derp_server_metrics_text(server, tiny, sizeof tiny, &size) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(size == page.size() + 1);

  // a leaves: the host removes it; b, which got packets from a, learns PeerGone(a) through next_ready.
  REQUIRE(derp_server_conn_remove(a.conn, now) == DERP_OK);
  drain_ready(server, now);
  const auto gone = b.of_type(DERP_FRAME_PEER_GONE);
  REQUIRE(gone.size() == 1);
  CHECK(std::memcmp(gone[0].payload.data(), a.pub, DERP_KEY_LEN) == 0);

  // Shutdown: b gets Restarting and is CLOSING, handed out by next_ready; the host flushes and removes it.
  REQUIRE(derp_server_shutdown(server, 1500, 20000, now) == DERP_OK);
  REQUIRE(derp_server_next_ready(server, &ready) == 1);
  CHECK(ready == b.conn);
  CHECK(derp_server_conn_state(ready) == DERP_SERVER_CONN_CLOSING);
  b.flush(now);
  CHECK(derp_server_next_ready(server, &ready) == 0);
  const auto restarting = b.of_type(DERP_FRAME_RESTARTING);
  REQUIRE(restarting.size() == 1);
  derp_frame rs{restarting[0].type, restarting[0].payload.data(), restarting[0].payload.size()};
  REQUIRE(derp_frame_decode(&rs, &fields) == DERP_OK);
  CHECK(fields.reconnect_in_ms == 1500);
  CHECK(fields.try_for_ms == 20000);
  CHECK(std::string(derp_server_conn_close_reason(b.conn)) == "server shutting down");
  REQUIRE(derp_server_conn_remove(b.conn, now) == DERP_OK);

  // After shutdown a new connection is answered 503 and is CLOSING straight away.
  Client late;
  late.server = server;
  const derp_addr from = addr("127.0.0.1:40009");
  REQUIRE(derp_server_accept(server, &from, now, &late.conn) == DERP_OK);
  CHECK(derp_server_conn_state(late.conn) == DERP_SERVER_CONN_CLOSING);
  late.flush(now);
  CHECK(late.head.rfind("HTTP/1.1 503", 0) == 0);
  derp_server_free(server);  // frees `late` too: the host never removed it
}

TEST_CASE("server C API: NULLs and bad arguments are refused, never a crash", "[capi-server]") {
  derp_server* server = nullptr;
  CHECK(derp_server_options_init(nullptr, sizeof(derp_server_options)) == DERP_ERR_INVALID_ARGUMENT);
  derp_server_options o;
  CHECK(derp_server_options_init(&o, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_new(nullptr, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  o.struct_size = 0;  // forgot the init
  CHECK(derp_server_new(&o, &server) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(server == nullptr);
  o = test_options();
  o.keepalive_ms = 0;
  CHECK(derp_server_new(&o, &server) == DERP_ERR_INVALID_ARGUMENT);
  o = test_options();
  o.mesh_key = "not hex";
  CHECK(derp_server_new(&o, &server) == DERP_ERR_INVALID_ARGUMENT);
  o = test_options();
  o.home = "ftp://nope";
  CHECK(derp_server_new(&o, &server) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(server == nullptr);

  REQUIRE(derp_server_new(nullptr, &server) == DERP_OK);  // NULL options: the defaults
  std::uint8_t key[DERP_KEY_LEN];
  derp_server_conn* conn = nullptr;
  const derp_addr from = addr("127.0.0.1:1");
  CHECK(derp_server_public_key(nullptr, key) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_public_key(server, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_accept(nullptr, &from, kStart, &conn) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_accept(server, nullptr, kStart, &conn) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_accept(server, &from, kStart, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_conn_receive(nullptr, nullptr, 0, kStart) == DERP_ERR_INVALID_ARGUMENT);
  std::size_t count = 7;
  derp_bytes views[2];
  CHECK(derp_server_conn_output(nullptr, views, 2, &count) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(count == 0);
  CHECK(derp_server_conn_output_size(nullptr) == 0);
  CHECK(derp_server_conn_output_written(nullptr, 0, kStart) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_conn_deadline(nullptr) == UINT64_MAX);
  CHECK(derp_server_conn_tick(nullptr, kStart) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_conn_state(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_conn_close_reason(nullptr) != nullptr);
  CHECK(std::string(derp_server_conn_close_detail(nullptr)).empty());
  derp_addr remote{};
  CHECK(derp_server_conn_remote(nullptr, &remote) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_conn_client_key(nullptr, key) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_conn_set_user_data(nullptr, &remote) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_conn_user_data(nullptr) == nullptr);
  CHECK(derp_server_conn_remove(nullptr, kStart) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_next_ready(nullptr, &conn) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_next_ready(server, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  std::size_t size = 0;
  char buf[16];
  CHECK(derp_server_metrics_text(nullptr, buf, sizeof buf, &size) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_metrics_text(server, buf, sizeof buf, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_metrics_text(server, nullptr, 5, &size) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_shutdown(nullptr, 0, 0, kStart) == DERP_ERR_INVALID_ARGUMENT);

  // With a real connection: bad spans and over-long writes.
  REQUIRE(derp_server_accept(server, &from, kStart, &conn) == DERP_OK);
  CHECK(derp_server_conn_receive(conn, nullptr, 3, kStart) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_conn_output(conn, nullptr, 2, &count) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_conn_output(conn, views, 2, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_server_conn_output(conn, nullptr, 0, &count) == DERP_OK);
  CHECK(count == 0);
  CHECK(derp_server_conn_output_written(conn, 1, kStart) == DERP_ERR_INVALID_ARGUMENT);  // nothing pending
  CHECK(derp_server_conn_client_key(conn, key) == DERP_ERR_NOT_CONNECTED);
  CHECK(derp_key_is_zero(key) == 1);
  // Garbage instead of HTTP: the connection closes with a reason; the server goes on.
  const std::string junk = "\x16\x03\x01 not http at all\r\n\r\n";
  CHECK(derp_server_conn_receive(conn, reinterpret_cast<const std::uint8_t*>(junk.data()), junk.size(), kStart) < 0);
  const int state = derp_server_conn_state(conn);
  CHECK((state == DERP_SERVER_CONN_CLOSING || state == DERP_SERVER_CONN_CLOSED));
  CHECK(std::string(derp_server_conn_close_reason(conn)) != "open");
  CHECK(derp_server_conn_remove(conn, kStart) == DERP_OK);
  derp_server_free(server);
  derp_server_free(nullptr);
}

TEST_CASE("server C API: an older, shorter options struct works, later fields take defaults", "[capi-server]") {
  // What a program built against an older header would pass: the fields up to write_timeout_ms, then memory the
  // library must not read (filled with junk that would break every later field).
  struct old_options {
    std::size_t struct_size;
    std::uint8_t private_key[DERP_KEY_LEN];
    std::uint32_t keepalive_ms;
    std::uint32_t keepalive_jitter_ms;
    std::uint32_t handshake_timeout_ms;
    std::uint32_t write_timeout_ms;
  };
  static_assert(offsetof(old_options, write_timeout_ms) == offsetof(derp_server_options, write_timeout_ms));
  union {
    derp_server_options full;
    struct {
      old_options old;
      unsigned char junk[sizeof(derp_server_options)];
    } shim;
  } u;
  std::memset(&u, 0xFF, sizeof u);

  // init honours the short size: nothing written past it.
  REQUIRE(derp_server_options_init(reinterpret_cast<derp_server_options*>(&u.shim.old), sizeof(old_options)) ==
          DERP_OK);
  CHECK(u.shim.old.struct_size == sizeof(old_options));
  CHECK(u.shim.old.keepalive_ms == 60000);
  CHECK(u.shim.old.write_timeout_ms == 2000);
  for (std::size_t i = sizeof(old_options); i < sizeof u.shim.old + 16; ++i) {
    REQUIRE(reinterpret_cast<unsigned char*>(&u)[i] == 0xFF);
  }
  std::memset(u.shim.old.private_key, 0, DERP_KEY_LEN);
  u.shim.old.private_key[0] = 7;  // a fixed key
  u.shim.old.handshake_timeout_ms = 1000;

  derp_server* server = nullptr;
  REQUIRE(derp_server_new(reinterpret_cast<derp_server_options*>(&u.shim.old), &server) == DERP_OK);
  std::uint8_t expected[DERP_KEY_LEN];
  REQUIRE(derp_key_public_from_private(u.shim.old.private_key, expected) == DERP_OK);
  std::uint8_t pub[DERP_KEY_LEN];
  REQUIRE(derp_server_public_key(server, pub) == DERP_OK);
  CHECK(std::memcmp(pub, expected, DERP_KEY_LEN) == 0);

  // serve_derp took its default (1, not the junk read as 0 or -1 either way), the log/admit callbacks are NULL
  // (junk pointers would crash), the 1 s handshake timeout is ours.
  Client a;
  REQUIRE(connect(server, a, kStart) == DERP_SERVER_CONN_RUNNING);
  Client slow;
  slow.server = server;
  const derp_addr from = addr("127.0.0.1:40003");
  REQUIRE(derp_server_accept(server, &from, kStart, &slow.conn) == DERP_OK);
  CHECK(derp_server_conn_deadline(slow.conn) == kStart + 1000 * kMs);
  REQUIRE(derp_server_conn_tick(slow.conn, kStart + 1000 * kMs) == DERP_OK);
  CHECK(derp_server_conn_state(slow.conn) >= DERP_SERVER_CONN_CLOSING);
  CHECK(std::string(derp_server_conn_close_reason(slow.conn)) == "handshake did not finish in time");
  derp_server_free(server);
}

namespace {

struct Admission {
  std::uint8_t refuse[DERP_KEY_LEN] = {};
  int calls = 0;
  derp_addr last_remote{};
  static int admit(const std::uint8_t client_key[DERP_KEY_LEN], const derp_addr* remote, void* user_data) {
    auto* self = static_cast<Admission*>(user_data);
    ++self->calls;
    self->last_remote = *remote;
    return std::memcmp(client_key, self->refuse, DERP_KEY_LEN) != 0;
  }
};

// Both callbacks share one user_data, as the options struct has one.
struct Host {
  Admission admission;
  LogLines log;
};

void host_log(int level, const char* message, void* user_data) {
  LogLines::sink(level, message, &static_cast<Host*>(user_data)->log);
}
int host_admit(const std::uint8_t key[DERP_KEY_LEN], const derp_addr* remote, void* user_data) {
  return Admission::admit(key, remote, &static_cast<Host*>(user_data)->admission);
}

}  // namespace

TEST_CASE("server C API: admission callback refuses a key, log callback gets the lines", "[capi-server]") {
  Host host;
  derp_server_options o = test_options();
  o.admit = host_admit;
  o.log = host_log;
  o.user_data = &host;
  derp_server* server = nullptr;
  REQUIRE(derp_server_new(&o, &server) == DERP_OK);

  Client welcome;
  Client refused;
  std::memcpy(host.admission.refuse, refused.pub, DERP_KEY_LEN);
  REQUIRE(connect(server, welcome, kStart, "127.0.0.1:41000") == DERP_SERVER_CONN_RUNNING);
  const int state = connect(server, refused, kStart, "127.0.0.1:41001");
  CHECK(state >= DERP_SERVER_CONN_CLOSING);
  CHECK(std::string(derp_server_conn_close_reason(refused.conn)) == "refused by the admission hook");
  CHECK(refused.of_type(DERP_FRAME_SERVER_INFO).empty());  // closed without a message, as derper does
  CHECK(host.admission.calls == 2);
  CHECK(host.admission.last_remote.port == 41001);
  CHECK(metrics(server).find("denied") != std::string::npos);

  REQUIRE_FALSE(host.log.lines.empty());
  CHECK(host.log.contains("connected"));
  CHECK(host.log.contains("closing"));
  for (const auto& [level, text] : host.log.lines) {
    CHECK(level >= DERP_LOG_DEBUG);
    CHECK(level <= DERP_LOG_ERROR);
    CHECK(!text.empty());
  }
  derp_server_free(server);
}

TEST_CASE("server C API: without a log callback, lines go to the global sink at its level", "[capi-server]") {
  LogLines global;
  REQUIRE(derp_set_log(LogLines::sink, &global, DERP_LOG_INFO) == DERP_OK);
  CHECK(derp_set_log(LogLines::sink, &global, 99) == DERP_ERR_INVALID_ARGUMENT);
  derp_server_options o = test_options();
  derp_server* server = nullptr;
  REQUIRE(derp_server_new(&o, &server) == DERP_OK);
  Client a;
  REQUIRE(connect(server, a, kStart) == DERP_SERVER_CONN_RUNNING);
  CHECK(global.contains("connected"));
  for (const auto& [level, text] : global.lines) CHECK(level >= DERP_LOG_INFO);

  // Silenced: nothing more arrives.
  REQUIRE(derp_set_log(nullptr, nullptr, DERP_LOG_DEBUG) == DERP_OK);
  const std::size_t before = global.lines.size();
  REQUIRE(derp_server_conn_remove(a.conn, kStart) == DERP_OK);
  CHECK(global.lines.size() == before);
  derp_server_free(server);
}
