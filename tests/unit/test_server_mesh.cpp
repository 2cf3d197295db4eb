// The server core's mesh forwarding table (server_mesh.cpp, mesh_forwarders.hpp), driven in-process: which link a
// key's packets go to, local first, the first-reported link preferred (derper's multiForwarder), forwarded packets
// delivered and never forwarded again, and PeerGone when a key leaves the whole region.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "server/mesh_forwarders.hpp"
#include "support/server_harness.hpp"

using derp::frame::FrameType;
using derp::server::DropReason;
using derp::server::ForwarderId;
using derp::server::MeshForwarders;
using derp::test::Peer;
using derp::test::ServerHarness;
using derp::test::bytes_of;

namespace {

constexpr const char* kMeshKey = "6d6573682d6b65792d666f722d746573742d766563746f72732d303132333435";

derp::frame::Key key_of(std::uint8_t b) {
  derp::frame::Key k{};
  k.fill(b);
  return k;
}

struct Forwarded {
  ForwarderId link;
  derp::frame::Key src;
  derp::frame::Key dst;
  std::string packet;
};

// A harness whose core forwards into a list (refusing on link `refuse`), with a mesh key.
struct MeshHarness {
  std::vector<Forwarded> out;
  ForwarderId refuse = 0;
  ServerHarness h{options()};

  derp::server::ServerOptions options() {
    auto o = ServerHarness::default_options();
    o.mesh_key = kMeshKey;
    o.forward = [this](std::uint64_t link, const derp::frame::Key& src, const derp::frame::Key& dst,
                       derp::Bytes packet) {
      if (link == refuse) return false;
      out.push_back(Forwarded{link, src, dst, std::string(packet.begin(), packet.end())});
      return true;
    };
    return o;
  }
  derp::server::Server& core() { return h.server(); }
  std::uint64_t dropped(DropReason r) {
    const auto& d = core().counters().packets_dropped[static_cast<std::size_t>(r)];
    return d[0] + d[1];
  }
};

std::vector<std::uint8_t> forward_payload(const derp::frame::Key& src, const derp::frame::Key& dst,
                                          const std::string& text) {
  std::vector<std::uint8_t> p(64 + text.size());
  std::memcpy(p.data(), src.data(), 32);
  std::memcpy(p.data() + 32, dst.data(), 32);
  std::memcpy(p.data() + 64, text.data(), text.size());
  return p;
}

}  // namespace

TEST_CASE("mesh table: the first link to report a key is preferred, the oldest remaining takes over", "[server][mesh]") {
  MeshForwarders t;
  const auto k = key_of(1);
  CHECK(t.preferred(k) == derp::server::kNoForwarder);
  CHECK(t.add(k, 2));
  CHECK_FALSE(t.add(k, 1));  // a second link for a known key
  CHECK_FALSE(t.add(k, 3));
  CHECK_FALSE(t.add(k, 1));  // a duplicate registration changes nothing
  CHECK(t.preferred(k) == 2);
  CHECK_FALSE(t.remove(k, 2));
  CHECK(t.preferred(k) == 1);  // link 1 reported before link 3
  CHECK_FALSE(t.remove(k, 7));  // never had it
  CHECK_FALSE(t.remove(k, 1));
  CHECK(t.preferred(k) == 3);
  CHECK(t.remove(k, 3));  // the last one
  CHECK_FALSE(t.has(k));
  CHECK(t.keys() == 0);

  t.add(key_of(1), 1);
  t.add(key_of(2), 1);
  t.add(key_of(2), 2);
  t.add(key_of(3), 2);
  CHECK(t.keys_of(1) == 2);
  const auto orphans = t.remove_link(1);
  REQUIRE(orphans.size() == 1);
  CHECK(orphans[0] == key_of(1));
  CHECK(t.preferred(key_of(2)) == 2);
  CHECK(t.keys() == 2);
}

