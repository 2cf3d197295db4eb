// Per-object randomness (crypto/random.hpp): a core given a seeded source draws only from it, so the same seed
// gives the same bytes on the wire, byte for byte; the default (libsodium) does not repeat itself.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "client/connection.hpp"
#include "crypto/random.hpp"
#include "http/websocket_handshake.hpp"
#include "http/websocket_stream.hpp"
#include "support/client_harness.hpp"
#include "support/seeded_random.hpp"

using derp::Bytes;
using derp::client::ClientPhase;
using namespace derp::test;

namespace {

struct Wire {
  ByteVec to_server;
  ByteVec to_client;
};

// One server and one client, each with its own seeded source (or the default when seed is 0), through the
// handshake, two pings and a packet to itself; every byte both ways.
Wire run_world(std::uint64_t seed, bool websocket, SeededRandom* server_random, SeededRandom* client_random) {
  auto so = ClientWorld::default_server_options();
  if (seed != 0) so.random = server_random->source();
  ClientWorld w(so);
  auto o = client_options(test_client_private(4));
  o.websocket = websocket;
  if (seed != 0) o.random = client_random->source();
  Link& link = w.dial(o, /*record_wire=*/true);
  REQUIRE(link.client->phase() == ClientPhase::Running);
  std::uint64_t id = 0;
  REQUIRE(link.client->ping(w.now(), &id) == DERP_OK);
  REQUIRE(link.client->ping(w.now(), &id) == DERP_OK);
  const ByteVec packet(100, 0x42);
  REQUIRE(link.client->send_packet(link.client->public_key(), Bytes(packet), w.now()) == DERP_OK);
  w.pump();
  REQUIRE(link.events.packets.size() == 1);
  return Wire{link.wire_to_server, link.wire_to_client};
}

}  // namespace

TEST_CASE("random source: the same seed gives the same client and server bytes, plain and WebSocket", "[hooks]") {
  for (const bool websocket : {false, true}) {
    SeededRandom server_a(11), client_a(22), server_b(11), client_b(22);
    const Wire a = run_world(1, websocket, &server_a, &client_a);
    const Wire b = run_world(1, websocket, &server_b, &client_b);
    // ClientInfo's nonce, the pings' payloads (and over WebSocket the key and every mask) from the client;
    // ServerInfo's nonce from the server.
    CHECK(a.to_server == b.to_server);
    CHECK(a.to_client == b.to_client);
    CHECK(client_a.draws() == client_b.draws());
    // 24-byte ClientInfo nonce + two 8-byte pings at least; over WebSocket a 16-byte key and a mask per frame.
    CHECK(client_a.bytes_drawn() >= 24 + 16);
    if (websocket) CHECK(client_a.bytes_drawn() >= 24 + 16 + 16 + 4 * 4);
    CHECK(server_a.bytes_drawn() == 24);  // one ServerInfo nonce
    // A different seed changes the client's bytes (sizes stay).
    SeededRandom server_c(11), client_c(23);
    const Wire c = run_world(1, websocket, &server_c, &client_c);
    CHECK(c.to_server.size() == a.to_server.size());
    CHECK(c.to_server != a.to_server);
    CHECK(c.to_client.size() == a.to_client.size());
  }
}

TEST_CASE("random source: the default (libsodium) does not repeat", "[hooks]") {
  const Wire a = run_world(0, false, nullptr, nullptr);
  const Wire b = run_world(0, false, nullptr, nullptr);
  CHECK(a.to_server.size() == b.to_server.size());
  CHECK(a.to_server != b.to_server);
  CHECK(a.to_client != b.to_client);
}

TEST_CASE("random source: WebSocket keys and masks come from the stream's source", "[hooks]") {
  SeededRandom ra(5), rb(5);
  std::string key_a, key_b;
  REQUIRE(derp::http::new_websocket_key(&key_a, ra.source()) == DERP_OK);
  REQUIRE(derp::http::new_websocket_key(&key_b, rb.source()) == DERP_OK);
  CHECK(key_a == key_b);
  CHECK(key_a.size() == 24);
  using derp::http::WebSocketRole;
  using derp::http::WebSocketStream;
  WebSocketStream a(WebSocketRole::client, WebSocketStream::kDefaultMaxMessageLen, ra.source());
  WebSocketStream b(WebSocketRole::client, WebSocketStream::kDefaultMaxMessageLen, rb.source());
  const ByteVec payload(40000, 0x17);  // three messages: three masks
  ByteVec out_a, out_b;
  REQUIRE(a.append_binary_messages(Bytes(payload), &out_a) == DERP_OK);
  REQUIRE(b.append_binary_messages(Bytes(payload), &out_b) == DERP_OK);
  CHECK(out_a == out_b);
  CHECK(ra.bytes_drawn() == 16 + 3 * 4);
}
