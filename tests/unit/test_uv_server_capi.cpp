// include/derp/uv.h: the libuv server through its C entry points, on a host loop and on the library's thread, with
// real loopback sockets. Client threads never use Catch2 macros: they record, the test thread checks.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

#include "derp/common.h"
#include "derp/key.h"
#include "derp/stun.h"
#include "derp/uv.h"
#include "test_uv_support.hpp"
#include "tls/client_config.hpp"

using derp::uvtest::DerpClient;
using derp::uvtest::PlainStream;
using derp::uvtest::TlsStream;

namespace {

// What a client thread saw.
struct RelayResult {
  bool handshakes = false;
  bool relayed = false;
  bool stun_answered = false;
  std::string error;
};

// Two clients handshake; a sends b a packet; b must receive it from a.
void relay(derp::uvtest::Stream& sa, derp::uvtest::Stream& sb, RelayResult* r) {
  DerpClient a(sa);
  DerpClient b(sb);
  if (!a.handshake() || !b.handshake()) {
    r->error = "handshake: " + a.error() + b.error();
    return;
  }
  r->handshakes = true;
  const std::vector<std::uint8_t> packet = derp::uvtest::test_packet(300, 9);
  if (!a.send_packet(b.public_key(), packet)) {
    r->error = "send: " + a.error();
    return;
  }
  derp::uvtest::Frame f;
  if (!b.wait_frame(derp::frame::FrameType::RecvPacket, &f)) {
    r->error = "recv: " + b.error();
    return;
  }
  std::vector<std::uint8_t> expected(a.public_key().bytes().begin(), a.public_key().bytes().end());
  expected.insert(expected.end(), packet.begin(), packet.end());
  r->relayed = f.payload == expected;
}

// One Tailscale STUN request to `to` from a fresh UDP socket; true when the answer names our own address.
bool stun_roundtrip(const derp_addr& to) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  timeval tv{};
  tv.tv_sec = 5;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local);
  socklen_t local_len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  std::memcpy(&dst.sin_addr, to.ip, 4);
  dst.sin_port = htons(to.port);
  const std::uint8_t txid[DERP_STUN_TXID_SIZE] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};
  std::uint8_t req[64];
  std::size_t len = 0;
  bool ok = derp_stun_build_tailscale_request(txid, req, sizeof req, &len) == DERP_OK &&
            ::sendto(fd, req, len, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == static_cast<ssize_t>(len);
  std::uint8_t resp[DERP_STUN_MAX_RESPONSE_SIZE];
  const ssize_t n = ok ? ::recv(fd, resp, sizeof resp, 0) : -1;
  ::close(fd);
  if (n <= 0) return false;
  std::uint8_t got_txid[DERP_STUN_TXID_SIZE];
  derp_addr mapped{};
  if (derp_stun_parse_binding_response(resp, static_cast<std::size_t>(n), got_txid, &mapped) != DERP_OK) return false;
  return std::memcmp(got_txid, txid, sizeof txid) == 0 && mapped.family == DERP_AF_INET &&
         mapped.port == ntohs(local.sin_port);
}

std::string text_of(int (*fn)(const derp_uv_server*, char*, size_t, size_t*), const derp_uv_server* s) {
  std::size_t size = 0;
  if (fn(s, nullptr, 0, &size) != DERP_ERR_BUFFER_TOO_SMALL) return "<size query failed>";
  std::vector<char> buf(size);
  if (fn(s, buf.data(), buf.size(), &size) != DERP_OK) return "<failed>";
  return std::string(buf.data());
}

std::string metrics_of(derp_uv_server* s) {
  std::size_t size = 0;
  if (derp_uv_server_metrics_text(s, nullptr, 0, &size) != DERP_ERR_BUFFER_TOO_SMALL) return "<size query failed>";
  std::vector<char> buf(size + 4096);
  if (derp_uv_server_metrics_text(s, buf.data(), buf.size(), &size) != DERP_OK) return "<failed>";
  return std::string(buf.data());
}

derp_uv_server_options loopback_options(const derp_server_options* core, bool stun) {
  derp_uv_server_options o;
  REQUIRE(derp_uv_server_options_init(&o, sizeof o) == DERP_OK);
  o.server = core;
  o.stun_listen = stun ? "127.0.0.1:0" : nullptr;
  o.shutdown_grace_ms = 500;
  return o;
}

}  // namespace

