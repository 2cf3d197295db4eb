#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "derp/common.h"
#include "http/head.hpp"
#include "http/head_reader.hpp"
#include "support/testdata.hpp"

using derp::http::HeadReader;
using derp::http::RequestHead;
using derp::http::ResponseHead;

namespace {
std::string as_text(const std::vector<std::uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }
}  // namespace

TEST_CASE("request head: the DERP upgrade request", "[http]") {
  const std::string text =
      "GET /derp HTTP/1.1\r\nHost: derp.example.test:3340\r\nUser-Agent: Go-http-client/1.1\r\n"
      "Connection: Upgrade\r\nUpgrade: DERP\r\n\r\n";
  REQUIRE(derp::http::find_head_end(text) == text.size());
  RequestHead req;
  REQUIRE(derp::http::parse_request_head(text, &req) == DERP_OK);
  CHECK(req.method == "GET");
  CHECK(req.path == "/derp");
  CHECK(req.query.empty());
  CHECK(req.version_minor == 1);
  CHECK(req.headers.count == 4);
  CHECK(req.headers.find("upgrade") == "DERP");
  CHECK(req.headers.find("HOST") == "derp.example.test:3340");
  CHECK_FALSE(req.headers.find("Derp-Fast-Start").has_value());
  CHECK(req.headers.has_token("connection", "upgrade"));
}

TEST_CASE("request head: query, LF-only lines, value trimming, token lists", "[http]") {
  const std::string text = "HEAD /generate_204?t=17 HTTP/1.0\nX-Tailscale-Challenge:   ts_a \nConnection: keep-alive, Upgrade\n\n";
  REQUIRE(derp::http::find_head_end(text) == text.size());
  RequestHead req;
  REQUIRE(derp::http::parse_request_head(text, &req) == DERP_OK);
  CHECK(req.method == "HEAD");
  CHECK(req.path == "/generate_204");
  CHECK(req.query == "t=17");
  CHECK(req.version_minor == 0);
  CHECK(req.headers.find("x-tailscale-challenge") == "ts_a");
  CHECK(req.headers.has_token("Connection", "UPGRADE"));
  CHECK_FALSE(req.headers.has_token("Connection", "close"));
}

TEST_CASE("request head: malformed heads are refused", "[http]") {
  RequestHead req;
  for (const char* bad : {
           "GET /derp\r\n\r\n",                      // no version
           "GET  /derp HTTP/1.1\r\n\r\n",            // double space
           "GET /derp HTTP/2.0\r\n\r\n",             // not HTTP/1.x
           "GET /derp HTTP/1.1\r\nNoColon\r\n\r\n",  // header without colon
           "GET /derp HTTP/1.1\r\nBad Name: x\r\n\r\n",
           "GET /derp HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",  // obs-fold
           "G(T /derp HTTP/1.1\r\n\r\n",                     // method not a token
           "GET /de\x01rp HTTP/1.1\r\n\r\n",                 // control byte in target
           "GET /derp HTTP/1.1\r\nA: b\x01\r\n\r\n",         // control byte in value
           "GET /derp HTTP/1.1\r\nA: b\r\n",                 // no blank line
       }) {
    INFO(bad);
    CHECK(derp::http::parse_request_head(bad, &req) == DERP_ERR_HTTP_MALFORMED);
  }
  std::string many = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i <= derp::http::kMaxHeaders; ++i) many += "H" + std::to_string(i) + ": v\r\n";
  many += "\r\n";
  CHECK(derp::http::parse_request_head(many, &req) == DERP_ERR_HTTP_MALFORMED);
}

TEST_CASE("response head: 101 and 426", "[http]") {
  ResponseHead resp;
  REQUIRE(derp::http::parse_response_head(
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nDerp-Version: 2\r\n\r\n",
              &resp) == DERP_OK);
  CHECK(resp.status == 101);
  CHECK(resp.reason == "Switching Protocols");
  CHECK(resp.headers.find("derp-version") == "2");
  REQUIRE(derp::http::parse_response_head("HTTP/1.1 204\r\n\r\n", &resp) == DERP_OK);
  CHECK(resp.status == 204);
  CHECK(resp.reason.empty());
  CHECK(derp::http::parse_response_head("HTTP/1.1 10x OK\r\n\r\n", &resp) == DERP_ERR_HTTP_MALFORMED);
  CHECK(derp::http::parse_response_head("HTTP/1.1 099 Low\r\n\r\n", &resp) == DERP_ERR_HTTP_MALFORMED);
  CHECK(derp::http::parse_response_head("SSH-2.0-OpenSSH\r\n\r\n", &resp) == DERP_ERR_HTTP_MALFORMED);
}

