// The HTTP phase of a server connection: one request head, then either the DERP upgrade or a plain endpoint
// (reference §1.2, §1.6). Plain answers keep the connection for the next request unless it asked to close; errors
// are answered and the connection closed.
#include <cstring>
#include <string>

#include "crypto/key_text.hpp"
#include "http/websocket_handshake.hpp"
#include "server/connection.hpp"
#include "server/server.hpp"

namespace derp::server {

namespace {

constexpr std::uint8_t kTlsHandshakeRecord = 0x16;  // TLS ContentType handshake (RFC 8446 §5.1)
constexpr std::string_view kNoStore = "Cache-Control: no-cache, no-store, must-revalidate, no-transform, max-age=0\r\n";
// What derper adds to its browser-facing pages (reference §1.6).
constexpr std::string_view kBrowserHeaders =
    "Strict-Transport-Security: max-age=63072000; includeSubDomains\r\n"
    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; form-action 'none'; base-uri 'self'; "
    "block-all-mixed-content; plugin-types 'none'\r\n"
    "X-Frame-Options: DENY\r\n"
    "X-Content-Type-Options: nosniff\r\n";
constexpr std::string_view kTextPlain = "Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n";

constexpr std::string_view kHomePage =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>DERP</title></head><body>\n"
    "<h1>DERP</h1>\n<p>This is a DERP relay server (libderp), serving Tailscale-compatible clients.</p>\n"
    "<p>It relays encrypted packets between nodes by public key; it cannot read them.</p>\n</body></html>\n";

// derper answers the captive-portal challenge only for short values of a safe alphabet (reference §1.6).
bool valid_challenge(std::string_view c) {
  if (c.empty() || c.size() > 64) return false;
  for (char ch : c) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                    ch == '-' || ch == '_' || ch == ':';
    if (!ok) return false;
  }
  return true;
}

bool is_loopback(const derp_addr& a) {
  if (a.family == DERP_AF_INET) return a.ip[0] == 127;
  if (a.family != DERP_AF_INET6) return false;
  static const std::uint8_t loopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.ip, loopback6, 16) == 0) return true;
  return std::memcmp(a.ip, mapped_prefix, 12) == 0 && a.ip[12] == 127;
}

bool has_body(const http::RequestHead& req) {
  if (req.headers.find("Transfer-Encoding")) return true;
  const auto len = req.headers.find("Content-Length");
  return len && *len != "0";
}

}  // namespace

int Connection::on_http_bytes(Bytes in, std::size_t* used, Nanos now) {
  // A TLS handshake on a plain-HTTP connection (an https:// URL for an http:// server) never ends its "head": the
  // record type 0x16 cannot begin a request line (RFC 9112 §3: a method is a token). Answer at once instead of at
  // the handshake timeout, so the client hears plain HTTP and can say so (lib/tls/record_sniff.hpp) — the mirror
  // of Go's TLS server answering plain HTTP with "Client sent an HTTP request to an HTTPS server".
  if (head_.buffered() == 0 && !in.empty() && in[0] == kTlsHandshakeRecord) {
    server_.counters_.handshake_failures[static_cast<std::size_t>(HandshakeFailure::bad_http)]++;
    queue_http_response(400, "Bad Request", kTextPlain, "this port speaks plain HTTP, not TLS\n", false, false);
    close(CloseReason::bad_http, "a TLS handshake on a plain-HTTP connection", true);
    *used = in.size();
    return DERP_ERR_HTTP_MALFORMED;
  }
  const std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  const int r = head_.feed(text, used);
  if (r == 0) return DERP_OK;
  if (r < 0) {
    server_.counters_.handshake_failures[static_cast<std::size_t>(HandshakeFailure::bad_http)]++;
    queue_http_response(431, "Request Header Fields Too Large", kTextPlain, "request head too large\n", false, false);
    close(CloseReason::bad_http, "HTTP request head over " + std::to_string(server_.options_.max_http_head) + " bytes",
          true);
    return r;
  }
  http::RequestHead request;
  int rc = http::parse_request_head(head_.head(), &request);
  if (rc != DERP_OK) {
    server_.counters_.handshake_failures[static_cast<std::size_t>(HandshakeFailure::bad_http)]++;
    queue_http_response(400, "Bad Request", kTextPlain, "malformed HTTP request\n", false, false);
    close(CloseReason::bad_http, "malformed HTTP request head", true);
    head_.reset();
    return rc;
  }
  server_.counters_.http_requests++;
  rc = on_request(request, now);
  head_.reset();  // the request's views die here; the memory goes back
  return rc;
}

