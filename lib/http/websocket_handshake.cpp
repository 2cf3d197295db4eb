#include "http/websocket_handshake.hpp"

#include <array>
#include <cstdint>

#include "derp/common.h"
#include "tls/digest.hpp"

namespace derp::http {

namespace {

constexpr std::size_t kKeyRawLen = 16;  // RFC 6455 §4.1 item 7

WebSocketVerdict refuse(int http_status, std::string_view reason, std::string_view headers = {}) {
  return WebSocketVerdict{DERP_ERR_WS_HANDSHAKE, http_status, headers, reason};
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
         c == '=';
}

// RFC 6455 §4.2.1 item 5: the key must decode to exactly 16 bytes. mbedTLS's decoder tolerates line breaks and
// spaces, so the alphabet is checked here first: the key is one strict base64 word, as Go's decoder wants.
bool valid_key(std::string_view key) {
  if (key.size() != kWebSocketKeyTextLen) return false;
  for (char c : key) {
    if (!is_base64_char(c)) return false;
  }
  std::array<std::uint8_t, 18> raw{};
  std::size_t raw_len = 0;
  return tls::base64_decode(key, raw, &raw_len) && raw_len == kKeyRawLen;
}

}  // namespace

std::string websocket_accept_value(std::string_view key) {
  const auto as_bytes = [](std::string_view text) {
    return Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  };
  tls::Sha1Digest digest{};
  // SHA-1 fails only when mbedTLS cannot allocate its context; the accept value is then empty and the peer
  // refuses the handshake, which is all that can be done without memory.
  if (tls::sha1({as_bytes(key), as_bytes(kWebSocketGuid)}, &digest) != DERP_OK) return std::string();
  return tls::base64_encode(digest);
}

WebSocketVerdict check_websocket_upgrade(const RequestHead& request) {
  const HeaderList& h = request.headers;
  // RFC 6455 §4.2.1 items 1-6, in the order a client most likely gets wrong last.
  if (request.method != "GET") return refuse(400, "WebSocket upgrade must be a GET");
  if (request.version_minor < 1) return refuse(400, "WebSocket upgrade needs HTTP/1.1");
  if (!h.has_token("Upgrade", "websocket")) return refuse(400, "Upgrade header does not name websocket");
  if (!h.has_token("Connection", "upgrade")) return refuse(400, "Connection header does not hold upgrade");
  // §4.4: a version we do not speak gets 426 and the version we do.
  const auto version = h.find("Sec-WebSocket-Version");
  if (!version || *version != "13") {
    return refuse(426, "Sec-WebSocket-Version must be 13", "Sec-WebSocket-Version: 13\r\n");
  }
  const auto key = h.find("Sec-WebSocket-Key");
  if (!key) return refuse(400, "Sec-WebSocket-Key is missing");
  if (!valid_key(*key)) return refuse(400, "Sec-WebSocket-Key is not 16 bytes in base64");
  // Reference §1.4: derper only speaks subprotocol "derp" over WebSocket.
  if (!h.has_token("Sec-WebSocket-Protocol", kDerpSubprotocol)) {
    return refuse(400, "Sec-WebSocket-Protocol does not offer derp");
  }
  return WebSocketVerdict{};
}

std::string websocket_upgrade_response(std::string_view key) {
  std::string out =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  out += websocket_accept_value(key);
  out += "\r\nSec-WebSocket-Protocol: ";
  out += kDerpSubprotocol;
  out += "\r\n\r\n";
  return out;
}

int new_websocket_key(std::string* key, const crypto::RandomSource& random) {
  if (key == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  std::array<std::uint8_t, kKeyRawLen> raw{};
  random(MutableBytes(raw));
  *key = tls::base64_encode(raw);
  return DERP_OK;
}

int websocket_upgrade_request(std::string_view host, std::string_view path, std::string_view key, std::string* out) {
  if (out == nullptr || !safe_request_text(host) || !safe_request_text(path) || path.front() != '/' ||
      !valid_key(key)) {
    return DERP_ERR_INVALID_ARGUMENT;
  }
  std::string text = "GET ";
  text += path;
  text += " HTTP/1.1\r\nHost: ";
  text += host;
  text +=
      "\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: ";
  text += key;
  text += "\r\nSec-WebSocket-Protocol: ";
  text += kDerpSubprotocol;
  text += "\r\n\r\n";
  *out = std::move(text);
  return DERP_OK;
}

WebSocketVerdict check_websocket_response(const ResponseHead& response, std::string_view key) {
  const HeaderList& h = response.headers;
  // RFC 6455 §4.1, the client's checks of the server's handshake, items 1-6.
  if (response.status != 101) return refuse(response.status, "server did not answer 101 Switching Protocols");
  if (!h.has_token("Upgrade", "websocket")) return refuse(101, "101 answer's Upgrade does not name websocket");
  if (!h.has_token("Connection", "upgrade")) return refuse(101, "101 answer's Connection does not hold upgrade");
  const auto accept = h.find("Sec-WebSocket-Accept");
  if (!accept || *accept != websocket_accept_value(key)) {
    return refuse(101, "101 answer's Sec-WebSocket-Accept does not match our key");
  }
  // The server selects one subprotocol from our list, which held only "derp" (§4.2.2 item 5.5).
  const auto protocol = h.find("Sec-WebSocket-Protocol");
  if (!protocol || !iequals(*protocol, kDerpSubprotocol)) {
    return refuse(101, "101 answer did not select subprotocol derp");
  }
  // We offered no extension, so the server may not turn one on (§4.1 item 5 of the checks).
  const auto extensions = h.find("Sec-WebSocket-Extensions");
  if (extensions && !extensions->empty()) return refuse(101, "101 answer turns on an extension we did not offer");
  return WebSocketVerdict{};
}

}  // namespace derp::http
