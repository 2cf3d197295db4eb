// Our mesh client's frames against Tailscale's: with the recorded mesh client's key (tailscale/mesh_session, M),
// the WatchConns and ForwardPacket frames our client core writes are byte for byte the ones derphttp's client
// wrote in that session. (We cannot run Tailscale's derper here, so these recordings are the interop check for
// the frames mesh dialling adds; the server side of mesh is checked in test_server_vectors.cpp.)
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "client/connection.hpp"
#include "support/client_harness.hpp"
#include "support/testdata.hpp"

using derp::client::ClientConnection;
using derp::client::ClientOptions;
using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;
using derp::test::ByteVec;

namespace {

constexpr derp::Nanos kNow = 1'000 * derp::kSecond;

ByteVec key_field(const std::string& name, const char* field) {
  const auto doc = derp::test::read_json_file("tailscale/keys.json");
  for (const auto& k : doc.at("keys")) {
    if (k.at("name") == name) return derp::test::from_hex(k.at(field).get<std::string>());
  }
  FAIL("no key " << name << " in keys.json");
  return {};
}

// The frames of a recorded client-to-server stream, after its HTTP request head.
std::vector<ByteVec> c2s_frames(const ByteVec& stream) {
  const std::string text(stream.begin(), stream.end());
  std::size_t at = text.find("\r\n\r\n");
  REQUIRE(at != std::string::npos);
  at += 4;
  std::vector<ByteVec> frames;
  while (at + 5 <= stream.size()) {
    const std::size_t len = (std::size_t{stream[at + 1]} << 24) | (std::size_t{stream[at + 2]} << 16) |
                            (std::size_t{stream[at + 3]} << 8) | stream[at + 4];
    REQUIRE(at + 5 + len <= stream.size());
    frames.emplace_back(stream.begin() + static_cast<long>(at), stream.begin() + static_cast<long>(at + 5 + len));
    at += 5 + len;
  }
  return frames;
}

}  // namespace

TEST_CASE("client mesh vectors: WatchConns and ForwardPacket are written as derphttp's mesh client wrote them",
          "[client][vectors][mesh]") {
  DERP_REQUIRE_TESTDATA();
  const ByteVec m_c2s = derp::test::read_hex_file("tailscale/mesh_session/M_c2s.hex");
  const ByteVec m_s2c = derp::test::read_hex_file("tailscale/mesh_session/M_s2c.hex");
  const auto recorded = c2s_frames(m_c2s);
  REQUIRE(recorded.size() >= 3);  // ClientInfo, WatchConns, ForwardPacket, ...

  const ByteVec m_priv = key_field("M", "private_raw_hex");
  const ByteVec x_pub = key_field("X", "public_raw_hex");
  const ByteVec b_pub = key_field("B", "public_raw_hex");
  ClientOptions o;
  o.private_key = NodePrivate::from_raw(m_priv.data());
  o.host = "derp.example.test:3340";
  o.info.mesh_key = derp::test::read_json_file("tailscale/mesh_session/mesh_session.json")["mesh_key"].get<std::string>();
  derp::test::RecordingEvents events;
  std::unique_ptr<ClientConnection> c;
  REQUIRE(ClientConnection::create(o, &events, kNow, &c) == DERP_OK);
  // The server's side of the session: 101, ServerKey, ServerInfo, then the watch stream.
  REQUIRE(c->receive(derp::Bytes(m_s2c), kNow) == DERP_OK);
  REQUIRE(c->connected());
  c->output_written(c->pending_output().size(), kNow);  // the request and ClientInfo (a fresh nonce: not comparable)

  REQUIRE(c->watch_conns() == DERP_OK);
  const derp::Bytes watch = c->pending_output();
  CHECK(ByteVec(watch.begin(), watch.end()) == recorded[1]);
  c->output_written(watch.size(), kNow);

  const std::string text = "forwarded via mesh";  // the session's script, step 5
  REQUIRE(c->forward_packet(NodePublic::from_raw(x_pub.data()), NodePublic::from_raw(b_pub.data()),
                            derp::Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())) == DERP_OK);
  const derp::Bytes fwd = c->pending_output();
  CHECK(ByteVec(fwd.begin(), fwd.end()) == recorded[2]);
}
