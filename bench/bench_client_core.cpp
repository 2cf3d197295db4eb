// The sans-IO client core on its own (no sockets): how fast one ClientConnection takes in RecvPacket frames and
// queues SendPacket frames, and how much heap an idle connection holds. A benchmark program, not a test: it prints
// figures and never fails on speed. See docs/benchmarks.md, "Client".
//
//   build/release/bench/bench_client_core [seconds-per-case]   (default 0.5)
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "client/connection.hpp"
#include "crypto/node_key.hpp"
#include "crypto/sealed_info.hpp"
#include "frame/encode.hpp"
#include "frame/messages.hpp"

namespace {

using derp::Bytes;
using derp::client::ClientConnection;

struct CountingEvents : derp::client::ClientEvents {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  void on_packet(const derp::crypto::NodePublic&, Bytes payload) override {
    ++packets;
    bytes += payload.size();
  }
};

std::vector<std::uint8_t> frame_bytes(const auto& msg) {
  std::size_t need = 0;
  derp::frame::encode(msg, derp::MutableBytes(), &need);
  std::vector<std::uint8_t> out(need);
  derp::frame::encode(msg, derp::MutableBytes(out), &need);
  return out;
}

// A server's first bytes to a fast-start client: ServerKey, then the sealed ServerInfo.
std::vector<std::uint8_t> greeting(const derp::crypto::NodePrivate& server, const derp::crypto::NodePublic& client) {
  derp::crypto::NodePublic server_pub;
  derp::crypto::public_of(server, &server_pub);
  derp::frame::ServerKeyFrame key;
  key.key = server_pub.bytes();
  std::vector<std::uint8_t> out = frame_bytes(key);
  derp::crypto::ServerInfo info;
  info.version = 2;
  std::vector<std::uint8_t> sealed;
  derp::crypto::seal_server_info(server, client, info, &sealed);
  derp::frame::ServerInfoFrame si;
  std::copy_n(sealed.begin(), si.nonce.size(), si.nonce.begin());
  si.box = Bytes(sealed.data() + si.nonce.size(), sealed.size() - si.nonce.size());
  const auto f = frame_bytes(si);
  out.insert(out.end(), f.begin(), f.end());
  return out;
}

std::unique_ptr<ClientConnection> connected_client(const derp::crypto::NodePrivate& server,
                                                   const derp::crypto::NodePrivate& me,
                                                   derp::client::ClientEvents* events) {
  derp::client::ClientOptions options;
  options.private_key = me;
  options.host = "bench";
  options.fast_start = true;
  std::unique_ptr<ClientConnection> conn;
  if (ClientConnection::create(options, events, 1, &conn) != DERP_OK) std::abort();
  derp::crypto::NodePublic me_pub;
  derp::crypto::public_of(me, &me_pub);
  const auto hello = greeting(server, me_pub);
  conn->receive(Bytes(hello), 2);
  conn->output_written(conn->pending_output().size(), 2);
  if (!conn->connected()) std::abort();
  return conn;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.5;
  std::printf("libderp client core benchmark (%.2f s per case, one thread, no sockets)\n\n", seconds);
  derp::crypto::NodePrivate server, me, peer;
  derp::crypto::generate_private(&server);
  derp::crypto::generate_private(&me);
  derp::crypto::generate_private(&peer);
  derp::crypto::NodePublic peer_pub;
  derp::crypto::public_of(peer, &peer_pub);

  for (std::size_t size : {64u, 1280u, 16384u}) {
    // Receive: a 64 KiB read's worth of RecvPacket frames per receive() call, as a socket read would bring them.
    // Whole frames are handed to on_packet as views into the read (no copy), so the MB/s column is the rate at
    // which payload is *delivered*, not copied.
    CountingEvents events;
    auto conn = connected_client(server, me, &events);
    derp::frame::RecvPacketFrame rp;
    rp.src = peer_pub.bytes();
    std::vector<std::uint8_t> payload(size, 0x5a);
    rp.packet = Bytes(payload);
    const auto one = frame_bytes(rp);
    std::vector<std::uint8_t> chunk;
    while (chunk.size() + one.size() <= 65536) chunk.insert(chunk.end(), one.begin(), one.end());
    derp::Nanos t = 10;
    double start = now_seconds(), elapsed = 0;
    do {
      for (int i = 0; i < 16; ++i) conn->receive(Bytes(chunk), ++t);
      elapsed = now_seconds() - start;
    } while (elapsed < seconds);
    std::printf("receive RecvPacket %6zu B   %12.0f pkt/s %9.1f ns/pkt %9.1f MB/s\n", size,
                static_cast<double>(events.packets) / elapsed, elapsed * 1e9 / static_cast<double>(events.packets),
                static_cast<double>(events.bytes) / elapsed / 1e6);

    // Send: send_packet, then the host writes everything pending (as one socket write would) after about 32 KiB,
    // a socket buffer's worth. (Batches far larger than the core's retained 64 KiB output buffer would measure
    // its release and regrowth instead.)
    std::uint64_t sent = 0;
    const std::size_t batch = std::max<std::size_t>(1, 32768 / (size + 37));
    start = now_seconds();
    do {
      for (std::size_t i = 0; i < batch; ++i) {
        if (conn->send_packet(peer_pub, Bytes(payload), ++t) == DERP_OK) ++sent;
      }
      conn->output_written(conn->pending_output().size(), t);
      elapsed = now_seconds() - start;
    } while (elapsed < seconds);
    std::printf("send_packet        %6zu B   %12.0f pkt/s %9.1f ns/pkt %9.1f MB/s\n", size,
                static_cast<double>(sent) / elapsed, elapsed * 1e9 / static_cast<double>(sent),
                static_cast<double>(sent * size) / elapsed / 1e6);
  }

  // Heap per idle, connected core (after the handshake, buffers back to their resting size).
  constexpr int kConns = 1000;
  CountingEvents idle_events;
  std::vector<std::unique_ptr<ClientConnection>> conns;
  conns.reserve(kConns);
  const auto before = mallinfo2().uordblks;
  for (int i = 0; i < kConns; ++i) conns.push_back(connected_client(server, me, &idle_events));
  const auto after = mallinfo2().uordblks;
  std::printf("\nheap per idle connected core: %.0f B (%d cores; sizeof(ClientConnection) = %zu B)\n",
              static_cast<double>(after - before) / kConns, kConns, sizeof(ClientConnection));
  return 0;
}
