// Codec throughput: how many STUN messages and DERP frames per second one core parses and builds.
// A benchmark program, not a test: it prints figures and never fails on speed. See docs/benchmarks.md.
//
//   build/release/bench/bench_codec [seconds-per-case]   (default 0.5)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "crypto/node_key.hpp"
#include "crypto/sealed_info.hpp"
#include "frame/encode.hpp"
#include "frame/frame_reader.hpp"
#include "frame/messages.hpp"
#include "stun/message.hpp"
#include "stun/request.hpp"
#include "stun/responder.hpp"
#include "stun/tailscale.hpp"

namespace {

volatile std::uint64_t g_sink = 0;  // keeps the optimiser from deleting the work

// Runs body (which does `batch` operations and returns bytes processed) until `seconds` pass; prints ops/s.
void run(const char* name, double seconds, std::size_t batch, const std::function<std::size_t()>& body) {
  using clock = std::chrono::steady_clock;
  std::uint64_t ops = 0;
  std::uint64_t bytes = 0;
  const auto start = clock::now();
  double elapsed = 0;
  do {
    bytes += body();
    ops += batch;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  } while (elapsed < seconds);
  const double per_sec = static_cast<double>(ops) / elapsed;
  std::printf("%-58s %12.0f ops/s %9.1f ns/op", name, per_sec, 1e9 / per_sec);
  if (bytes > 0) std::printf(" %9.1f MB/s", static_cast<double>(bytes) / elapsed / 1e6);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.5;
  std::printf("libderp codec benchmark (%.2f s per case, one thread)\n\n", seconds);

  // ---- STUN ----
  derp::stun::TransactionId txid{};
  for (std::size_t i = 0; i < txid.size(); ++i) txid[i] = static_cast<std::uint8_t>(i + 1);
  std::uint8_t request[64];
  std::size_t request_len = 0;
  derp::stun::build_tailscale_request(txid, derp::MutableBytes(request), &request_len);
  derp_addr client{};
  client.family = DERP_AF_INET;
  client.ip[0] = 192;
  client.ip[3] = 1;
  client.port = 41641;
  std::uint8_t response[derp::stun::kMaxResponseSize];
  std::size_t response_len = 0;
  derp::stun::BindingResponder responder;
  responder.respond(derp::Bytes(request, request_len), client, derp::MutableBytes(response), &response_len);

  // An ICE-style request: SOFTWARE, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT.
  std::uint8_t ice[256];
  std::size_t ice_len = 0;
  const std::string password = "VOkJxbRl1RmTxUk/WvJxBt";
  derp::stun::RequestOptions ice_opts;
  ice_opts.software = "libderp bench";
  ice_opts.username = "evtj:h6vY";
  ice_opts.integrity_key = derp::Bytes(reinterpret_cast<const std::uint8_t*>(password.data()), password.size());
  derp::stun::build_request(txid, ice_opts, derp::MutableBytes(ice), &ice_len);

  run("stun: build Tailscale binding request", seconds, 1000, [&] {
    std::size_t n = 0;
    for (int i = 0; i < 1000; ++i) {
      txid[0] = static_cast<std::uint8_t>(i);
      derp::stun::build_tailscale_request(txid, derp::MutableBytes(request), &n);
    }
    g_sink = g_sink + n;
    return std::size_t{0};
  });
  run("stun: parse Tailscale binding request", seconds, 1000, [&] {
    derp::stun::Message m;
    for (int i = 0; i < 1000; ++i) g_sink = g_sink + static_cast<std::uint64_t>(derp::stun::parse(derp::Bytes(request, request_len), &m));
    return std::size_t{0};
  });
  run("stun: parse ICE request (4 attrs, CRC checked)", seconds, 1000, [&] {
    derp::stun::Message m;
    for (int i = 0; i < 1000; ++i) g_sink = g_sink + static_cast<std::uint64_t>(derp::stun::parse(derp::Bytes(ice, ice_len), &m));
    return std::size_t{0};
  });
  run("stun: responder (request in, response out)", seconds, 1000, [&] {
    std::size_t n = 0;
    for (int i = 0; i < 1000; ++i) {
      responder.respond(derp::Bytes(request, request_len), client, derp::MutableBytes(response), &n);
    }
    g_sink = g_sink + n;
    return std::size_t{0};
  });
  run("stun: parse binding response (client side)", seconds, 1000, [&] {
    derp::stun::BindingResult r;
    for (int i = 0; i < 1000; ++i) {
      g_sink = g_sink + static_cast<std::uint64_t>(derp::stun::parse_binding_response(derp::Bytes(response, response_len), &r));
    }
    return std::size_t{0};
  });

  // ---- DERP frames ----
  for (std::size_t size : {64u, 1280u, 16384u}) {
    std::vector<std::uint8_t> packet(size, 0x5a);
    derp::frame::SendPacketFrame send;
    send.dst.fill(0xd0);
    send.packet = derp::Bytes(packet);
    std::vector<std::uint8_t> out(size + 64);
    const std::string name = "frame: encode SendPacket " + std::to_string(size) + " B";
    run(name.c_str(), seconds, 1000, [&] {
      std::size_t n = 0;
      for (int i = 0; i < 1000; ++i) derp::frame::encode(send, derp::MutableBytes(out), &n);
      g_sink = g_sink + n;
      return n * 1000;
    });
    // A stream of 256 RecvPacket frames, read as one buffer (zero-copy path) and in 1500-byte pieces (buffered).
    std::vector<std::uint8_t> stream;
    derp::frame::RecvPacketFrame recv;
    recv.src.fill(0x64);
    recv.packet = derp::Bytes(packet);
    for (int i = 0; i < 256; ++i) {
      std::size_t n = 0;
      derp::frame::encode(recv, derp::MutableBytes(out), &n);
      stream.insert(stream.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
    }
    for (std::size_t piece : {stream.size(), std::size_t{1500}}) {
      const std::string rname = "frame: read RecvPacket " + std::to_string(size) + " B" +
                                (piece == stream.size() ? " (whole buffer, zero-copy)" : " (1500 B reads, copied)");
      run(rname.c_str(), seconds, 256, [&] {
        derp::frame::FrameReader reader;
        derp::Bytes in(stream);
        std::size_t frames = 0;
        while (!in.empty()) {
          derp::Bytes part = in.first(std::min(piece, in.size()));
          in = in.subspan(part.size());
          while (!part.empty()) {
            std::size_t used = 0;
            derp::frame::Frame f;
            const int r = reader.next(part, &used, &f);
            part = part.subspan(used);
            if (r == 1) {
              ++frames;
              g_sink = g_sink + f.payload.size();
            }
            if (r <= 0) break;
          }
        }
        if (frames != 256) std::abort();
        // Zero-copy frames are views: no payload byte is touched, so a MB/s figure would mean nothing.
        return piece == stream.size() ? std::size_t{0} : stream.size();
      });
    }
  }

  // ---- handshake crypto ----
  derp::crypto::NodePrivate server_priv, client_priv;
  derp::crypto::generate_private(&server_priv);
  derp::crypto::generate_private(&client_priv);
  derp::crypto::NodePublic server_pub, client_pub;
  derp::crypto::public_of(server_priv, &server_pub);
  derp::crypto::public_of(client_priv, &client_pub);
  derp::crypto::ClientInfo info;
  info.version = 2;
  info.can_ack_pings = true;
  std::vector<std::uint8_t> sealed;
  derp::crypto::seal_client_info(client_priv, server_pub, info, &sealed);
  run("crypto: seal ClientInfo (X25519 + box)", seconds, 100, [&] {
    std::vector<std::uint8_t> s;
    for (int i = 0; i < 100; ++i) derp::crypto::seal_client_info(client_priv, server_pub, info, &s);
    g_sink = g_sink + s.size();
    return std::size_t{0};
  });
  run("crypto: open ClientInfo (server side)", seconds, 100, [&] {
    derp::crypto::NodePublic who;
    derp::crypto::ClientInfo got;
    for (int i = 0; i < 100; ++i) {
      g_sink = g_sink + static_cast<std::uint64_t>(derp::crypto::open_client_info(server_priv, derp::Bytes(sealed), &who, &got));
    }
    return std::size_t{0};
  });
  return 0;
}