TEST_CASE("head reader: any split keeps the bytes after the head", "[http]") {
  const std::string head = "GET /derp HTTP/1.1\r\nUpgrade: DERP\r\nDerp-Fast-Start: 1\r\n\r\n";
  const std::string after = "\x02\x00\x00\x00\x68rest-of-frame";
  const std::string stream = head + after;
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    HeadReader reader;
    std::size_t pos = 0;
    int r = 0;
    while (pos < stream.size()) {
      const std::size_t piece = round == 0 ? 1 : 1 + rng() % 9;
      std::size_t used = 0;
      r = reader.feed(std::string_view(stream).substr(pos, piece), &used);
      REQUIRE(r >= 0);
      pos += used;
      if (r == 1) break;
      REQUIRE(used == std::min(piece, stream.size() - pos + used));
    }
    REQUIRE(r == 1);
    CHECK(reader.head() == head);
    CHECK(stream.substr(pos) == after);
  }
}

TEST_CASE("head reader: a head over the bound fails and takes no more", "[http]") {
  HeadReader reader(64);
  std::size_t used = 0;
  CHECK(reader.feed(std::string(63, 'a'), &used) == 0);
  CHECK(used == 63);
  CHECK(reader.feed("bbbb", &used) == DERP_ERR_HTTP_HEAD_TOO_LARGE);
  CHECK(used == 1);
  reader.reset();
  CHECK(reader.feed("GET / HTTP/1.1\r\n\r\n", &used) == 1);
}

TEST_CASE("Tailscale's recorded upgrade requests and responses parse", "[http][vectors]") {
  DERP_REQUIRE_TESTDATA();
  for (const char* name : {"plain_request.hex", "tls_faststart_request.hex", "tls_nofaststart_request.hex",
                           "minimal_upgrade_request.hex", "no_upgrade_request.hex"}) {
    INFO(name);
    const std::string text = as_text(derp::test::read_hex_file(std::string("tailscale/http_upgrade/") + name));
    REQUIRE(derp::http::find_head_end(text) == text.size());
    RequestHead req;
    REQUIRE(derp::http::parse_request_head(text, &req) == DERP_OK);
    CHECK(req.method == "GET");
    CHECK(req.path == "/derp");
    const bool upgrade = std::string(name) != "no_upgrade_request.hex";
    CHECK(req.headers.find("Upgrade").has_value() == upgrade);
    if (upgrade) CHECK(derp::http::iequals(*req.headers.find("Upgrade"), "derp"));
    CHECK(req.headers.find("Derp-Fast-Start").has_value() == (std::string(name) == "tls_faststart_request.hex"));
  }
  // Fast start: the ClientInfo frame follows the head in the same stream, and the reader leaves it alone.
  const std::string c2s = as_text(derp::test::read_hex_file("tailscale/http_upgrade/tls_faststart_c2s.hex"));
  HeadReader reader;
  std::size_t used = 0;
  REQUIRE(reader.feed(c2s, &used) == 1);
  REQUIRE(used < c2s.size());
  CHECK(static_cast<unsigned char>(c2s[used]) == 0x02);

  for (const char* name : {"plain_response_101.hex", "tls_nofaststart_response_101.hex"}) {
    INFO(name);
    const std::string text = as_text(derp::test::read_hex_file(std::string("tailscale/http_upgrade/") + name));
    ResponseHead resp;
    REQUIRE(derp::http::parse_response_head(text, &resp) == DERP_OK);
    CHECK(resp.status == 101);
    CHECK(resp.headers.find("Derp-Public-Key") == "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c");
  }
  const std::string resp426 = as_text(derp::test::read_hex_file("tailscale/http_upgrade/no_upgrade_response_426.hex"));
  const std::size_t end = derp::http::find_head_end(resp426);
  REQUIRE(end != 0);
  ResponseHead resp;
  REQUIRE(derp::http::parse_response_head(std::string_view(resp426).substr(0, end), &resp) == DERP_OK);
  CHECK(resp.status == 426);
  CHECK(resp426.substr(end) == "DERP requires connection upgrade\n");
}
