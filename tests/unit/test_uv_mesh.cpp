// Mesh dialling over loopback (uv_mesh.hpp): three of our servers in one region, each dialling the others with
// the mesh key (and itself, which it detects and ignores, as derper does), clients on each reaching clients on the
// others both ways, PeerGone when a client leaves the region, one server killed (its client moves to another
// server and traffic resumes) and restarted on the same port (the mesh heals). One loop runs everything; every
// wait is bounded.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "crypto/key_text.hpp"
#include "support/uv_client_test_loop.hpp"
#include "uv/uv_mesh.hpp"

using derp::uv::MeshPeerStatus;
using derp::uv::MeshTarget;
using derp::uv::UvClient;
using derp::uv::UvMesh;
using derp::uv::UvServer;
using namespace derp::uvclienttest;

namespace {

constexpr const char* kMeshKey = "6d6573682d6b65792d666f722d746573742d766563746f72732d303132333435";

struct Node {
  derp::crypto::NodePrivate key;
  std::uint16_t port = 0;
  std::unique_ptr<UvServer> server;
  std::unique_ptr<UvMesh> mesh;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/derp"; }
};

bool start_node(TestLoop& loop, Node& n, const std::string& listen = "127.0.0.1:0") {
  derp::uv::UvServerOptions o;
  o.core.private_key = n.key;
  o.core.mesh_key = kMeshKey;
  o.tcp_listen = {listen};
  o.shutdown_grace = 200 * derp::kMillisecond;
  std::string detail;
  if (UvServer::create(loop.get(), std::move(o), &n.server, &detail) != DERP_OK) return false;
  if (n.server->listen(&detail) != DERP_OK) return false;
  n.port = n.server->tcp_addresses().at(0).port;
  return true;
}

bool start_mesh(TestLoop& loop, Node& n, const std::vector<std::string>& urls) {
  derp::uv::UvMeshOptions o;
  o.mesh_key = kMeshKey;
  o.retry_interval = 100 * derp::kMillisecond;
  for (const std::string& u : urls) {
    MeshTarget t;
    std::string error;
    if (!derp::uv::parse_mesh_target(u, &t, &error)) return false;
    o.peers.push_back(t);
  }
  std::string detail;
  if (UvMesh::create(loop.get(), n.server->core(), std::move(o), &n.mesh, &detail) != DERP_OK) return false;
  n.mesh->start();
  return true;
}

// Both other servers linked, and the link to ourselves recognised.
bool mesh_up(const Node& n) {
  int up = 0;
  int self = 0;
  for (const MeshPeerStatus& s : n.mesh->status()) {
    up += s.connected ? 1 : 0;
    self += s.self ? 1 : 0;
  }
  return up == 2 && self == 1;
}

bool knows(const Node& n, const derp::crypto::NodePublic& k) { return n.server->core().forwarders().has(k.bytes()); }

std::unique_ptr<UvClient> client_on(TestLoop& loop, derp::uv::UvClientOptions o, Recorder* r) {
  std::unique_ptr<UvClient> c;
  std::string detail;
  if (UvClient::create(loop.get(), std::move(o), r, &c, &detail) != DERP_OK) return nullptr;
  c->start();
  return c;
}

bool got_from(const Recorder& r, const derp::crypto::NodePublic& from, const std::vector<std::uint8_t>& p) {
  for (const auto& pk : r.packets) {
    if (pk.source == from && pk.payload == p) return true;
  }
  return false;
}

bool heard_gone(const Recorder& r, const derp::crypto::NodePublic& who) {
  for (const auto& g : r.gone) {
    if (g == who) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("mesh targets: derper's host forms and full URLs", "[uv][mesh]") {
  MeshTarget t;
  std::string error;
  REQUIRE(derp::uv::parse_mesh_target("derp1.example.com", &t, &error));
  CHECK(t.url == "https://derp1.example.com/derp");
  CHECK_FALSE(t.region);
  REQUIRE(derp::uv::parse_mesh_target("derp2.example.com/10.0.0.2", &t, &error));
  CHECK(t.url.empty());
  REQUIRE(t.region);
  REQUIRE(t.region->nodes.size() == 1);
  CHECK(t.region->nodes[0].host_name == "derp2.example.com");
  CHECK(t.region->nodes[0].ipv4 == "10.0.0.2");
  CHECK(t.region->nodes[0].derp_port == 443);
  REQUIRE(derp::uv::parse_mesh_target("http://127.0.0.1:3341/derp", &t, &error));
  CHECK(t.url == "http://127.0.0.1:3341/derp");
  REQUIRE(derp::uv::parse_mesh_target("https://host:8443/derp", &t, &error));
  CHECK_FALSE(derp::uv::parse_mesh_target("", &t, &error));
  CHECK_FALSE(derp::uv::parse_mesh_target("a/b/c", &t, &error));
  CHECK_FALSE(derp::uv::parse_mesh_target("host/not-an-ip", &t, &error));
  CHECK_FALSE(derp::uv::parse_mesh_target("ftp://host/derp", &t, &error));
  CHECK_FALSE(derp::uv::parse_mesh_target("host:443", &t, &error));
}

TEST_CASE("mesh: a mesh link needs the server's mesh key", "[uv][mesh]") {
  TestLoop loop;
  auto server = start_server(loop.get());
  REQUIRE(server);
  derp::uv::UvMeshOptions o;
  o.mesh_key = kMeshKey;
  std::unique_ptr<UvMesh> mesh;
  std::string detail;
  CHECK(UvMesh::create(loop.get(), server->core(), std::move(o), &mesh, &detail) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(stop_server(loop, *server));
  CHECK(loop.finish() == 0);
}

TEST_CASE("mesh: three servers in one region relay between their clients, survive a server's death and heal",
          "[uv][mesh]") {
  TestLoop loop;
  Node nodes[3];
  for (Node& n : nodes) {
    REQUIRE(derp::crypto::generate_private(&n.key) == DERP_OK);
    REQUIRE(start_node(loop, n));
  }
  Node& A = nodes[0];
  Node& B = nodes[1];
  Node& C = nodes[2];
  // Every server gets the same list, itself included, as a region's servers usually do.
  const std::vector<std::string> all = {A.url(), B.url(), C.url()};
  for (Node& n : nodes) REQUIRE(start_mesh(loop, n, all));
  REQUIRE(loop.run_until([&] { return mesh_up(A) && mesh_up(B) && mesh_up(C); }));

  Recorder ra, rb, rc;
  auto a = client_on(loop, client_options(A.url()), &ra);
  auto b = client_on(loop, client_options(B.url()), &rb);
  // c's region has C first and A second: when C dies, c reconnects to A.
  auto co = client_options("");
  co.url.clear();
  derp::derpmap::DerpRegion region;
  region.region_id = 900;
  for (const Node* n : {&C, &A}) {
    derp::derpmap::DerpNode node;
    node.name = n == &C ? "900c" : "900a";
    node.region_id = 900;
    node.host_name = "127.0.0.1";
    node.ipv4 = "127.0.0.1";
    node.ipv6 = "none";
    node.derp_port = n->port;
    region.nodes.push_back(node);
  }
  co.region = region;
  co.plain_http = true;
  co.node_dial_timeout = 500 * derp::kMillisecond;
  auto c = client_on(loop, co, &rc);
  REQUIRE((a && b && c));
  REQUIRE(loop.run_until([&] { return a->connected() && b->connected() && c->connected(); }));
  // Each server learns the other servers' clients from their watch streams.
  REQUIRE(loop.run_until([&] {
    return knows(A, b->public_key()) && knows(A, c->public_key()) && knows(B, a->public_key()) &&
           knows(B, c->public_key()) && knows(C, a->public_key()) && knows(C, b->public_key());
  }));

  // Both ways across each pair of servers.
  const auto p1 = payload(300, 1);
  const auto p2 = payload(1200, 2);
  const auto p3 = payload(64, 3);
  const auto p4 = payload(65536, 4);
  CHECK(a->send_packet(b->public_key(), p1) == DERP_OK);
  CHECK(b->send_packet(a->public_key(), p2) == DERP_OK);
  CHECK(c->send_packet(a->public_key(), p3) == DERP_OK);
  CHECK(a->send_packet(c->public_key(), p4) == DERP_OK);
  CHECK(b->send_packet(c->public_key(), p1) == DERP_OK);
  REQUIRE(loop.run_until([&] {
    return got_from(rb, a->public_key(), p1) && got_from(ra, b->public_key(), p2) &&
           got_from(ra, c->public_key(), p3) && got_from(rc, a->public_key(), p4) && got_from(rc, b->public_key(), p1);
  }));
  CHECK(A.server->counters().packets_forwarded_out >= 2);
  CHECK(B.server->counters().packets_forwarded_in >= 1);
  const std::string metrics = A.server->core().metrics_text();
  CHECK(metrics.find("derp_mesh_peer_connected{peer=\"" + B.url() + "\"} 1") != std::string::npos);
  CHECK(metrics.find("derp_mesh_packets_forwarded_out{peer=\"" + B.url() + "\"} ") != std::string::npos);
  CHECK(metrics.find("peer=\"" + A.url() + "\"") == std::string::npos);  // the self link is not listed

  // Kill C mid-stream: A and B forget what C reported; c moves to A and traffic to it resumes from both.
  C.mesh.reset();
  C.server->close();
  REQUIRE(loop.run_until([&] { return C.server->stopped(); }));
  C.server.reset();
  REQUIRE(loop.run_until([&] {
    return c->connected() && c->status().node == "900a" && B.server->core().forwarders().preferred(
                                                               c->public_key().bytes()) == 1;  // link 1 = A
  }));
  const auto p5 = payload(500, 5);
  const auto p6 = payload(501, 6);
  CHECK(a->send_packet(c->public_key(), p5) == DERP_OK);
  CHECK(b->send_packet(c->public_key(), p6) == DERP_OK);
  REQUIRE(loop.run_until([&] { return got_from(rc, a->public_key(), p5) && got_from(rc, b->public_key(), p6); }));

  // Restart C on its port with its key: A's and B's links dial it again, and it dials them.
  const std::uint16_t c_port = C.port;
  REQUIRE(start_node(loop, C, "127.0.0.1:" + std::to_string(c_port)));
  REQUIRE(start_mesh(loop, C, all));
  REQUIRE(loop.run_until([&] { return mesh_up(A) && mesh_up(B) && mesh_up(C); }, 10000));
  Recorder rd;
  auto d = client_on(loop, client_options(C.url()), &rd);
  REQUIRE(d);
  REQUIRE(loop.run_until([&] { return d->connected() && knows(A, d->public_key()) && knows(B, d->public_key()); }));
  const auto p7 = payload(700, 7);
  CHECK(a->send_packet(d->public_key(), p7) == DERP_OK);
  CHECK(d->send_packet(b->public_key(), p7) == DERP_OK);
  REQUIRE(loop.run_until([&] { return got_from(rd, a->public_key(), p7) && got_from(rb, d->public_key(), p7); }));

  // a leaves the region: b and d, who received from a through their own servers, hear PeerGone(a).
  a->stop();
  REQUIRE(loop.run_until([&] { return heard_gone(rb, a->public_key()) && heard_gone(rd, a->public_key()); }));

  b->stop();
  c->stop();
  d->stop();
  for (Node& n : nodes) {
    n.mesh.reset();
    if (n.server) CHECK(stop_server(loop, *n.server));
    n.server.reset();
  }
  a.reset();
  b.reset();
  c.reset();
  d.reset();
  CHECK(loop.finish() == 0);
}
