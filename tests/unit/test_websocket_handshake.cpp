// The DERP WebSocket opening handshake (RFC 6455 §4, reference §1.4), both sides.
#include <catch2/catch.hpp>

#include <string>

#include "derp/common.h"
#include "http/head.hpp"
#include "http/websocket_handshake.hpp"

using namespace derp::http;

namespace {

// RFC 6455 §1.3's sample key.
constexpr std::string_view kSampleKey = "dGhlIHNhbXBsZSBub25jZQ==";

// A browser-like DERP upgrade; each test changes or empties the lines it is about.
struct UpgradeRequest {
  std::string method = "GET";
  std::string http_version = "HTTP/1.1";
  std::string upgrade = "Upgrade: websocket\r\n";
  std::string connection = "Connection: keep-alive, Upgrade\r\n";
  std::string version = "Sec-WebSocket-Version: 13\r\n";
  std::string key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  std::string protocol = "Sec-WebSocket-Protocol: chat, derp\r\n";

  std::string text() const {
    return method + " /derp " + http_version + "\r\nHost: derp.example.test\r\n" + upgrade + connection + version +
           key + protocol + "Origin: https://login.example.test\r\n" +
           "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
  }
};

template <class Change>
std::string upgrade_request_with(Change change) {
  UpgradeRequest r;
  change(r);
  return r.text();
}

WebSocketVerdict judge_request(const std::string& text) {
  RequestHead head;
  REQUIRE(parse_request_head(text, &head) == DERP_OK);
  return check_websocket_upgrade(head);
}

WebSocketVerdict judge_response(const std::string& text, std::string_view key) {
  ResponseHead head;
  REQUIRE(parse_response_head(text, &head) == DERP_OK);
  return check_websocket_response(head, key);
}

}  // namespace

