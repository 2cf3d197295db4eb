// The HTTP part of a client connection: the upgrade request (reference §1.1, or the WebSocket handshake of §1.4)
// and the server's answer to it (§1.2). Bytes after the answer's head are the DERP stream and go on to
// connection_frames.cpp.
#include <string>

#include "client/connection.hpp"
#include "crypto/sealed_info.hpp"
#include "http/head.hpp"
#include "http/websocket_handshake.hpp"

namespace derp::client {

namespace {

// The answer's first line for a log sentence, cut short and with anything unprintable replaced: it comes from
// the server and may be anything.
std::string status_line(std::string_view head) {
  const std::size_t end = head.find_first_of("\r\n");
  std::string_view line = head.substr(0, end);
  constexpr std::size_t kMax = 120;
  std::string out;
  for (char c : line.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? '?' : c;
  }
  if (line.size() > kMax) out += "...";
  return "\"" + out + "\"";
}

}  // namespace

int ClientConnection::start(Nanos now) {
  const ClientOptions& o = options_;
  if (!http::safe_request_text(o.host) || !http::safe_request_text(o.path) || o.path.front() != '/') {
    return DERP_ERR_INVALID_ARGUMENT;
  }
  if (!o.ideal_node.empty() && !http::safe_request_text(o.ideal_node)) return DERP_ERR_INVALID_ARGUMENT;
  // The sealed ClientInfo must fit what a server reads (256 KiB); refuse now rather than at the handshake.
  if (crypto::encode_client_info(o.info).size() + crypto::kClientInfoMinPayload > crypto::kClientInfoMaxPayload) {
    return DERP_ERR_INVALID_ARGUMENT;
  }

  std::string request;
  if (o.websocket) {
    if (const int rc = http::new_websocket_key(&ws_key_, o.random); rc != DERP_OK) return rc;
    if (const int rc = http::websocket_upgrade_request(o.host, o.path, ws_key_, &request); rc != DERP_OK) return rc;
    if (!o.ideal_node.empty()) request.insert(request.size() - 2, "Ideal-Node: " + o.ideal_node + "\r\n");
  } else {
    // What tailscaled sends (reference §1.1). The server looks at Upgrade only; Go orders headers this way too.
    request = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\nUser-Agent: libderp/" DERP_VERSION_STRING
              "\r\nConnection: Upgrade\r\n";
    if (o.fast_start) request += "Derp-Fast-Start: 1\r\n";
    if (!o.ideal_node.empty()) request += "Ideal-Node: " + o.ideal_node + "\r\n";
    request += "Upgrade: DERP\r\n\r\n";
    // With fast start the server sends no HTTP answer, its ServerKey frame comes first (§1.2); but a server that
    // ignores the header answers 101 as usual, so the first byte decides.
    head_optional_ = o.fast_start;
  }
  append_output(Bytes(reinterpret_cast<const std::uint8_t*>(request.data()), request.size()));
  handshake_deadline_ = o.handshake_timeout > 0 ? now + o.handshake_timeout : kNever;
  last_receive_at_ = now;
  return DERP_OK;
}

int ClientConnection::on_http_bytes(Bytes in, std::size_t* used, Nanos now) {
  *used = 0;
  if (head_optional_ && head_.buffered() == 0) {
    if (in[0] == frame::type_byte(frame::FrameType::ServerKey)) {
      phase_ = ClientPhase::ServerKey;  // fast start honoured: no head, the bytes are the ServerKey frame
      return DERP_OK;
    }
    if (in[0] != 'H') {
      return fail(DERP_ERR_PROTOCOL,
                  "the server's first byte (" + std::to_string(in[0]) +
                      ") starts neither a ServerKey frame nor an HTTP answer",
                  now);
    }
  }
  const std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  const int r = head_.feed(text, used);
  if (r == 0) return DERP_OK;
  if (r < 0) {
    return fail(r,
                "the server's HTTP answer has no end of head within " +
                    std::to_string(http::HeadReader::kDefaultMaxHeadBytes) + " bytes",
                now);
  }
  return on_response_head(now);
}

int ClientConnection::on_response_head(Nanos now) {
  const std::string_view head = head_.head();
  http::ResponseHead response;
  if (http::parse_response_head(head, &response) != DERP_OK) {
    return fail(DERP_ERR_HTTP_MALFORMED, "malformed HTTP answer to the upgrade: " + status_line(head), now);
  }
  // Go's client checks the status only (derphttp_client.go): Derp-Version and Derp-Public-Key are informational.
  if (response.status != 101) {
    return fail(DERP_ERR_UPGRADE_REFUSED, "the server answered " + status_line(head) + " instead of 101", now);
  }
  if (!ws_key_.empty()) {
    const http::WebSocketVerdict verdict = http::check_websocket_response(response, ws_key_);
    if (!verdict.ok()) return fail(verdict.error, "WebSocket upgrade: " + std::string(verdict.reason), now);
    // The DERP stream now travels in binary messages; the server's frames are never masked (RFC 6455 §5.1).
    ws_ = std::make_unique<http::WebSocketStream>(http::WebSocketRole::client,
                                                http::WebSocketStream::kDefaultMaxMessageLen, options_.random);
  }
  head_.reset();  // the head's memory goes back; the connection may live for days
  phase_ = ClientPhase::ServerKey;
  return DERP_OK;
}

}  // namespace derp::client