TEST_CASE("uv C API: on the host's loop: handshake, relay, STUN, stop from another thread", "[capi-server]") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  derp_server_options core;
  REQUIRE(derp_server_options_init(&core, sizeof core) == DERP_OK);
  core.random_seed = 1;
  const derp_uv_server_options o = loopback_options(&core, /*stun=*/true);
  derp_uv_server* s = nullptr;
  REQUIRE(derp_uv_server_new(reinterpret_cast<struct uv_loop_s*>(&loop), &o, &s) == DERP_OK);
  derp_addr where{};
  CHECK(derp_uv_server_derp_address(s, &where) == DERP_ERR_UV_STATE);  // not started
  REQUIRE(derp_uv_server_start(s) == DERP_OK);
  CHECK(derp_uv_server_start(s) == DERP_ERR_UV_STATE);
  CHECK(derp_uv_server_start_thread(s) == DERP_ERR_UV_STATE);
  REQUIRE(derp_uv_server_derp_address(s, &where) == DERP_OK);
  CHECK(where.family == DERP_AF_INET);
  CHECK(where.port != 0);
  derp_addr stun_at{};
  REQUIRE(derp_uv_server_stun_address(s, &stun_at) == DERP_OK);
  CHECK(stun_at.port != 0);
  CHECK(text_of(derp_uv_server_url, s) == "http://127.0.0.1:" + std::to_string(where.port) + "/derp");
  std::size_t size = 0;
  CHECK(derp_uv_server_cert_pin(s, nullptr, 0, &size) == DERP_ERR_UNSUPPORTED);

  // A watchdog that never keeps the loop alive: a hung test ends by itself.
  uv_timer_t watchdog;
  uv_timer_init(&loop, &watchdog);
  watchdog.data = s;
  uv_timer_start(&watchdog, [](uv_timer_t* t) { derp_uv_server_stop(static_cast<derp_uv_server*>(t->data)); },
                 20000, 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog));

  RelayResult r;
  std::thread client([&] {
    PlainStream sa(where);
    PlainStream sb(where);
    relay(sa, sb, &r);
    r.stun_answered = stun_roundtrip(stun_at);
    derp_uv_server_stop(s);  // from a thread that is not the loop's
    derp_uv_server_stop(s);  // idempotent
  });
  uv_run(&loop, UV_RUN_DEFAULT);  // returns once the server has stopped and released its handles
  client.join();
  INFO(r.error);
  CHECK(r.handshakes);
  CHECK(r.relayed);
  CHECK(r.stun_answered);
  const std::string page = metrics_of(s);  // on the loop's thread, which is this one
  CHECK(page.find("derp_accepts 2") != std::string::npos);
  CHECK(page.find("stun_requests 1") != std::string::npos);
  CHECK(page.find("tls_listener_accepted_connections 2") != std::string::npos);

  derp_uv_server_free(s);
  uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);  // nothing of the server's left on the host's loop
}

TEST_CASE("uv C API: in thread mode: relay, thread-safe metrics, stop from another thread", "[capi-server]") {
  derp_uv_server_options o = loopback_options(nullptr, /*stun=*/true);
  derp_uv_server* s = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, &o, &s) == DERP_OK);
  CHECK(derp_uv_server_start(s) == DERP_ERR_UV_STATE);  // the library's own loop: only its thread runs it
  REQUIRE(derp_uv_server_start_thread(s) == DERP_OK);
  CHECK(derp_uv_server_start_thread(s) == DERP_ERR_UV_STATE);
  derp_addr where{};
  REQUIRE(derp_uv_server_derp_address(s, &where) == DERP_OK);
  derp_addr stun_at{};
  REQUIRE(derp_uv_server_stun_address(s, &stun_at) == DERP_OK);

  // The loop runs on the library's thread: this thread can be the client.
  RelayResult r;
  {
    PlainStream sa(where);
    PlainStream sb(where);
    relay(sa, sb, &r);
  }
  INFO(r.error);
  CHECK(r.handshakes);
  CHECK(r.relayed);
  CHECK(stun_roundtrip(stun_at));

  // Metrics from several threads at once while the loop runs.
  std::atomic<int> good{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      if (metrics_of(s).find("derp_accepts 2") != std::string::npos) ++good;
    });
  }
  for (auto& t : readers) t.join();
  CHECK(good == 4);

  std::thread stopper([&] { derp_uv_server_stop(s); });
  stopper.join();  // stop returns once the server is down and the thread joined
  CHECK(derp_uv_server_stop(s) == DERP_OK);
  // After the stop: the final counters, read on this thread.
  CHECK(metrics_of(s).find("stun_requests 1") != std::string::npos);
  CHECK(derp_uv_server_derp_address(s, &where) == DERP_OK);  // still the address it had
  // Nothing listens any more.
  PlainStream late(where);
  CHECK(late.fd() < 0);
  derp_uv_server_free(s);
}

