// Fuzz target: one server connection's whole input path — HTTP head, upgrade, handshake, frames — in the sans-IO
// server core, with a second, well-behaved client connected so routing, queues and PeerGone run too.
//
// Input layout: byte 0 picks the mode (bit 0: skip to after a valid handshake, so the fuzzer explores frames
// rather than the box it cannot forge; bits 1-3: split size for feeding); the rest is the byte stream.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "crypto/sealed_info.hpp"
#include "frame/header.hpp"
#include "server/server.hpp"

namespace {

using derp::server::Connection;
using derp::server::Phase;
using derp::server::Server;

derp::crypto::NodePrivate fixed_key(std::uint8_t seed) {
  derp::crypto::KeyBytes raw{};
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(seed + i);
  return derp::crypto::NodePrivate(raw);
}

struct World {
  std::unique_ptr<Server> server;
  std::vector<std::uint8_t> handshake;  // a valid upgrade + ClientInfo for the fuzzed client's key
  derp::crypto::NodePrivate peer_key = fixed_key(0x41);
  derp::crypto::NodePrivate fuzz_key = fixed_key(0x21);

  World() {
    derp::server::ServerOptions o;
    o.private_key = fixed_key(1);
    o.keepalive_interval = derp::server::kSecond;
    o.mesh_key = std::string(64, 'a');
    // Every run replays the same two handshakes (fixed nonces, one server for all runs): the replay cache would
    // refuse them from the second run on and hide everything after the handshake from the fuzzer.
    o.replay_cache_keys = 0;
    server = std::make_unique<Server>(std::move(o));
    handshake = client_hello(fuzz_key, true);
  }

  std::vector<std::uint8_t> client_hello(const derp::crypto::NodePrivate& key, bool mesh) const {
    const std::string head = "GET /derp HTTP/1.1\r\nUpgrade: DERP\r\nDerp-Fast-Start: 1\r\n\r\n";
    std::vector<std::uint8_t> out(head.begin(), head.end());
    derp::crypto::ClientInfo info;
    info.version = 2;
    if (mesh) info.mesh_key = std::string(64, 'a');  // mesh rights: WatchConns/ClosePeer/ForwardPacket reachable
    derp::crypto::Nonce nonce{};
    std::vector<std::uint8_t> payload;
    derp::crypto::seal_client_info(key, server->public_key(), info, &payload, &nonce);
    std::uint8_t header[5];
    derp::frame::write_header(header, 0x02, static_cast<std::uint32_t>(payload.size()));
    out.insert(out.end(), header, header + 5);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  }
};

void drain(Connection* c, std::uint64_t now) {
  derp::Bytes views[8];
  for (int i = 0; i < 64 && c->output_size() > 0; ++i) {
    std::size_t n = c->output(views);
    std::size_t total = 0;
    for (std::size_t k = 0; k < n; ++k) total += views[k].size();
    c->output_written(total, now);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  if (size == 0) return 0;
  Server& server = *world.server;
  std::uint64_t now = 1'000'000'000;
  derp_addr remote{};
  remote.family = DERP_AF_INET;
  remote.ip[0] = 127;
  remote.ip[3] = 1;
  remote.port = 1234;

  Connection* peer = server.accept(remote, now);
  const auto peer_hello = world.client_hello(world.peer_key, false);
  peer->receive(derp::Bytes(peer_hello), now);
  drain(peer, now);

  Connection* c = server.accept(remote, now);
  if (data[0] & 1) c->receive(derp::Bytes(world.handshake), now);
  const std::size_t piece = 1 + ((data[0] >> 1) & 7) * 97;
  derp::Bytes in(data + 1, size - 1);
  while (!in.empty() && c->phase() != Phase::Closed) {
    const derp::Bytes part = in.first(std::min(piece, in.size()));
    c->receive(part, now);
    in = in.subspan(part.size());
    now += 1'000'000;
    drain(c, now);
    if (c->phase() == Phase::Closing && c->output_size() == 0) break;
  }
  server.drain_ready([&](Connection& r) { drain(&r, now); });
  now += 30'000'000'000ull;
  if (c->phase() != Phase::Closed) c->tick(now);
  peer->tick(now);
  drain(c, now);
  drain(peer, now);
  server.remove(c, now);
  server.remove(peer, now);
  if (server.connection_count() != 0 || server.client_count() != 0) std::abort();
  if (server.counters().queued_bytes != 0) std::abort();
  if (server.counters().partial_frame_bytes != 0) std::abort();
  return 0;
}