TEST_CASE("server core mesh: a key on another server is forwarded on its link, a local one wins", "[server][mesh]") {
  MeshHarness m;
  Peer& a = m.h.connect();
  const auto remote = key_of(0x42);
  m.core().add_forwarder(remote, 1, m.h.now());
  CHECK(m.core().counters().clients_remote == 1);
  m.h.send_packet(a, remote, bytes_of("to the other server"));
  REQUIRE(m.out.size() == 1);
  CHECK(m.out[0].link == 1);
  CHECK(m.out[0].src == a.key());
  CHECK(m.out[0].dst == remote);
  CHECK(m.out[0].packet == "to the other server");
  CHECK(m.core().counters().packets_forwarded_out == 1);

  // The same key on a second link: the first one keeps it (derper's rule), until it says the key is gone.
  m.core().add_forwarder(remote, 2, m.h.now());
  m.h.send_packet(a, remote, bytes_of("again"));
  REQUIRE(m.out.size() == 2);
  CHECK(m.out[1].link == 1);
  m.core().remove_forwarder(remote, 1, m.h.now());
  m.h.send_packet(a, remote, bytes_of("third"));
  REQUIRE(m.out.size() == 3);
  CHECK(m.out[2].link == 2);

  // A local connection for a key the mesh also has gets the packets.
  Peer& b = m.h.connect();
  m.core().add_forwarder(b.key(), 1, m.h.now());
  m.h.send_packet(a, b.key(), bytes_of("local"));
  CHECK(m.out.size() == 3);
  CHECK(b.of_type(FrameType::RecvPacket).size() == 1);

  // A link that cannot take a packet: counted as a write_error drop.
  m.refuse = 2;
  m.h.send_packet(a, remote, bytes_of("refused"));
  CHECK(m.out.size() == 3);
  CHECK(m.dropped(DropReason::write_error) == 1);
}

TEST_CASE("server core mesh: forwarded packets are delivered, never forwarded again", "[server][mesh]") {
  MeshHarness m;
  derp::crypto::ClientInfo mesh_info;
  mesh_info.version = 2;
  mesh_info.mesh_key = kMeshKey;
  Peer& peer_server = m.h.connect(nullptr, false, &mesh_info);
  Peer& b = m.h.connect();
  const auto x = key_of(0x77);
  m.core().add_forwarder(x, 1, m.h.now());
  m.h.send_frame(peer_server, FrameType::ForwardPacket, forward_payload(x, b.key(), "from x"));
  REQUIRE(b.of_type(FrameType::RecvPacket).size() == 1);
  CHECK(m.core().forwarded_in_from(peer_server.key()) == 1);

  // For a key that is only on another server: dropped, not sent around the region again.
  const auto y = key_of(0x78);
  m.core().add_forwarder(y, 1, m.h.now());
  m.h.send_frame(peer_server, FrameType::ForwardPacket, forward_payload(x, y, "loop?"));
  CHECK(m.out.empty());
  CHECK(m.dropped(DropReason::unknown_dest_on_fwd) == 1);
}

TEST_CASE("server core mesh: PeerGone when a key leaves the region, not when it moves", "[server][mesh]") {
  MeshHarness m;
  derp::crypto::ClientInfo mesh_info;
  mesh_info.version = 2;
  mesh_info.mesh_key = kMeshKey;
  Peer& peer_server = m.h.connect(nullptr, false, &mesh_info);
  Peer& b = m.h.connect();

  // x lives on the other server and sent b a packet: b hears PeerGone(x) when the link drops x.
  const auto x = key_of(0x77);
  m.core().add_forwarder(x, 1, m.h.now());
  m.h.send_frame(peer_server, FrameType::ForwardPacket, forward_payload(x, b.key(), "hello b"));
  m.core().remove_forwarder(x, 1, m.h.now());
  m.h.pump();
  auto gone = b.of_type(FrameType::PeerGone);
  REQUIRE(gone.size() == 1);
  CHECK(std::equal(x.begin(), x.end(), gone[0].payload.begin()));
  CHECK(gone[0].payload[32] == DERP_PEER_GONE_DISCONNECTED);
  CHECK(m.core().counters().clients_remote == 0);

  // A local client a sent to b, then a shows up on another server before leaving here: a moved, no PeerGone.
  Peer& a = m.h.connect();
  m.h.send_packet(a, b.key(), bytes_of("hi"));
  m.core().add_forwarder(a.key(), 1, m.h.now());
  m.h.server().remove(a.conn, m.h.now());
  a.conn = nullptr;
  a.closed = true;
  m.h.pump();
  CHECK(b.of_type(FrameType::PeerGone).size() == 1);
  CHECK(m.core().counters().clients_remote == 1);
  // The link breaks: every key it reported is forgotten, and a has now left the region.
  CHECK(m.core().remove_forwarder_link(1, m.h.now()) == 1);
  m.h.pump();
  gone = b.of_type(FrameType::PeerGone);
  REQUIRE(gone.size() == 2);
  CHECK(std::equal(a.key().begin(), a.key().end(), gone[1].payload.begin()));
  CHECK(m.core().counters().clients_remote == 0);
}
