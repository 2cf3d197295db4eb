// The libuv client driver's dialing: TLS with a pinned self-signed certificate (and a wrong pin), a DERPMap region
// whose first node is dead, and IPv4/IPv6 racing within a node.
#include <catch2/catch.hpp>

#include <cstdio>
#include <ctime>

#include "support/uv_client_test_loop.hpp"
#include "tls/server_config.hpp"

using derp::uv::UvClient;
using derp::uv::UvClientState;
using namespace derp::uvclienttest;

namespace {

std::unique_ptr<UvClient> make_client(TestLoop& loop, derp::uv::UvClientOptions options, Recorder* events) {
  std::unique_ptr<UvClient> client;
  std::string detail;
  INFO(detail);
  REQUIRE(UvClient::create(loop.get(), std::move(options), events, &client, &detail) == DERP_OK);
  REQUIRE(client->start() == DERP_OK);
  return client;
}

derp::derpmap::DerpNode node(const std::string& name, const std::string& ipv4, const std::string& ipv6,
                            std::uint16_t port) {
  derp::derpmap::DerpNode n;
  n.name = name;
  n.region_id = 900;
  n.host_name = "localhost";
  n.ipv4 = ipv4;
  n.ipv6 = ipv6;
  n.derp_port = port;
  return n;
}

derp::uv::UvClientOptions region_options(std::vector<derp::derpmap::DerpNode> nodes) {
  auto o = client_options("");
  o.url.clear();
  derp::derpmap::DerpRegion region;
  region.region_id = 900;
  region.region_code = "test";
  region.nodes = std::move(nodes);
  o.region = region;
  o.plain_http = true;
  return o;
}

// A server on 127.0.0.1 and ::1 with the same port.
std::unique_ptr<derp::uv::UvServer> dual_stack_server(TestLoop& loop) {
  for (int i = 0; i < 5; ++i) {
    const std::uint16_t port = unused_port(loop);
    char v4[32];
    char v6[32];
    std::snprintf(v4, sizeof v4, "127.0.0.1:%u", static_cast<unsigned>(port));
    std::snprintf(v6, sizeof v6, "[::1]:%u", static_cast<unsigned>(port));
    if (auto s = start_server(loop.get(), {v4, v6})) return s;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("uv client: TLS with the sha256-raw pin connects, a wrong pin fails", "[uvclient]") {
  std::unique_ptr<derp::tls::ServerConfig> tls;
  std::string detail;
  REQUIRE(derp::tls::ServerConfig::self_signed("127.0.0.1", static_cast<std::int64_t>(std::time(nullptr)), &tls,
                                               &detail) == DERP_OK);
  TestLoop loop;
  auto server = start_server(loop.get(), {"127.0.0.1:0"}, tls.get());
  REQUIRE(server);
  const std::string url = url_for(server->tcp_addresses().at(0), /*tls=*/true);

  auto good = client_options(url);
  good.cert_name = tls->cert_name();
  Recorder eg;
  auto g = make_client(loop, std::move(good), &eg);

  auto bad = client_options(url);
  bad.cert_name = "sha256-raw:" + std::string(64, '0');
  bad.reconnect = false;
  Recorder eb;
  auto b = make_client(loop, std::move(bad), &eb);

  REQUIRE(loop.run_until([&] { return g->connected() && b->state() == UvClientState::Stopped; }));
  CHECK(g->server_key() == server->core().public_key());
  const auto* down = eb.last(UvClientState::Disconnected);
  REQUIRE(down != nullptr);
  CHECK(down->error == DERP_ERR_TLS_PIN_MISMATCH);

  // Packets over TLS: to itself through the server.
  const auto p = payload(3000, 5);
  REQUIRE(g->send_packet(g->public_key(), derp::Bytes(p)) == DERP_OK);
  REQUIRE(loop.run_until([&] { return eg.packets.size() == 1; }));
  CHECK(eg.packets[0].payload == p);

  g->stop();
  CHECK(stop_server(loop, *server));
  g.reset();
  b.reset();
  server.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv client: a region's dead first node is skipped for the second", "[uvclient]") {
  TestLoop loop;
  auto server = start_server(loop.get());
  REQUIRE(server);
  const std::uint16_t live = server->tcp_addresses().at(0).port;
  const std::uint16_t dead = unused_port(loop);
  derp::derpmap::DerpNode stun_only = node("0s", "127.0.0.1", "none", live);
  stun_only.stun_only = true;
  auto options = region_options({node("1a", "127.0.0.1", "none", dead), stun_only,
                                 node("1b", "127.0.0.1", "none", live)});
  Recorder events;
  auto c = make_client(loop, std::move(options), &events);
  REQUIRE(loop.run_until([&] { return c->connected(); }));
  CHECK(c->status().node == "1b");
  CHECK(c->server_key() == server->core().public_key());
  CHECK(c->counters().failures == 0);  // one dial, two nodes
  c->stop();
  CHECK(stop_server(loop, *server));
  c.reset();
  server.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv client: IPv4 and IPv6 race within a node, the loser is closed", "[uvclient]") {
  TestLoop loop;
  SECTION("both families answer: one connection") {
    auto server = dual_stack_server(loop);
    REQUIRE(server);
    const std::uint16_t port = server->tcp_addresses().at(0).port;
    Recorder events;
    auto c = make_client(loop, region_options({node("1a", "127.0.0.1", "::1", port)}), &events);
    REQUIRE(loop.run_until([&] { return c->connected(); }));
    const auto family = c->status().remote.family;
    CHECK((family == DERP_AF_INET || family == DERP_AF_INET6));
    // The losing socket is closed: the server ends up with one connection only.
    CHECK(loop.run_until([&] { return server->connection_count() == 1; }, 2000));
    loop.run_for(50);
    CHECK(server->connection_count() == 1);
    c->stop();
    CHECK(stop_server(loop, *server));
  }
  SECTION("IPv4 refused, IPv6 wins") {
    auto server = start_server(loop.get(), {"[::1]:0"});
    REQUIRE(server);
    const std::uint16_t port = server->tcp_addresses().at(0).port;
    Recorder events;
    auto c = make_client(loop, region_options({node("1a", "127.0.0.1", "::1", port)}), &events);
    REQUIRE(loop.run_until([&] { return c->connected(); }));
    CHECK(c->status().remote.family == DERP_AF_INET6);
    c->stop();
    CHECK(stop_server(loop, *server));
  }
  SECTION("IPv6 off by \"none\": IPv4 only") {
    auto server = start_server(loop.get(), {"127.0.0.1:0"});
    REQUIRE(server);
    const std::uint16_t port = server->tcp_addresses().at(0).port;
    Recorder events;
    auto c = make_client(loop, region_options({node("1a", "127.0.0.1", "none", port)}), &events);
    REQUIRE(loop.run_until([&] { return c->connected(); }));
    CHECK(c->status().remote.family == DERP_AF_INET);
    c->stop();
    CHECK(stop_server(loop, *server));
  }
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv client: create refuses bad targets", "[uvclient]") {
  TestLoop loop;
  Recorder events;
  std::unique_ptr<UvClient> c;
  std::string detail;
  auto o = client_options("ftp://x/");
  CHECK(UvClient::create(loop.get(), o, &events, &c, &detail) == DERP_ERR_URL);
  o = client_options("");
  CHECK(UvClient::create(loop.get(), o, &events, &c, &detail) == DERP_ERR_INVALID_ARGUMENT);
  o = region_options({});
  CHECK(UvClient::create(loop.get(), o, &events, &c, &detail) == DERP_ERR_INVALID_ARGUMENT);
  o = client_options("http://127.0.0.1:1/derp");
  o.connection.private_key = derp::crypto::NodePrivate{};
  CHECK(UvClient::create(loop.get(), o, &events, &c, &detail) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(c == nullptr);
  CHECK(loop.finish() == 0);
}
