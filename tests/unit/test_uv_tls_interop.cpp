// TLS interop on the libuv server after the switch to our own record layer (tls/session.hpp): OpenSSL's
// `openssl s_client`, pinned to one TLS 1.2 suite, carries real DERP frames (upgrade, ClientInfo, packets of 1200
// B and 64 KiB, a burst) between two clients through our server; and our own TLS client against a server that
// accepts only one suite. Suites: ECDHE-ECDSA with AES-256-GCM and ChaCha20-Poly1305 (our record layer) and
// AES-128-GCM (mbedTLS' record path).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>

#include <mbedtls/ssl_ciphersuites.h>
#include <sodium.h>

#include "test_uv_support.hpp"
#include "tls/client_config.hpp"
#include "tls/server_config.hpp"

using derp::frame::FrameType;
using derp::uv::UvServer;
using namespace derp::uvtest;

namespace {

const int kAes256[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 0};
const int kChaCha[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0};
const int kAes128[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0};

bool have_openssl() { return access("/usr/bin/openssl", X_OK) == 0; }

// `openssl s_client` as a Stream: its stdin and stdout are the plaintext of one TLS connection to `port`.
class OpenSslStream : public Stream {
 public:
  OpenSslStream(std::uint16_t port, const std::string& cipher) {
    int in[2];
    int out[2];
    if (pipe(in) != 0) return;
    if (pipe(out) != 0) {
      close(in[0]);
      close(in[1]);
      return;
    }
    const std::string connect = "127.0.0.1:" + std::to_string(port);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      const int null = open("/dev/null", O_WRONLY);
      if (null >= 0) dup2(null, 2);
      for (int fd = 3; fd < 1024; ++fd) close(fd);
      execl("/usr/bin/openssl", "openssl", "s_client", "-connect", connect.c_str(), "-tls1_2", "-cipher",
            cipher.c_str(), "-quiet", "-no_ign_eof", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~OpenSslStream() override {
    if (to_ >= 0) close(to_);
    if (from_ >= 0) close(from_);
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool write_all(derp::Bytes data) override {
    while (!data.empty()) {
      const ssize_t n = write(to_, data.data(), data.size());
      if (n <= 0) return false;
      data = data.subspan(static_cast<std::size_t>(n));
    }
    return true;
  }
  long read_some(derp::MutableBytes out) override {
    pollfd p{from_, POLLIN, 0};
    if (poll(&p, 1, kIoTimeoutMs) <= 0) return -1;
    return static_cast<long>(read(from_, out.data(), out.size()));
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
};

std::vector<std::uint8_t> recv_payload(const derp::crypto::NodePublic& from, const std::vector<std::uint8_t>& packet) {
  std::vector<std::uint8_t> p(from.bytes().begin(), from.bytes().end());
  p.insert(p.end(), packet.begin(), packet.end());
  return p;
}

struct Relay {
  bool handshakes = false;
  bool a_to_b = false;
  bool b_to_a_largest = false;
  int burst = 0;
  std::string error;
};

template <class Open>
void relay(Open open, Relay* r) {
  auto sa = open();
  auto sb = open();
  DerpClient a(*sa);
  DerpClient b(*sb);
  r->handshakes = a.handshake() && b.handshake();
  if (!r->handshakes) {
    r->error = a.error() + " / " + b.error();
    return;
  }
  Frame f;
  const auto p1 = test_packet(1200, 1);
  r->a_to_b = a.send_packet(b.public_key(), p1) && b.wait_frame(FrameType::RecvPacket, &f) &&
              f.payload == recv_payload(a.public_key(), p1);
  const auto p2 = test_packet(65536, 2);  // spans five records each way
  r->b_to_a_largest = b.send_packet(a.public_key(), p2) && a.wait_frame(FrameType::RecvPacket, &f) &&
                      f.payload == recv_payload(b.public_key(), p2);
  for (int i = 0; i < 50; ++i) {
    if (!a.send_packet(b.public_key(), test_packet(300, static_cast<std::uint8_t>(i)))) return;
  }
  for (int i = 0; i < 50; ++i) {
    if (!b.wait_frame(FrameType::RecvPacket, &f)) break;
    if (f.payload != recv_payload(a.public_key(), test_packet(300, static_cast<std::uint8_t>(i)))) break;
    r->burst++;
  }
}

struct Suite {
  const char* openssl_name;
  const int* mbedtls_list;
  bool needs_aes;
};

}  // namespace

TEST_CASE("uv tls interop: openssl s_client pinned to one suite relays DERP frames through our server", "[uv]") {
  if (!have_openssl()) {
    WARN("no /usr/bin/openssl: skipped");
    return;
  }
  REQUIRE(sodium_init() >= 0);
  const Suite suite = GENERATE(Suite{"ECDHE-ECDSA-AES256-GCM-SHA384", kAes256, true},
                               Suite{"ECDHE-ECDSA-CHACHA20-POLY1305", kChaCha, false},
                               Suite{"ECDHE-ECDSA-AES128-GCM-SHA256", kAes128, false});
  CAPTURE(suite.openssl_name);
  std::unique_ptr<derp::tls::ServerConfig> tls_config;
  std::string detail;
  REQUIRE(derp::tls::ServerConfig::self_signed("127.0.0.1", static_cast<std::int64_t>(std::time(nullptr)),
                                               &tls_config, &detail) == DERP_OK);
  auto options = loopback_options();
  options.tls = tls_config.get();
  std::unique_ptr<UvServer> server;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const std::uint16_t port = server->tcp_addresses().at(0).port;

  Relay r;
  LoopRunner runner(*server);
  const bool finished = runner.run(
      [&](LoopRunner&) { relay([&] { return std::make_unique<OpenSslStream>(port, suite.openssl_name); }, &r); });
  CHECK(finished);
  INFO(r.error);
  CHECK(r.handshakes);
  CHECK(r.a_to_b);
  CHECK(r.b_to_a_largest);
  CHECK(r.burst == 50);
}

TEST_CASE("uv tls interop: our client against a server that accepts only one suite", "[uv]") {
  REQUIRE(sodium_init() >= 0);
  const Suite suite = GENERATE(Suite{"AES-256-GCM", kAes256, true}, Suite{"ChaCha20-Poly1305", kChaCha, false},
                               Suite{"AES-128-GCM", kAes128, false});
  CAPTURE(suite.openssl_name);
  if (suite.needs_aes && crypto_aead_aes256gcm_is_available() == 0) return;  // the server would not switch either
  std::unique_ptr<derp::tls::ServerConfig> tls_config;
  std::string detail;
  REQUIRE(derp::tls::ServerConfig::self_signed("127.0.0.1", static_cast<std::int64_t>(std::time(nullptr)),
                                               &tls_config, &detail) == DERP_OK);
  tls_config->set_ciphersuites(suite.mbedtls_list);
  derp::tls::ClientOptions client_options;
  client_options.ca_bundle_path = "";
  std::unique_ptr<derp::tls::ClientConfig> client_config;
  REQUIRE(derp::tls::ClientConfig::create(client_options, &client_config, &detail) == DERP_OK);
  const std::string pin = tls_config->cert_name();
  auto options = loopback_options();
  options.tls = tls_config.get();
  std::unique_ptr<UvServer> server;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  Relay r;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    relay(
        [&] {
          auto s = std::make_unique<TlsStream>(addr, *client_config, pin);
          if (!s->ok()) r.error = "TLS: " + s->error();
          return s;
        },
        &r);
  });
  CHECK(finished);
  INFO(r.error);
  CHECK(r.handshakes);
  CHECK(r.a_to_b);
  CHECK(r.b_to_a_largest);
  CHECK(r.burst == 50);
}

TEST_CASE("uv tls: a tampered record closes that connection with an alert while the others keep relaying", "[uv]") {
  std::unique_ptr<derp::tls::ServerConfig> tls_config;
  std::string detail;
  REQUIRE(derp::tls::ServerConfig::self_signed("127.0.0.1", static_cast<std::int64_t>(std::time(nullptr)),
                                               &tls_config, &detail) == DERP_OK);
  derp::tls::ClientOptions client_options;
  client_options.ca_bundle_path = "";
  std::unique_ptr<derp::tls::ClientConfig> client_config;
  REQUIRE(derp::tls::ClientConfig::create(client_options, &client_config, &detail) == DERP_OK);
  const std::string pin = tls_config->cert_name();
  auto options = loopback_options();
  options.tls = tls_config.get();
  std::unique_ptr<UvServer> server;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  const std::string what = GENERATE(as<std::string>{}, "ciphertext bit", "tag bit", "replay");
  CAPTURE(what);
  bool good_handshakes = false;
  bool bad_handshake = false;
  std::string answer;  // what the server sent the tampering client after the bad record, up to its close
  bool closed = false;
  bool relayed_after = false;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    TlsStream sa(addr, *client_config, pin);
    TlsStream sb(addr, *client_config, pin);
    DerpClient a(sa);
    DerpClient b(sb);
    good_handshakes = sa.ok() && sb.ok() && a.handshake() && b.handshake();
    if (!good_handshakes) return;

    // The tampering client: a TLS handshake by hand over a plain socket, then one bad record.
    PlainStream tcp(addr);
    std::unique_ptr<derp::tls::Session> session;
    std::string why;
    if (tcp.fd() < 0 ||
        derp::tls::Session::create_client(*client_config, {"127.0.0.1", pin}, &session, &why) != DERP_OK) {
      return;
    }
    std::uint8_t buffer[16384];
    for (int round = 0; round < 20 && !session->handshake_done(); ++round) {
      const derp::Bytes out = session->pending_ciphertext();
      if (!out.empty() && !tcp.write_all(out)) return;
      session->consume_ciphertext(out.size());
      if (session->handshake_done()) break;
      const long n = tcp.read_some(derp::MutableBytes(buffer, sizeof buffer));
      if (n <= 0) return;
      std::size_t used = 0;
      std::size_t got = 0;
      session->feed_ciphertext(derp::Bytes(buffer, static_cast<std::size_t>(n)), &used);
      session->read_plaintext(derp::MutableBytes(buffer, sizeof buffer), &got);
    }
    bad_handshake = session->handshake_done() && session->on_record_layer();
    if (!bad_handshake) return;
    const std::string request = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n";
    std::size_t accepted = 0;
    session->write_plaintext(derp::Bytes(reinterpret_cast<const std::uint8_t*>(request.data()), request.size()),
                             &accepted);
    std::vector<std::uint8_t> record(session->pending_ciphertext().begin(), session->pending_ciphertext().end());
    session->consume_ciphertext(record.size());
    std::vector<std::uint8_t> wire = record;
    if (what == "ciphertext bit") {
      wire[10] ^= 0x01;
    } else if (what == "tag bit") {
      wire.back() ^= 0x01;
    } else {
      wire.insert(wire.end(), record.begin(), record.end());  // the same record twice: the second is a replay
    }
    if (!tcp.write_all(wire)) return;
    closed = tcp.read_to_end(&answer);

    // The two good clients never noticed.
    Frame f;
    const auto p = test_packet(1200, 9);
    relayed_after = a.send_packet(b.public_key(), p) && b.wait_frame(FrameType::RecvPacket, &f) &&
                    f.payload == recv_payload(a.public_key(), p);
  });
  CHECK(finished);
  REQUIRE(good_handshakes);
  REQUIRE(bad_handshake);
  CHECK(closed);
  // The replay case first gets the 101 answer to the genuine request; then, for every case, the server's last
  // record is one sealed alert (bad_record_mac, opened only by the peer's keys: type 21 is visible) before its FIN.
  REQUIRE(answer.size() >= 5 + 8 + 2 + 16 - 8);
  const std::size_t alert_len = answer.size() >= 31 && static_cast<std::uint8_t>(answer[answer.size() - 31]) == 21
                                    ? 31   // AES-256-GCM: 5 + 8 + 2 + 16
                                    : 23;  // ChaCha20-Poly1305: 5 + 2 + 16
  CHECK(static_cast<std::uint8_t>(answer[answer.size() - alert_len]) == 21);
  CHECK(relayed_after);
}