TEST_CASE("websocket handshake: RFC 6455 §1.3 sample accept value", "[websocket]") {
  CHECK(websocket_accept_value(kSampleKey) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("websocket handshake: a DERP upgrade is accepted with the exact 101", "[websocket]") {
  const WebSocketVerdict verdict = judge_request(UpgradeRequest{}.text());
  CHECK(verdict.ok());
  CHECK(verdict.error == DERP_OK);
  CHECK(verdict.reason.empty());
  // Subprotocol derp, no extension: permessage-deflate stays off although the client offered it.
  CHECK(websocket_upgrade_response(kSampleKey) ==
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        "Sec-WebSocket-Protocol: derp\r\n"
        "\r\n");
  // Header names and the Upgrade token are case-insensitive.
  CHECK(judge_request(upgrade_request_with([](UpgradeRequest& r) {
          r.upgrade = "upgrade: WebSocket\r\n";
          r.connection = "connection: upgrade\r\n";
        })).ok());
}

TEST_CASE("websocket handshake: bad requests are refused with a reason", "[websocket]") {
  struct Case {
    const char* name;
    std::string request;
    int status;
  };
  using R = UpgradeRequest&;
  const Case cases[] = {
      {"no derp subprotocol",
       upgrade_request_with([](R r) { r.protocol = "Sec-WebSocket-Protocol: chat, superchat\r\n"; }), 400},
      {"no subprotocol header", upgrade_request_with([](R r) { r.protocol.clear(); }), 400},
      {"wrong version", upgrade_request_with([](R r) { r.version = "Sec-WebSocket-Version: 8\r\n"; }), 426},
      {"no version", upgrade_request_with([](R r) { r.version.clear(); }), 426},
      {"key of 15 bytes",
       upgrade_request_with([](R r) { r.key = "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n"; }), 400},
      {"key of 18 bytes",
       upgrade_request_with([](R r) { r.key = "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\n"; }), 400},
      {"key not base64",
       upgrade_request_with([](R r) { r.key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n"; }), 400},
      {"no key", upgrade_request_with([](R r) { r.key.clear(); }), 400},
      {"missing Upgrade", upgrade_request_with([](R r) { r.upgrade.clear(); }), 400},
      {"Upgrade is DERP", upgrade_request_with([](R r) { r.upgrade = "Upgrade: DERP\r\n"; }), 400},
      {"Connection without upgrade",
       upgrade_request_with([](R r) { r.connection = "Connection: keep-alive\r\n"; }), 400},
      {"POST", upgrade_request_with([](R r) { r.method = "POST"; }), 400},
      {"HTTP/1.0", upgrade_request_with([](R r) { r.http_version = "HTTP/1.0"; }), 400},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const WebSocketVerdict verdict = judge_request(c.request);
    CHECK_FALSE(verdict.ok());
    CHECK(verdict.error == DERP_ERR_WS_HANDSHAKE);
    CHECK(verdict.http_status == c.status);
    CHECK_FALSE(verdict.reason.empty());
    // §4.4: the 426 names the version we speak.
    CHECK(verdict.headers == (c.status == 426 ? "Sec-WebSocket-Version: 13\r\n" : ""));
  }
}

TEST_CASE("websocket handshake: client request is accepted and the server's 101 checks out", "[websocket]") {
  std::string key;
  REQUIRE(new_websocket_key(&key) == DERP_OK);
  CHECK(key.size() == kWebSocketKeyTextLen);
  std::string other;
  REQUIRE(new_websocket_key(&other) == DERP_OK);
  CHECK(key != other);  // fresh per connection (§4.1 item 7)

  std::string request;
  REQUIRE(websocket_upgrade_request("derp.example.test:8443", "/derp", key, &request) == DERP_OK);
  CHECK(request.rfind("GET /derp HTTP/1.1\r\nHost: derp.example.test:8443\r\n", 0) == 0);
  REQUIRE(find_head_end(request) == request.size());
  CHECK(judge_request(request).ok());

  const std::string response = websocket_upgrade_response(key);
  CHECK(judge_response(response, key).ok());
  // The 101 belongs to one key only.
  CHECK(judge_response(response, kSampleKey).error == DERP_ERR_WS_HANDSHAKE);
}

TEST_CASE("websocket handshake: bad 101 answers are refused", "[websocket]") {
  const std::string good_accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
  auto response = [](std::string_view status_line, std::string_view headers) {
    return std::string(status_line) + "\r\n" + std::string(headers) + "\r\n";
  };
  CHECK(judge_response(response("HTTP/1.1 101 Switching Protocols",
                                "Upgrade: websocket\r\nConnection: Upgrade\r\n" + good_accept +
                                    "Sec-WebSocket-Protocol: DERP\r\n"),
                       kSampleKey)
            .ok());
  struct Case {
    const char* name;
    std::string text;
  };
  const Case cases[] = {
      {"status 200", response("HTTP/1.1 200 OK", "Upgrade: websocket\r\nConnection: Upgrade\r\n" + good_accept +
                                                     "Sec-WebSocket-Protocol: derp\r\n")},
      {"no Upgrade", response("HTTP/1.1 101 Switching Protocols",
                              "Connection: Upgrade\r\n" + good_accept + "Sec-WebSocket-Protocol: derp\r\n")},
      {"no Connection", response("HTTP/1.1 101 Switching Protocols",
                                 "Upgrade: websocket\r\n" + good_accept + "Sec-WebSocket-Protocol: derp\r\n")},
      {"wrong accept", response("HTTP/1.1 101 Switching Protocols",
                                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n"
                                "Sec-WebSocket-Protocol: derp\r\n")},
      {"no protocol", response("HTTP/1.1 101 Switching Protocols",
                               "Upgrade: websocket\r\nConnection: Upgrade\r\n" + good_accept)},
      {"other protocol", response("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
                                                                          good_accept +
                                                                          "Sec-WebSocket-Protocol: chat\r\n")},
      {"extension", response("HTTP/1.1 101 Switching Protocols",
                             "Upgrade: websocket\r\nConnection: Upgrade\r\n" + good_accept +
                                 "Sec-WebSocket-Protocol: derp\r\nSec-WebSocket-Extensions: permessage-deflate\r\n")},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const WebSocketVerdict verdict = judge_response(c.text, kSampleKey);
    CHECK(verdict.error == DERP_ERR_WS_HANDSHAKE);
    CHECK_FALSE(verdict.reason.empty());
  }
}

TEST_CASE("websocket handshake: request builder refuses text that would break the request", "[websocket]") {
  std::string out;
  CHECK(websocket_upgrade_request("", "/derp", kSampleKey, &out) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(websocket_upgrade_request("a.test", "", kSampleKey, &out) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(websocket_upgrade_request("a.test", "derp", kSampleKey, &out) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(websocket_upgrade_request("a.test\r\nX: y", "/derp", kSampleKey, &out) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(websocket_upgrade_request("a.test", "/derp HTTP/1.0", kSampleKey, &out) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(websocket_upgrade_request("a.test", "/derp", "short", &out) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(out.empty());
  CHECK(websocket_upgrade_request("a.test", "/derp", kSampleKey, nullptr) == DERP_ERR_INVALID_ARGUMENT);
}
