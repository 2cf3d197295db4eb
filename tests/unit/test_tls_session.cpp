// Session: in-memory handshakes between our client and server, application data both ways, close_notify,
// bounded buffers, and garbage from the wire.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "derp/common.h"
#include "test_tls_helpers.hpp"
#include "tls/session.hpp"

using namespace derp::tls;
using namespace derp::tls::test;
using derp::Bytes;
using derp::MutableBytes;

namespace {
std::string pattern(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}
}  // namespace

TEST_CASE("tls session: pinned self-signed IP certificate, handshake and data both ways", "[tls]") {
  const auto server_config = self_signed_server("127.0.0.1");
  const auto client_cfg = client_config();
  // Whole flights, 1-byte pieces (every record split everywhere), and an odd size.
  const std::size_t piece = GENERATE(std::size_t{1} << 20, std::size_t{1}, std::size_t{777});
  CAPTURE(piece);
  Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config, piece);
  INFO(c.client.session->error_detail() << " / " << c.server.session->error_detail());
  REQUIRE(c.client.error == DERP_OK);
  REQUIRE(c.server.error == DERP_OK);
  REQUIRE(c.client.session->handshake_done());
  REQUIRE(c.server.session->handshake_done());
  CHECK(c.client.session->alpn_protocol() == "http/1.1");
  CHECK(c.server.session->alpn_protocol() == "http/1.1");

  // The DERP upgrade request, then a payload that spans several 16 KiB records and passes the 64 KiB queue.
  const std::string request = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n";
  send_all(c.client, c.server, request, piece);
  CHECK(c.server.received == request);
  const std::string big = pattern(piece == 1 ? 70 * 1024 : 300 * 1024 + 17, 1);
  send_all(c.server, c.client, big, piece);
  REQUIRE(c.client.received.size() == big.size());
  CHECK(c.client.received == big);
  const std::string big_up = pattern(65 * 1024 + 3, 2);
  c.server.received.clear();
  send_all(c.client, c.server, big_up, piece);
  CHECK(c.server.received == big_up);
  CHECK(c.client.error == DERP_OK);
  CHECK(c.server.error == DERP_OK);
}

TEST_CASE("tls session: insecure client mode accepts any certificate", "[tls]") {
  const auto server_config = self_signed_server("127.0.0.1");
  const auto client_cfg = client_config("", /*insecure=*/true);
  Connection c = connect(*client_cfg, {"127.0.0.1", ""}, *server_config);
  REQUIRE(c.client.session->handshake_done());
  REQUIRE(c.server.session->handshake_done());
  send_all(c.client, c.server, "ping");
  CHECK(c.server.received == "ping");
}

TEST_CASE("tls session: close_notify is an orderly close for the peer", "[tls]") {
  const auto server_config = self_signed_server();
  const auto client_cfg = client_config();
  Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config);
  REQUIRE(c.server.session->handshake_done());

  send_all(c.client, c.server, "last words");
  REQUIRE(c.client.session->close_notify() == DERP_OK);
  pump(c.client, c.server);
  CHECK(c.server.received == "last words");
  CHECK(c.server.error == DERP_ERR_TLS_CLOSED);
  CHECK(c.server.session->peer_closed());
  CHECK(c.server.session->error() == DERP_OK);  // an orderly close is not a failure

  // Nothing may be written after our own close_notify; the peer may still answer with its own.
  std::size_t accepted = 1;
  CHECK(c.client.session->write_plaintext(as_bytes("more"), &accepted) == DERP_ERR_TLS_CLOSED);
  CHECK(accepted == 0);
  REQUIRE(c.server.session->close_notify() == DERP_OK);
  pump(c.client, c.server);
  CHECK(c.client.error == DERP_ERR_TLS_CLOSED);
  CHECK(c.client.session->peer_closed());
}

TEST_CASE("tls session: nothing is written before the handshake completes", "[tls]") {
  const auto client_cfg = client_config("", true);
  std::unique_ptr<Session> client;
  std::string detail;
  REQUIRE(Session::create_client(*client_cfg, {"derp.example.test", ""}, &client, &detail) == DERP_OK);
  std::size_t accepted = 1;
  CHECK(client->write_plaintext(as_bytes("too early"), &accepted) == DERP_OK);
  CHECK(accepted == 0);
  CHECK_FALSE(client->handshake_done());
}

