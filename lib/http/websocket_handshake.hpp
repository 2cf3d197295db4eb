// The HTTP side of DERP over WebSocket: the opening handshake of RFC 6455 §4, restricted to what DERP needs
// (reference §1.4): subprotocol "derp", no extensions (so no compression), version 13.
//   Server: check_websocket_upgrade() judges a request head; websocket_upgrade_response() is the exact 101.
//   Client: new_websocket_key() + websocket_upgrade_request() build the request; check_websocket_response()
//           judges the server's answer.
// After a successful handshake both sides switch to WebSocketStream (websocket_stream.hpp) for the bytes that
// follow the head.
#pragma once

#include <string>
#include <string_view>

#include "crypto/random.hpp"
#include "http/head.hpp"

namespace derp::http {

// RFC 6455 §1.3: the fixed GUID appended to the key before hashing.
inline constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// Reference §1.4: the only subprotocol a DERP endpoint speaks.
inline constexpr std::string_view kDerpSubprotocol = "derp";
// A Sec-WebSocket-Key is 16 random bytes in base64 (RFC 6455 §4.1 item 7): always 24 characters.
inline constexpr std::size_t kWebSocketKeyTextLen = 24;

// How a handshake check ended. On refusal, http_status is what a server answers (400, or 426 for a version it
// does not speak, RFC 6455 §4.2.2 and §4.4), headers are extra response header lines to send with it, and reason
// is a static sentence for the body and the log.
struct WebSocketVerdict {
  int error = 0;             // DERP_OK or DERP_ERR_WS_HANDSHAKE
  int http_status = 101;
  std::string_view headers;  // "Sec-WebSocket-Version: 13\r\n" with a 426, else empty
  std::string_view reason;   // empty when accepted
  bool ok() const { return error == 0; }
};

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 item 5.4). 28 chars.
std::string websocket_accept_value(std::string_view key);

// Server: is this request a DERP WebSocket upgrade we accept? (RFC 6455 §4.2.1): GET over HTTP/1.1 or later,
// Upgrade holding "websocket", Connection holding "upgrade", Sec-WebSocket-Version 13, a Sec-WebSocket-Key that
// decodes to 16 bytes, and a Sec-WebSocket-Protocol list holding "derp". Origin is not checked: derper accepts
// any (reference §1.4).
WebSocketVerdict check_websocket_upgrade(const RequestHead& request);

// Server: the whole 101 answer, blank line included, for an accepted request's key. It selects "derp" and no
// extension, so permessage-deflate stays off even when the client offers it (RFC 6455 §9.1: extensions the
// server does not list are not in use).
std::string websocket_upgrade_response(std::string_view key);

// Client: a fresh key, 16 bytes from `random` (default: libsodium's CSPRNG) in base64 (RFC 6455 §4.1 item 7
// wants a new random nonce per connection). DERP_OK, or DERP_ERR_INVALID_ARGUMENT when key is null.
int new_websocket_key(std::string* key, const crypto::RandomSource& random = {});

// Client: the upgrade request for host ("example.com" or "example.com:8443") and path ("/derp"), asking for
// subprotocol "derp". DERP_OK, or DERP_ERR_INVALID_ARGUMENT when host or path is empty, path does not start
// with '/', or either holds a space or control character (which would break the request line or a header).
int websocket_upgrade_request(std::string_view host, std::string_view path, std::string_view key, std::string* out);

// Client: does the server's answer complete the handshake for key? (RFC 6455 §4.1, the client's checks):
// status 101, Upgrade "websocket", Connection holding "upgrade", the expected Sec-WebSocket-Accept, the
// subprotocol "derp", and no extension (we offered none).
WebSocketVerdict check_websocket_response(const ResponseHead& response, std::string_view key);

}  // namespace derp::http
