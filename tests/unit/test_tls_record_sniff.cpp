// record_sniff: a peer that speaks no TLS at all is told apart from broken TLS by its first bytes, and the session
// reports it at once with a clear detail (an https:// URL for a plain-HTTP server, a plain-HTTP client on the TLS
// port). The server core answers a TLS handshake on a plain-HTTP connection at once, so the client has something
// to recognise.
#include <catch2/catch.hpp>

#include <string>

#include "derp/common.h"
#include "support/server_harness.hpp"
#include "test_tls_helpers.hpp"
#include "tls/record_sniff.hpp"
#include "tls/session.hpp"

using namespace derp::tls;
using namespace derp::tls::test;

TEST_CASE("tls record sniff: TLS record starts pass, plain text and binary are named", "[tls]") {
  // Every record type a peer may open with (RFC 5246 §6.2.1, RFC 6520), with a record version of major 3.
  for (unsigned type = 20; type <= 24; ++type) {
    const std::string record = {static_cast<char>(type), '\x03', '\x03', '\x00', '\x02'};
    CHECK(describe_non_tls(as_bytes(record)).empty());
    CHECK(describe_non_tls(as_bytes(record.substr(0, 1))).empty());  // one byte: cannot tell yet
  }
  CHECK(describe_non_tls({}).empty());
  CHECK(describe_non_tls(as_bytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")) ==
        "plain text, not TLS: \"HTTP/1.1 400 Bad Request\"");
  CHECK(describe_non_tls(as_bytes("GET /derp HTTP/1.1\r\n")) == "plain text, not TLS: \"GET /derp HTTP/1.1\"");
  // A handshake type byte followed by something that is no TLS version.
  CHECK(describe_non_tls(as_bytes(std::string("\x16HTTP", 5))) == "bytes that are not TLS (first byte 0x16)");
  CHECK(describe_non_tls(as_bytes(std::string("\x00\x03", 2))) == "bytes that are not TLS (first byte 0x00)");
  // Long lines are cut at 40 characters; quotes, backslashes and control bytes are escaped.
  const std::string described = describe_non_tls(as_bytes(std::string(100, 'a')));
  CHECK(described == "plain text, not TLS: \"" + std::string(40, 'a') + "\"");
  CHECK(describe_non_tls(as_bytes(std::string("SSH-2.0\"\\\x01", 10))) ==
        "plain text, not TLS: \"SSH-2.0\\x22\\x5c\\x01\"");
}

TEST_CASE("tls session: a client that gets plain HTTP back says so at once", "[tls]") {
  const auto client_cfg = client_config("", true);
  std::unique_ptr<Session> client;
  std::string detail;
  REQUIRE(Session::create_client(*client_cfg, {"127.0.0.1", ""}, &client, &detail) == DERP_OK);
  client->consume_ciphertext(client->pending_ciphertext().size());  // the ClientHello went out
  // Even the first few bytes of the answer are enough.
  const std::string answer = GENERATE(std::string("HTTP/1.1 400 Bad Request\r\n\r\n"), std::string("HT"));
  std::size_t used = 0;
  CHECK(client->feed_ciphertext(as_bytes(answer), &used) == DERP_ERR_TLS_HANDSHAKE);
  CHECK(used == answer.size());
  CHECK(client->error_detail().find("the server answered with plain text, not TLS: \"HT") == 0);
  CHECK(client->error_detail().find("use an http:// URL") != std::string::npos);
}

TEST_CASE("tls session: a server that gets plain HTTP names it", "[tls]") {
  const auto server_config = self_signed_server();
  std::unique_ptr<Session> server;
  REQUIRE(Session::create_server(*server_config, &server) == DERP_OK);
  std::size_t used = 0;
  CHECK(server->feed_ciphertext(as_bytes("GET /derp HTTP/1.1\r\nHost: x\r\n\r\n"), &used) ==
        DERP_ERR_TLS_HANDSHAKE);
  CHECK(server->error_detail() ==
        "the client sent plain text, not TLS: \"GET /derp HTTP/1.1\" (a plain-HTTP client on the TLS port?)");
}

TEST_CASE("tls session: real TLS is not taken for plain text, in any split", "[tls]") {
  const auto server_config = self_signed_server("127.0.0.1");
  const auto client_cfg = client_config();
  const std::size_t piece = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{5});
  Connection c = connect(*client_cfg, {"127.0.0.1", server_config->cert_name()}, *server_config, piece);
  INFO(c.client.session->error_detail() << " / " << c.server.session->error_detail());
  CHECK(c.client.error == DERP_OK);
  CHECK(c.server.error == DERP_OK);
  CHECK(c.client.session->handshake_done());
}

TEST_CASE("server core: a TLS handshake on plain HTTP is answered 400 at once", "[server][http]") {
  derp::test::ServerHarness h;
  // The start of a ClientHello: the record header alone, no CRLF anywhere, so a head reader would wait.
  const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  const std::string r = h.http_get(hello);
  CHECK(r.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(r.find("not TLS") != std::string::npos);
}
