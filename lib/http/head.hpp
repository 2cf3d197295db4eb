// HTTP/1.1 message heads: just enough for the DERP upgrade and a few plain GETs (RFC 9112 §2–§5).
// The head is bounded and parsed without allocation; views point into the caller's text.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace derp::http {

struct Header {
  std::string_view name;
  std::string_view value;  // optional whitespace around it already trimmed
};

// More headers than this is refused rather than silently cut: a DERP client sends five or six.
constexpr std::size_t kMaxHeaders = 32;

struct HeaderList {
  std::array<Header, kMaxHeaders> items{};
  std::size_t count = 0;

  // The first header with this name, compared ASCII case-insensitively (RFC 9110 §5.1).
  std::optional<std::string_view> find(std::string_view name) const;
  // True when the header's comma-separated value list holds token, case-insensitively
  // (e.g. "Connection: keep-alive, Upgrade" holds "upgrade").
  bool has_token(std::string_view name, std::string_view token) const;
};

struct RequestHead {
  std::string_view method;
  std::string_view target;  // as sent: "/derp?x=1"
  std::string_view path;    // target before '?'
  std::string_view query;   // after '?', without it; empty when absent
  int version_minor = 1;    // HTTP/1.<minor>
  HeaderList headers;
};

struct ResponseHead {
  int version_minor = 1;
  int status = 0;
  std::string_view reason;
  HeaderList headers;
};

// Length of the head at the start of text, blank line included, or 0 when the blank line has not arrived yet.
// Accepts CRLF and, like Go's net/textproto, bare LF line ends. The search starts at `from` (a caller feeding
// pieces passes a little before the new bytes, so the whole buffer is not scanned again each time).
std::size_t find_head_end(std::string_view text, std::size_t from = 0);

// Parse a complete head (as find_head_end measured it). DERP_OK, or DERP_ERR_HTTP_MALFORMED.
int parse_request_head(std::string_view head, RequestHead* out);
int parse_response_head(std::string_view head, ResponseHead* out);

bool iequals(std::string_view a, std::string_view b);

// True for a non-empty value that can go verbatim into a request line or a header (a host, a path): no space,
// control character or DEL that could end or split them.
bool safe_request_text(std::string_view s);

}  // namespace derp::http
