// UvTlsPump (uv/uv_tls_pump.hpp), the TLS pump both drivers share, over a real socket whose other end the test
// reads only when it wants to: what the socket does not take at once is written from the session's own buffer
// and arrives intact, and a pump retired with that write still in flight frees itself when the write ends
// (the sanitizer build checks that nothing is touched or leaked after).
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <uv.h>

#include "test_tls_helpers.hpp"
#include "uv/uv_tls_pump.hpp"

using namespace derp;
using namespace derp::tls::test;

namespace {

// A host whose core has `output` to send and records what the pump asked of it.
struct FakeHost : uv::UvTlsPump::Host {
  std::string output;
  std::size_t taken = 0;
  std::string received;
  int writes_done = 0;
  int last_status = 1;

  bool takes_plaintext() const override { return true; }
  void deliver_plaintext(Bytes plaintext, Nanos) override {
    received.append(reinterpret_cast<const char*>(plaintext.data()), plaintext.size());
  }
  std::size_t plaintext_output(std::span<Bytes> views) override {
    if (taken == output.size() || views.empty()) return 0;
    // Frames of 1,300 bytes, as a burst of WireGuard-sized packets arrives from the server core.
    std::size_t n = 0;
    for (std::size_t at = taken; at < output.size() && n < views.size(); at += 1300, ++n) {
      views[n] = as_bytes(output).subspan(at, std::min<std::size_t>(1300, output.size() - at));
    }
    return n;
  }
  void plaintext_taken(std::size_t n, Nanos) override { taken += n; }
  void tls_write_done(int status) override {
    ++writes_done;
    last_status = status;
  }
};

std::string pattern(std::size_t size) {
  std::mt19937 rng(7);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Two sessions after their handshake (both on our record layer), and a socket pair: the pump writes to one end
// through libuv, the test reads the other by hand.
struct PumpBench {
  std::unique_ptr<tls::ServerConfig> server_config = self_signed_server();
  std::unique_ptr<tls::ClientConfig> client_cfg = client_config();
  Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config);
  uv_loop_t loop{};
  uv_pipe_t* pipe = new uv_pipe_t;
  int peer_fd = -1;

  PumpBench() {
    REQUIRE(c.client.session->handshake_done());
    REQUIRE(c.client.session->on_record_layer());
    REQUIRE(uv_loop_init(&loop) == 0);
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    peer_fd = fds[1];
    REQUIRE(uv_pipe_init(&loop, pipe, 0) == 0);
    REQUIRE(uv_pipe_open(pipe, fds[0]) == 0);
  }
  ~PumpBench() {
    if (pipe != nullptr) close_pipe();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (peer_fd >= 0) ::close(peer_fd);
  }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(pipe); }
  void close_pipe() {
    uv_close(reinterpret_cast<uv_handle_t*>(pipe), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    pipe = nullptr;
  }
  // Reads what the peer end has (without blocking) into the server session; true when something came.
  bool drain_peer() {
    std::vector<std::uint8_t> buffer(64 * 1024);
    const ssize_t n = ::recv(peer_fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n <= 0) return false;
    std::size_t offset = 0;
    while (offset < static_cast<std::size_t>(n) && c.server.error == DERP_OK) {
      std::size_t used = 0;
      const int rc = c.server.session->feed_ciphertext(Bytes(buffer.data() + offset, n - offset), &used);
      if (rc != DERP_OK) c.server.error = rc;
      offset += used;
      c.server.read_all();
    }
    return true;
  }
};

}  // namespace

TEST_CASE("uv tls pump: what the socket does not take is written from the session's buffer and arrives intact",
          "[uv][tls]") {
  PumpBench bench;
  FakeHost host;
  host.output = pattern(4 << 20);  // far more than a socket pair buffers
  uv::UvTlsPump pump(&host, bench.stream(), std::move(bench.c.client.session), MutableBytes());

  REQUIRE(pump.flush(0) == uv::UvTlsPump::Outcome::kOk);
  REQUIRE(pump.write_in_flight());  // the socket filled up: the rest waits in one queued write
  REQUIRE(host.taken < host.output.size());
  const std::size_t taken_at_first = host.taken;
  // While the write is in flight the pump takes nothing more: the bytes under it must not move.
  REQUIRE(pump.flush(0) == uv::UvTlsPump::Outcome::kOk);
  REQUIRE(host.taken == taken_at_first);

  // The peer reads; each finished write lets the pump seal and send more, until all of it is through.
  for (int round = 0; round < 100000 && bench.c.server.received.size() < host.output.size(); ++round) {
    bench.drain_peer();
    uv_run(&bench.loop, UV_RUN_NOWAIT);
    if (!pump.write_in_flight()) REQUIRE(pump.flush(0) == uv::UvTlsPump::Outcome::kOk);
  }
  REQUIRE(bench.c.server.error == DERP_OK);
  REQUIRE(host.writes_done > 0);
  REQUIRE(host.last_status == 0);
  REQUIRE(host.taken == host.output.size());
  REQUIRE(bench.c.server.received == host.output);
  REQUIRE(pump.drained());
}

TEST_CASE("uv tls pump: a pump retired with a write in flight frees itself when that write ends", "[uv][tls]") {
  PumpBench bench;
  FakeHost host;
  host.output = pattern(2 << 20);
  auto pump = std::make_unique<uv::UvTlsPump>(&host, bench.stream(), std::move(bench.c.client.session),
                                              MutableBytes());
  REQUIRE(pump->flush(0) == uv::UvTlsPump::Outcome::kOk);
  REQUIRE(pump->write_in_flight());

  // The host goes away (a client transport destroyed mid-write): the write still points into the session.
  uv::UvTlsPump::retire(std::move(pump));
  bench.close_pipe();  // the write ends with UV_ECANCELED; its callback frees the pump
  uv_run(&bench.loop, UV_RUN_DEFAULT);
  REQUIRE(host.writes_done == 0);  // the retired pump never called its host again
}

TEST_CASE("uv tls pump: records in a read are handed over in place, and close_notify ends the stream",
          "[uv][tls]") {
  PumpBench bench;
  FakeHost host;
  uv::UvTlsPump pump(&host, bench.stream(), std::move(bench.c.client.session), MutableBytes());
  // Three records from the server in one read, then its close_notify.
  std::size_t accepted = 0;
  const std::string message = pattern(40000);
  REQUIRE(bench.c.server.session->write_plaintext(as_bytes(message), &accepted) == DERP_OK);
  REQUIRE(accepted == message.size());
  REQUIRE(bench.c.server.session->close_notify() == DERP_OK);
  const Bytes wire = bench.c.server.session->pending_ciphertext();
  std::vector<std::uint8_t> read(wire.begin(), wire.end());
  REQUIRE(pump.receive(MutableBytes(read), 0) == uv::UvTlsPump::Outcome::kPeerClosed);
  REQUIRE(host.received == message);
}