TEST_CASE("uv C API: TLS with a self-signed certificate, pinned client relays", "[capi-server]") {
  derp_uv_server_options o = loopback_options(nullptr, /*stun=*/false);
  o.tls_mode = DERP_UV_TLS_SELF_SIGNED;
  o.tls_hostname = "127.0.0.1";
  derp_uv_server* s = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, &o, &s) == DERP_OK);
  std::size_t size = 0;
  CHECK(derp_uv_server_cert_pin(s, nullptr, 0, &size) == DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(size == DERP_CERT_PIN_TEXT_LEN);
  char pin[DERP_CERT_PIN_TEXT_LEN];
  REQUIRE(derp_uv_server_cert_pin(s, pin, sizeof pin, &size) == DERP_OK);
  CHECK(std::string(pin).rfind("sha256-raw:", 0) == 0);
  REQUIRE(derp_uv_server_start_thread(s) == DERP_OK);
  derp_addr where{};
  REQUIRE(derp_uv_server_derp_address(s, &where) == DERP_OK);
  CHECK(text_of(derp_uv_server_url, s) == "https://127.0.0.1:" + std::to_string(where.port) + "/derp");
  CHECK(derp_uv_server_stun_address(s, &where) == DERP_ERR_UNSUPPORTED);

  derp::tls::ClientOptions co;
  co.ca_bundle_path = "";
  std::unique_ptr<derp::tls::ClientConfig> client_config;
  std::string detail;
  REQUIRE(derp::tls::ClientConfig::create(co, &client_config, &detail) == DERP_OK);
  RelayResult r;
  {
    TlsStream sa(where, *client_config, pin);
    TlsStream sb(where, *client_config, pin);
    REQUIRE(sa.ok());
    REQUIRE(sb.ok());
    relay(sa, sb, &r);
  }
  INFO(r.error);
  CHECK(r.relayed);
  derp_uv_server_free(s);  // free without stop: closes at once and joins the thread
}

