// The direct path on real loopback sockets: two UvClients with direct on, a UvServer with DERP and STUN on one
// loop. The first packets go through the relay, STUN from the client's own UDP socket finds its endpoint, disco
// upgrades the path (both clients report path direct), and the next packets arrive via direct. Waits are bounded.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "common/address.hpp"
#include "support/uv_client_test_loop.hpp"
#include "test_uv_support.hpp"

using derp::path::Via;
using derp::uv::UvClient;
using namespace derp::uvclienttest;

namespace {

struct PathRecorder : Recorder {
  struct Got {
    std::string text;
    Via via;
  };
  struct Change {
    Via via;
    derp_addr addr;
    derp::Nanos rtt;
  };
  std::vector<Got> got;
  std::vector<Change> changes;
  void on_packet_via(const derp::crypto::NodePublic& source, derp::Bytes payload, Via via) override {
    Recorder::on_packet(source, payload);
    got.push_back({std::string(payload.begin(), payload.end()), via});
  }
  void on_path_changed(const derp::crypto::NodePublic&, Via via, const derp_addr& addr, derp::Nanos rtt) override {
    changes.push_back({via, addr, rtt});
  }
  bool direct() const { return !changes.empty() && changes.back().via == Via::kDirect; }
};

derp::Bytes text(const std::string& s) {
  return derp::Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

}  // namespace

TEST_CASE("uv direct: two clients on loopback start on DERP and upgrade to the direct path", "[uvdirect]") {
  const bool sealed = GENERATE(true, false);
  CAPTURE(sealed);
  TestLoop loop;
  derp::uv::UvServerOptions so;
  REQUIRE(derp::crypto::generate_private(&so.core.private_key) == DERP_OK);
  so.tcp_listen = {"127.0.0.1:0"};
  so.stun_listen = {"127.0.0.1:0"};
  std::unique_ptr<derp::uv::UvServer> server;
  std::string detail;
  REQUIRE(derp::uv::UvServer::create(loop.get(), std::move(so), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const std::string url = url_for(server->tcp_addresses().at(0));
  const std::string stun = derp::format_addr(server->stun_addresses().at(0));

  auto make = [&](PathRecorder* events) {
    auto o = client_options(url);
    o.direct.enabled = true;
    o.direct.udp_bind = "127.0.0.1:0";
    o.direct.stun_server = stun;
    o.direct.path.seal_data = sealed;
    std::unique_ptr<UvClient> c;
    std::string why;
    REQUIRE(UvClient::create(loop.get(), std::move(o), events, &c, &why) == DERP_OK);
    REQUIRE(c->start() == DERP_OK);
    return c;
  };
  PathRecorder ea, eb;
  auto a = make(&ea);
  auto b = make(&eb);
  REQUIRE(loop.run_until([&] { return a->connected() && b->connected(); }));
  REQUIRE(loop.run_until([&] { return ea.server_infos == 1 && eb.server_infos == 1; }));  // both registered
  // STUN through each client's own UDP socket: the server saw the socket's address.
  REQUIRE(loop.run_until([&] { return a->direct_path()->public_endpoint() && b->direct_path()->public_endpoint(); }));
  CHECK(derp::operator==(*a->direct_path()->public_endpoint(), a->direct_path()->bound()));

  // The first packet goes through the relay at once.
  REQUIRE(a->send_packet(b->public_key(), text("a->b 0")) == DERP_OK);
  const bool first_arrived = loop.run_until([&] { return !eb.got.empty(); });
  INFO("a sent " << a->counters().packets_sent << " dropped " << a->counters().packets_dropped_disconnected
       << " b received " << b->counters().packets_received << " b derp data " << b->direct_path()->core().counters().data_received_derp
       << " b recorder packets " << eb.packets.size() << " ann " << b->direct_path()->core().counters().announcements_received);
  REQUIRE(first_arrived);
  CHECK(eb.got[0].text == "a->b 0");
  CHECK(eb.got[0].via == Via::kDerp);
  // Bob answers; both keep sending until both report the direct path (bounded by run_until's limit each time).
  int i = 1;
  for (int round = 0; round < 40 && !(ea.direct() && eb.direct()); ++round) {
    REQUIRE(a->send_packet(b->public_key(), text("a->b " + std::to_string(i))) == DERP_OK);
    REQUIRE(b->send_packet(a->public_key(), text("b->a " + std::to_string(i))) == DERP_OK);
    ++i;
    loop.run_for(50);
  }
  REQUIRE(ea.direct());
  REQUIRE(eb.direct());
  CHECK(derp::operator==(ea.changes.back().addr, b->direct_path()->bound()));
  CHECK(derp::operator==(eb.changes.back().addr, a->direct_path()->bound()));
  CHECK(ea.changes.back().rtt > 0);

  // Now the packets go direct.
  const std::size_t before = eb.got.size();
  REQUIRE(a->send_packet(b->public_key(), text("a->b direct")) == DERP_OK);
  REQUIRE(loop.run_until([&] { return eb.got.size() > before && eb.got.back().text == "a->b direct"; }));
  CHECK(eb.got.back().via == Via::kDirect);
  // Every packet alice sent arrived, each once (loopback loses nothing).
  CHECK(eb.got.size() == static_cast<std::size_t>(i) + 1);
  CHECK(a->direct_path()->core().counters().data_sent_direct >= 1);
  CHECK(b->direct_path()->core().counters().data_received_direct >= 1);

  a->stop();
  b->stop();
  server->close();
  REQUIRE(loop.run_until([&] { return server->stopped(); }));
  a.reset();
  b.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv direct: two clients upgrade to a direct path over IPv6 loopback", "[uvdirect]") {
  if (!derp::uvtest::ipv6_loopback_available()) {
    WARN("no IPv6 loopback (::1) here: the IPv6 direct-path test was skipped");
    return;
  }
  TestLoop loop;
  derp::uv::UvServerOptions so;
  REQUIRE(derp::crypto::generate_private(&so.core.private_key) == DERP_OK);
  so.tcp_listen = {"127.0.0.1:0"};
  so.stun_listen = {"[::1]:0"};
  std::unique_ptr<derp::uv::UvServer> server;
  std::string detail;
  REQUIRE(derp::uv::UvServer::create(loop.get(), std::move(so), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const std::string url = url_for(server->tcp_addresses().at(0));
  REQUIRE(server->stun_addresses().at(0).family == DERP_AF_INET6);
  const std::string stun = derp::format_addr(server->stun_addresses().at(0));

  auto make = [&](PathRecorder* events) {
    auto o = client_options(url);
    o.direct.enabled = true;
    o.direct.udp_bind = "[::1]:0";  // an IPv6 literal: the IPv6 socket only
    o.direct.stun_server = stun;
    std::unique_ptr<UvClient> c;
    std::string why;
    REQUIRE(UvClient::create(loop.get(), std::move(o), events, &c, &why) == DERP_OK);
    REQUIRE(c->start() == DERP_OK);
    return c;
  };
  PathRecorder ea, eb;
  auto a = make(&ea);
  auto b = make(&eb);
  REQUIRE(a->direct_path()->bound(DERP_AF_INET) == nullptr);
  REQUIRE(a->direct_path()->bound(DERP_AF_INET6) != nullptr);
  CHECK(a->direct_path()->bound().family == DERP_AF_INET6);
  REQUIRE(loop.run_until([&] { return a->connected() && b->connected(); }));
  REQUIRE(loop.run_until([&] { return ea.server_infos == 1 && eb.server_infos == 1; }));
  // STUN from the IPv6 socket to the IPv6 STUN server reports that socket's [::1]:port.
  REQUIRE(loop.run_until([&] { return a->direct_path()->public_endpoint() && b->direct_path()->public_endpoint(); }));
  CHECK(derp::operator==(*a->direct_path()->public_endpoint(), a->direct_path()->bound()));

  int i = 0;
  for (int round = 0; round < 40 && !(ea.direct() && eb.direct()); ++round) {
    REQUIRE(a->send_packet(b->public_key(), text("a->b " + std::to_string(i))) == DERP_OK);
    REQUIRE(b->send_packet(a->public_key(), text("b->a " + std::to_string(i))) == DERP_OK);
    ++i;
    loop.run_for(50);
  }
  REQUIRE(ea.direct());
  REQUIRE(eb.direct());
  CHECK(ea.changes.back().addr.family == DERP_AF_INET6);
  CHECK(derp::operator==(ea.changes.back().addr, b->direct_path()->bound()));
  CHECK(derp::operator==(eb.changes.back().addr, a->direct_path()->bound()));
  CHECK(derp::format_addr(ea.changes.back().addr).rfind("[::1]:", 0) == 0);

  const std::size_t before = eb.got.size();
  REQUIRE(a->send_packet(b->public_key(), text("a->b direct")) == DERP_OK);
  REQUIRE(loop.run_until([&] { return eb.got.size() > before && eb.got.back().text == "a->b direct"; }));
  CHECK(eb.got.back().via == Via::kDirect);
  CHECK(eb.got.size() == static_cast<std::size_t>(i) + 1);
  CHECK(a->direct_path()->udp_send_failures() == 0);

  a->stop();
  b->stop();
  server->close();
  REQUIRE(loop.run_until([&] { return server->stopped(); }));
  a.reset();
  b.reset();
  CHECK(loop.finish() == 0);
}

TEST_CASE("uv direct: the default bind opens an IPv4 and an IPv6 socket, an IPv4 address only IPv4", "[uvdirect]") {
  TestLoop loop;
  auto open = [&](const std::string& bind, const std::string& bind6) {
    auto o = client_options("http://127.0.0.1:9");
    o.direct.enabled = true;
    o.direct.udp_bind = bind;
    o.direct.udp_bind6 = bind6;
    o.direct.stun_server = "127.0.0.1:9";
    std::unique_ptr<UvClient> c;
    std::string why;
    Recorder events;
    REQUIRE(UvClient::create(loop.get(), std::move(o), &events, &c, &why) == DERP_OK);
    const bool v4 = c->direct_path()->bound(DERP_AF_INET) != nullptr;
    const bool v6 = c->direct_path()->bound(DERP_AF_INET6) != nullptr;
    c.reset();
    return std::make_pair(v4, v6);
  };
  const bool six = derp::uvtest::ipv6_loopback_available();
  CHECK(open("0.0.0.0:0", "") == std::make_pair(true, six));
  CHECK(open("127.0.0.1:0", "") == std::make_pair(true, false));
  CHECK(open("0.0.0.0:0", "off") == std::make_pair(true, false));
  if (six) {
    CHECK(open("127.0.0.1:0", "[::1]:0") == std::make_pair(true, true));
    CHECK(open("[::1]:0", "") == std::make_pair(false, true));
  }
  CHECK(loop.finish() == 0);
}