int Connection::on_request(const http::RequestHead& req, Nanos now) {
  const bool head_only = req.method == "HEAD";
  const bool get_or_head = req.method == "GET" || head_only;
  // We never read request bodies, so a request that has one ends the connection after its answer.
  const bool keep_alive = !has_body(req) && req.version_minor >= 1 && !req.headers.has_token("Connection", "close");
  auto answer = [&](int status, std::string_view reason, std::string_view headers, std::string_view body,
                    bool keep) {
    queue_http_response(status, reason, headers, body, head_only, keep);
    if (keep) {
      handshake_deadline_ = now + server_.options_.handshake_timeout;  // idle limit until the next request
    } else {
      close(status < 400 ? CloseReason::http_done : CloseReason::http_refused,
            std::to_string(status) + " for " + std::string(req.method) + " " + std::string(req.path), true);
    }
    return DERP_OK;
  };

  // Probes first: derper runs the probe handler even when it is reached through /derp (reference §1.2).
  if (req.path == "/derp/probe" || req.path == "/derp/latency-check") {
    if (!get_or_head) return answer(405, "Method Not Allowed", kTextPlain, "bogus probe method\n", false);
    return answer(200, "OK", "Access-Control-Allow-Origin: *\r\n", "", keep_alive);
  }
  if (req.path == "/derp") {
    if (!server_.options_.serve_derp) return answer(404, "Not Found", kTextPlain, "derp server disabled\n", false);
    const auto upgrade = req.headers.find("Upgrade");
    const bool derp_upgrade = upgrade && http::iequals(*upgrade, "derp");
    const bool websocket_upgrade = upgrade && http::iequals(*upgrade, "websocket");
    if (websocket_upgrade && req.headers.has_token("Sec-WebSocket-Protocol", "derp")) {
      const http::WebSocketVerdict verdict = http::check_websocket_upgrade(req);
      if (!verdict.ok()) {
        return answer(verdict.http_status, verdict.http_status == 426 ? "Upgrade Required" : "Bad Request",
                      std::string(kTextPlain) + std::string(verdict.headers), std::string(verdict.reason) + "\n",
                      false);
      }
      return start_websocket(req, now);
    }
    // Very old clients sent "Upgrade: WebSocket" but spoke raw DERP; derper treats them as DERP (reference §1.4).
    if (!derp_upgrade && !websocket_upgrade) {
      return answer(426, "Upgrade Required", kTextPlain, "DERP requires connection upgrade\n", false);
    }
    return start_derp(req, now);
  }
  if (!get_or_head) return answer(405, "Method Not Allowed", kTextPlain, "method not allowed\n", false);
  if (req.path == "/generate_204") {
    std::string headers(kNoStore);
    const auto challenge = req.headers.find("X-Tailscale-Challenge");
    if (challenge && valid_challenge(*challenge)) {
      headers += "X-Tailscale-Response: response " + std::string(*challenge) + "\r\n";
    }
    return answer(204, "No Content", headers, "", keep_alive);
  }
  if (req.path == "/robots.txt") {
    return answer(200, "OK", std::string(kTextPlain) + std::string(kBrowserHeaders), "User-agent: *\nDisallow: /\n",
                  keep_alive);
  }
  if (req.path == "/debug/varz" || req.path == "/metrics") {
    if (!server_.options_.metrics_for_everyone && !is_loopback(remote_)) {
      return answer(403, "Forbidden", kTextPlain, "metrics are served to loopback clients only\n", false);
    }
    return answer(200, "OK", "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n", server_.metrics_text(),
                  keep_alive);
  }
  if (req.path == "/") {
    const HomePage& home = server_.options_.home;
    if (home.kind == HomePage::Kind::Redirect) {
      return answer(302, "Found", "Location: " + home.redirect_url + "\r\n", "", keep_alive);
    }
    const std::string headers = "Content-Type: text/html; charset=utf-8\r\n" + std::string(kBrowserHeaders);
    return answer(200, "OK", headers, home.kind == HomePage::Kind::Blank ? std::string_view{} : kHomePage,
                  keep_alive);
  }
  return answer(404, "Not Found", kTextPlain, "not found\n", false);
}

int Connection::start_derp(const http::RequestHead& req, Nanos now) {
  (void)now;
  const auto fast_start = req.headers.find("Derp-Fast-Start");
  const auto ideal = req.headers.find("Ideal-Node");
  not_ideal_ = ideal && !ideal->empty();
  // With "Derp-Fast-Start: 1" the client already knows our key and sends ClientInfo without waiting: no 101 at
  // all, the ServerKey frame comes first (reference §1.2, §9.2).
  if (!(fast_start && *fast_start == "1")) {
    const std::string& head = server_.http_101_;
    if (!queue_bytes(Bytes(reinterpret_cast<const std::uint8_t*>(head.data()), head.size()))) return DERP_ERR_NO_MEMORY;
  }
  if (!queue_bytes(Bytes(server_.server_key_frame_))) return DERP_ERR_NO_MEMORY;
  phase_ = Phase::Handshake;
  return DERP_OK;
}

int Connection::start_websocket(const http::RequestHead& req, Nanos now) {
  (void)now;
  const std::string response = http::websocket_upgrade_response(*req.headers.find("Sec-WebSocket-Key"));
  if (!queue_bytes(Bytes(reinterpret_cast<const std::uint8_t*>(response.data()), response.size()), true)) {
    return DERP_ERR_NO_MEMORY;
  }
  // From here every byte both ways travels inside WebSocket binary messages; the DERP handshake is the same as
  // on a raw connection, ServerKey first, and there is no fast start (reference §1.4). A client's largest frame
  // is a 256 KiB ClientInfo, so no message needs to be bigger than that.
  ws_ = std::make_unique<http::WebSocketStream>(http::WebSocketRole::server, DERP_MAX_CLIENT_INFO_LEN + 64);
  websocket_ = true;
  const auto ideal = req.headers.find("Ideal-Node");
  not_ideal_ = ideal && !ideal->empty();
  if (!queue_bytes(Bytes(server_.server_key_frame_))) return DERP_ERR_NO_MEMORY;
  phase_ = Phase::Handshake;
  return DERP_OK;
}

bool Connection::queue_http_response(int status, std::string_view reason, std::string_view headers,
                                     std::string_view body, bool head_only, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  out += headers;
  if (status != 204 && status != 304) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head_only) out += body;
  return queue_bytes(Bytes(reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
}

}  // namespace derp::server