TEST_CASE("uv C API: bad arguments, bad addresses, busy port, free without start", "[capi-server]") {
  derp_uv_server* s = nullptr;
  derp_uv_server_options o;
  CHECK(derp_uv_server_options_init(nullptr, sizeof o) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_server_options_init(&o, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_server_new(nullptr, nullptr, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  REQUIRE(derp_uv_server_options_init(&o, sizeof o) == DERP_OK);
  CHECK(std::string(o.listen) == "127.0.0.1:0");
  o.listen = "nonsense";
  CHECK(derp_uv_server_new(nullptr, &o, &s) == DERP_ERR_ADDRESS);
  CHECK(s == nullptr);
  REQUIRE(derp_uv_server_options_init(&o, sizeof o) == DERP_OK);
  o.tls_mode = DERP_UV_TLS_PEM_FILES;  // without its files
  CHECK(derp_uv_server_new(nullptr, &o, &s) == DERP_ERR_INVALID_ARGUMENT);
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = "/nonexistent/key.pem";
  CHECK(derp_uv_server_new(nullptr, &o, &s) == DERP_ERR_TLS_CONFIG);
  o.tls_mode = DERP_UV_TLS_SELF_SIGNED;
  o.tls_hostname = "not-an-ip.example";
  CHECK(derp_uv_server_new(nullptr, &o, &s) == DERP_ERR_TLS_CONFIG);
  o.tls_mode = 77;
  CHECK(derp_uv_server_new(nullptr, &o, &s) == DERP_ERR_INVALID_ARGUMENT);
  derp_server_options core;
  REQUIRE(derp_server_options_init(&core, sizeof core) == DERP_OK);
  core.handshake_timeout_ms = 0;
  REQUIRE(derp_uv_server_options_init(&o, sizeof o) == DERP_OK);
  o.server = &core;
  CHECK(derp_uv_server_new(nullptr, &o, &s) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(s == nullptr);

  CHECK(derp_uv_server_start(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_server_start_thread(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_server_stop(nullptr) == DERP_ERR_INVALID_ARGUMENT);
  derp_addr a{};
  CHECK(derp_uv_server_derp_address(nullptr, &a) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_server_stun_address(nullptr, &a) == DERP_ERR_INVALID_ARGUMENT);
  std::size_t size = 0;
  CHECK(derp_uv_server_url(nullptr, nullptr, 0, &size) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_server_cert_pin(nullptr, nullptr, 0, &size) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_uv_server_metrics_text(nullptr, nullptr, 0, &size) == DERP_ERR_INVALID_ARGUMENT);
  derp_uv_server_free(nullptr);

  // Port already taken: start_thread fails synchronously, nothing left bound; free cleans up.
  REQUIRE(derp_uv_server_options_init(&o, sizeof o) == DERP_OK);
  derp_uv_server* first = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, &o, &first) == DERP_OK);
  REQUIRE(derp_uv_server_start_thread(first) == DERP_OK);
  derp_addr taken{};
  REQUIRE(derp_uv_server_derp_address(first, &taken) == DERP_OK);
  char listen_text[DERP_ADDR_TEXT_MAX];
  REQUIRE(derp_addr_format(&taken, listen_text, sizeof listen_text) == DERP_OK);
  o.listen = listen_text;
  derp_uv_server* second = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, &o, &second) == DERP_OK);
  CHECK(derp_uv_server_start_thread(second) == DERP_ERR_UV_LISTEN);
  CHECK(derp_uv_server_url(second, nullptr, 0, &size) == DERP_ERR_UV_STATE);
  CHECK(derp_uv_server_stop(second) == DERP_OK);
  derp_uv_server_free(second);
  CHECK(derp_uv_server_stop(first) == DERP_OK);
  derp_uv_server_free(first);

  // Made and freed without ever starting; stop before start is fine too.
  REQUIRE(derp_uv_server_options_init(&o, sizeof o) == DERP_OK);
  REQUIRE(derp_uv_server_new(nullptr, &o, &s) == DERP_OK);
  CHECK(derp_uv_server_stop(s) == DERP_OK);
  CHECK(derp_uv_server_start_thread(s) == DERP_ERR_UV_STATE);
  derp_uv_server_free(s);

  // The same on a host loop: the loop closes cleanly afterwards.
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  REQUIRE(derp_uv_server_new(reinterpret_cast<struct uv_loop_s*>(&loop), &o, &s) == DERP_OK);
  REQUIRE(derp_uv_server_start(s) == DERP_OK);
  derp_uv_server_free(s);  // never ran the loop, never stopped: closed at once
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("uv C API: the server's public key, given or generated", "[capi-server]") {
  derp_server_options core;
  REQUIRE(derp_server_options_init(&core, sizeof core) == DERP_OK);
  REQUIRE(derp_key_generate(core.private_key) == DERP_OK);
  std::uint8_t expected[DERP_KEY_LEN];
  REQUIRE(derp_key_public_from_private(core.private_key, expected) == DERP_OK);

  derp_uv_server_options o = loopback_options(&core, /*stun=*/false);
  derp_uv_server* given = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, &o, &given) == DERP_OK);
  std::uint8_t got[DERP_KEY_LEN] = {};
  REQUIRE(derp_uv_server_public_key(given, got) == DERP_OK);  // before start, too
  CHECK(std::memcmp(got, expected, DERP_KEY_LEN) == 0);
  CHECK(derp_uv_server_public_key(given, nullptr) == DERP_ERR_INVALID_ARGUMENT);
  derp_uv_server_free(given);

  o = loopback_options(nullptr, /*stun=*/false);  // no core options: a fresh key, still readable
  derp_uv_server* fresh = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, &o, &fresh) == DERP_OK);
  std::uint8_t generated[DERP_KEY_LEN] = {};
  REQUIRE(derp_uv_server_public_key(fresh, generated) == DERP_OK);
  CHECK(derp_key_is_zero(generated) == 0);
  CHECK(std::memcmp(generated, expected, DERP_KEY_LEN) != 0);
  derp_uv_server_free(fresh);
}