TEST_CASE("uv tls interop: Python's ssl module with a fixed cipher relays DERP frames through our server", "[uv]") {
  // The script beside this file's folder: __FILE__ as the compiler saw it (absolute, or relative to the test's
  // working directory), else from the test binary's place (build/<dir>/tests/ in this checkout).
  std::string script = std::string(__FILE__).substr(0, std::string(__FILE__).rfind("/unit/")) + "/interop/derp_tls_relay.py";
  if (access(script.c_str(), R_OK) != 0) {
    char exe[4096] = {};
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const std::string dir = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : std::string();
    script = dir.substr(0, dir.rfind('/')) + "/../../../tests/interop/derp_tls_relay.py";
  }
  if (access("/usr/bin/python3", X_OK) != 0 || access(script.c_str(), R_OK) != 0) {
    WARN("no /usr/bin/python3 or " << script << ": skipped");
    return;
  }
  REQUIRE(sodium_init() >= 0);
  const std::string cipher = GENERATE(as<std::string>{}, "ECDHE-ECDSA-AES256-GCM-SHA384",
                                      "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-GCM-SHA256");
  CAPTURE(cipher);
  std::unique_ptr<derp::tls::ServerConfig> tls_config;
  std::string detail;
  REQUIRE(derp::tls::ServerConfig::self_signed("127.0.0.1", static_cast<std::int64_t>(std::time(nullptr)),
                                               &tls_config, &detail) == DERP_OK);
  auto options = loopback_options();
  options.tls = tls_config.get();
  std::unique_ptr<UvServer> server;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const std::uint16_t port = server->tcp_addresses().at(0).port;
  int status = -1;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    const std::string command =
        "timeout 30 /usr/bin/python3 " + script + " " + std::to_string(port) + " " + cipher + " >/dev/null 2>&1";
    status = std::system(command.c_str());
  });
  CHECK(finished);
  CHECK(status == 0);
}