TEST_CASE("tls session: buffers are bounded in both directions", "[tls]") {
  const auto server_config = self_signed_server();
  const auto client_cfg = client_config();
  Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config);
  REQUIRE(c.client.session->handshake_done());

  // Output: write_plaintext stops once about kMaxPendingCiphertextOut waits for the host.
  const std::string huge = pattern(1 << 20, 3);
  std::size_t accepted = 0;
  REQUIRE(c.client.session->write_plaintext(as_bytes(huge), &accepted) == DERP_OK);
  CHECK(accepted >= Session::kMaxPendingCiphertextOut - 16384);
  CHECK(accepted < huge.size());
  const std::size_t queued = c.client.session->pending_ciphertext().size();
  CHECK(queued <= Session::kMaxPendingCiphertextOut + 16384 + 256);
  std::size_t more = 1;
  REQUIRE(c.client.session->write_plaintext(as_bytes(huge).subspan(accepted), &more) == DERP_OK);
  CHECK(more == 0);

  // Input: feeding it all at once takes at most one record's worth until plaintext is read.
  std::size_t used = 0;
  REQUIRE(c.server.session->feed_ciphertext(c.client.session->pending_ciphertext(), &used) == DERP_OK);
  CHECK(used == Session::kMaxBufferedCiphertextIn);
  c.client.session->consume_ciphertext(used);
  std::size_t again = 1;
  REQUIRE(c.server.session->feed_ciphertext(c.client.session->pending_ciphertext(), &again) == DERP_OK);
  CHECK(again == 0);
  c.server.read_all();
  pump(c.client, c.server);
  CHECK(c.server.received == huge.substr(0, accepted));
}

TEST_CASE("tls session: take_ciphertext copies out and consumes", "[tls]") {
  const auto client_cfg = client_config("", true);
  std::unique_ptr<Session> client;
  std::string detail;
  REQUIRE(Session::create_client(*client_cfg, {"", ""}, &client, &detail) == DERP_OK);
  const std::size_t hello = client->pending_ciphertext().size();
  REQUIRE(hello > 0);
  std::vector<std::uint8_t> first(10);
  CHECK(client->take_ciphertext(MutableBytes(first)) == 10);
  CHECK(first[0] == 0x16);  // handshake record (RFC 5246 §6.2.1)
  std::vector<std::uint8_t> rest(hello);
  CHECK(client->take_ciphertext(MutableBytes(rest)) == hello - 10);
  CHECK(client->pending_ciphertext().empty());
}

TEST_CASE("tls session: garbage from the wire is a clean handshake error", "[tls]") {
  const auto server_config = self_signed_server();
  const std::string inputs[] = {
      "GET /derp HTTP/1.1\r\nHost: x\r\n\r\n",         // plain HTTP to the TLS port
      std::string("\x16\x03\x01\x00\x05hello", 10),   // a handshake record that is no ClientHello
      std::string("\x16\x03\x01\xff\xff", 5) + pattern(20000, 4),  // a record longer than TLS allows
      pattern(5000, 5),
  };
  for (const std::string& input : inputs) {
    std::unique_ptr<Session> server;
    REQUIRE(Session::create_server(*server_config, &server) == DERP_OK);
    int rc = DERP_OK;
    std::size_t offset = 0;
    while (rc == DERP_OK && offset < input.size()) {
      std::size_t used = 0;
      rc = server->feed_ciphertext(as_bytes(input).subspan(offset), &used);
      offset += used;
      std::uint8_t buffer[100];
      std::size_t got = 0;
      if (rc == DERP_OK) rc = server->read_plaintext(MutableBytes(buffer, sizeof buffer), &got);
      if (rc == DERP_OK && used == 0) break;
    }
    CAPTURE(input.size(), server->error_detail());
    CHECK(rc == DERP_ERR_TLS_HANDSHAKE);
    CHECK(server->error() == DERP_ERR_TLS_HANDSHAKE);
    CHECK_FALSE(server->error_detail().empty());
    // The failure is sticky.
    std::size_t used = 1;
    CHECK(server->feed_ciphertext(as_bytes("more"), &used) == DERP_ERR_TLS_HANDSHAKE);
    CHECK(used == 0);
  }
}

TEST_CASE("tls session: a corrupted record after the handshake is a protocol error", "[tls]") {
  const auto server_config = self_signed_server();
  const auto client_cfg = client_config();
  Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config);
  REQUIRE(c.server.session->handshake_done());
  std::size_t accepted = 0;
  REQUIRE(c.client.session->write_plaintext(as_bytes("hello"), &accepted) == DERP_OK);
  std::vector<std::uint8_t> record(c.client.session->pending_ciphertext().begin(),
                                   c.client.session->pending_ciphertext().end());
  c.client.session->consume_ciphertext(record.size());
  record.back() ^= 0x01;  // flips a bit of the AEAD tag
  std::size_t used = 0;
  REQUIRE(c.server.session->feed_ciphertext(Bytes(record), &used) == DERP_OK);
  c.server.read_all();
  CHECK(c.server.error == DERP_ERR_TLS_PROTOCOL);
  CHECK(c.server.received.empty());
}
