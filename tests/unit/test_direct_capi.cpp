// include/derp/client.h, the direct path: two derp_uv_client in thread mode with dial option `direct` against a
// derp_uv_server on loopback. The first packet is a PACKET via DERP; PATH_CHANGED (DIRECT, the peer's address,
// a round trip) comes through the same event queue; later packets arrive with via DIRECT.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <thread>
#include <cstring>
#include <string>
#include <vector>

#include "derp/client.h"
#include "derp/common.h"
#include "derp/key.h"
#include "derp/uv.h"
#include "test_uv_support.hpp"

namespace {

struct Seen {
  bool direct = false;
  derp_addr endpoint{};
  std::uint64_t rtt_ns = 0;
  std::vector<std::pair<std::string, int>> packets;  // payload, via
};

// Takes every queued event without waiting; records path changes and packets.
void drain(derp_uv_client* c, Seen* seen) {
  std::vector<std::uint8_t> buf(70000);
  for (int i = 0; i < 1000; ++i) {
    derp_client_event e{};
    e.struct_size = sizeof e;
    if (derp_uv_client_next_event(c, 0, &e, buf.data(), buf.size()) != DERP_OK) return;
    if (e.type == DERP_CLIENT_EVENT_PATH_CHANGED) {
      seen->direct = e.via == DERP_PATH_DIRECT;
      seen->endpoint = e.endpoint;
      seen->rtt_ns = e.rtt_ns;
    } else if (e.type == DERP_CLIENT_EVENT_PACKET) {
      seen->packets.emplace_back(std::string(e.data, e.data + e.len), e.via);
    }
  }
}

derp_uv_client* direct_client(const std::string& url, int direct) {
  derp_client_options o;
  REQUIRE(derp_client_options_init(&o, sizeof o) == DERP_OK);
  REQUIRE(derp_key_generate(o.private_key) == DERP_OK);
  derp_uv_client_options d;
  REQUIRE(derp_uv_client_options_init(&d, sizeof d) == DERP_OK);
  CHECK(d.direct == 0);
  CHECK(d.seal_direct == 1);
  d.url = url.c_str();
  d.queue_events = 1;
  d.direct = direct;
  d.udp_bind = "127.0.0.1:0";
  d.stun_server = "127.0.0.1:9";  // nobody answers: the candidates are the bound loopback address
  derp_uv_client* c = nullptr;
  REQUIRE(derp_uv_client_new(nullptr, &o, &d, &c) == DERP_OK);
  REQUIRE(derp_uv_client_start_thread(c) == DERP_OK);
  return c;
}

bool wait_event(derp_uv_client* c, int type) {
  std::vector<std::uint8_t> buf(70000);
  for (int i = 0; i < 200; ++i) {
    derp_client_event e{};
    e.struct_size = sizeof e;
    const int rc = derp_uv_client_next_event(c, 50, &e, buf.data(), buf.size());
    if (rc == DERP_OK && e.type == type) return true;
    if (rc == DERP_OK && e.type == DERP_CLIENT_EVENT_CLOSED) return false;
  }
  return false;
}

}  // namespace

