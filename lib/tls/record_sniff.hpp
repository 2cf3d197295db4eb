// Telling a peer that does not speak TLS at all from one whose TLS is broken, from the first bytes it sent.
// A TLS record starts with its content type (20..24: change_cipher_spec, alert, handshake, application_data,
// heartbeat) and the protocol version, whose major byte is 3 (RFC 5246 §6.2.1, RFC 8446 §5.1). A plain-HTTP
// server's answer ("HTTP/1.1 400 Bad Request") or a plain-HTTP client's request ("GET / HTTP/1.1") cannot begin
// that way; saying so is clearer than mbedTLS's "invalid SSL record".
#pragma once

#include <string>

#include "common/bytes.hpp"

namespace derp::tls {

// "" when `first` (the first bytes received from the peer, any length) may begin a TLS record; otherwise a short
// description of what came instead: `plain text, not TLS: "HTTP/1.1 400 Bad Request"` (its first line, at most
// 40 characters, unprintable bytes as \xNN), or `bytes that are not TLS (first byte 0x00)`.
std::string describe_non_tls(Bytes first);

}  // namespace derp::tls