TEST_CASE("derp_uv_client direct: PATH_CHANGED through the event queue, packets carry via", "[capi-direct]") {
  derp_uv_server* server = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, nullptr, &server) == DERP_OK);
  REQUIRE(derp_uv_server_start_thread(server) == DERP_OK);
  char url_text[128];
  std::size_t n = 0;
  REQUIRE(derp_uv_server_url(server, url_text, sizeof url_text, &n) == DERP_OK);
  const std::string url = url_text;

  derp_uv_client* a = direct_client(url, 1);
  derp_uv_client* b = direct_client(url, 1);
  derp_uv_client* plain = direct_client(url, 0);
  std::uint8_t a_pub[32], b_pub[32], disco[32];
  REQUIRE(derp_uv_client_public_key(a, a_pub) == DERP_OK);
  REQUIRE(derp_uv_client_public_key(b, b_pub) == DERP_OK);
  CHECK(derp_uv_client_disco_public_key(a, disco) == DERP_OK);
  CHECK(std::memcmp(disco, a_pub, 32) != 0);  // a disco key of its own, not the node key
  CHECK(derp_uv_client_disco_public_key(plain, disco) == DERP_ERR_UNSUPPORTED);
  CHECK(derp_uv_client_set_peer_disco(plain, a_pub, disco) == DERP_ERR_UNSUPPORTED);
  REQUIRE(wait_event(a, DERP_CLIENT_EVENT_SERVER_INFO));
  REQUIRE(wait_event(b, DERP_CLIENT_EVENT_SERVER_INFO));

  Seen sa, sb;
  const std::string first = "first";
  REQUIRE(derp_uv_client_send(a, b_pub, reinterpret_cast<const std::uint8_t*>(first.data()), first.size()) == DERP_OK);
  for (int round = 0; round < 100 && !(sa.direct && sb.direct); ++round) {
    const std::string x = "a" + std::to_string(round), y = "b" + std::to_string(round);
    derp_uv_client_send(a, b_pub, reinterpret_cast<const std::uint8_t*>(x.data()), x.size());
    derp_uv_client_send(b, a_pub, reinterpret_cast<const std::uint8_t*>(y.data()), y.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    drain(a, &sa);
    drain(b, &sb);
  }
  REQUIRE(sa.direct);
  REQUIRE(sb.direct);
  CHECK(sa.endpoint.family == DERP_AF_INET);
  CHECK(sa.endpoint.ip[0] == 127);
  CHECK(sa.rtt_ns > 0);
  REQUIRE_FALSE(sb.packets.empty());
  CHECK(sb.packets.front().first == "first");
  CHECK(sb.packets.front().second == DERP_PATH_DERP);

  const std::string last = "last";
  REQUIRE(derp_uv_client_send(a, b_pub, reinterpret_cast<const std::uint8_t*>(last.data()), last.size()) == DERP_OK);
  for (int i = 0; i < 100 && (sb.packets.empty() || sb.packets.back().first != "last"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    drain(b, &sb);
  }
  REQUIRE(sb.packets.back().first == "last");
  CHECK(sb.packets.back().second == DERP_PATH_DIRECT);
  CHECK(std::string(derp_client_event_name(DERP_CLIENT_EVENT_PATH_CHANGED)) == "PATH_CHANGED");

  CHECK(derp_uv_client_stop(a) == DERP_OK);
  CHECK(derp_uv_client_stop(b) == DERP_OK);
  CHECK(derp_uv_client_stop(plain) == DERP_OK);
  derp_uv_client_free(a);
  derp_uv_client_free(b);
  derp_uv_client_free(plain);
  CHECK(derp_uv_server_stop(server) == DERP_OK);
  derp_uv_server_free(server);
}

TEST_CASE("derp_uv_client direct: udp_bind6 and stun_server6 reach the IPv6 socket, bad ones are refused",
          "[capi-direct]") {
  derp_client_options o;
  REQUIRE(derp_client_options_init(&o, sizeof o) == DERP_OK);
  REQUIRE(derp_key_generate(o.private_key) == DERP_OK);
  derp_uv_client_options d;
  REQUIRE(derp_uv_client_options_init(&d, sizeof d) == DERP_OK);
  CHECK(d.udp_bind6 == nullptr);
  CHECK(d.stun_server6 == nullptr);
  d.url = "http://127.0.0.1:9/derp";
  d.direct = 1;
  d.udp_bind = "127.0.0.1:0";

  struct Case {
    const char* udp_bind6;
    const char* stun_server6;
    int want;
  };
  // An IPv4 literal cannot serve the IPv6 socket; "[::1" is not an address; a name or an IPv6 literal is taken.
  for (const Case& c : {Case{nullptr, "192.0.2.1:3478", DERP_ERR_ADDRESS}, Case{nullptr, "[::1", DERP_ERR_ADDRESS},
                        Case{"[::1", nullptr, DERP_ERR_ADDRESS}, Case{"[::1]:0", "[::1]:9", DERP_OK},
                        Case{"off", nullptr, DERP_OK}}) {
    CAPTURE(c.udp_bind6 ? c.udp_bind6 : "NULL", c.stun_server6 ? c.stun_server6 : "NULL");
    if (c.want == DERP_OK && c.udp_bind6 != nullptr && std::strcmp(c.udp_bind6, "[::1]:0") == 0 &&
        !derp::uvtest::ipv6_loopback_available()) {
      WARN("no IPv6 loopback (::1) here: the udp_bind6 [::1]:0 case was skipped");
      continue;
    }
    d.udp_bind6 = c.udp_bind6;
    d.stun_server6 = c.stun_server6;
    derp_uv_client* client = nullptr;
    int rc = derp_uv_client_new(nullptr, &o, &d, &client);
    if (rc == DERP_OK) rc = derp_uv_client_start_thread(client);
    CHECK(rc == c.want);
    if (client != nullptr) derp_uv_client_free(client);
  }

  // A caller built against the header before these two fields passes a shorter struct_size: it still works, and
  // the fields it does not know keep their defaults (whatever lies past its struct is never read).
  derp_uv_client_options old;
  std::memset(&old, 0xAB, sizeof old);  // garbage where the new fields would be
  REQUIRE(derp_uv_client_options_init(&old, offsetof(derp_uv_client_options, udp_bind6)) == DERP_OK);
  old.url = "http://127.0.0.1:9/derp";
  old.direct = 1;
  old.udp_bind = "127.0.0.1:0";
  old.stun_server = "127.0.0.1:9";
  derp_uv_client* client = nullptr;
  REQUIRE(derp_uv_client_new(nullptr, &o, &old, &client) == DERP_OK);
  CHECK(derp_uv_client_start_thread(client) == DERP_OK);
  derp_uv_client_free(client);
}
