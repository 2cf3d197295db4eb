#include "http/head.hpp"

#include "derp/common.h"

namespace derp::http {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 §5.6.2 tchar: what a header name or method may contain.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// Field values may hold visible characters, spaces, tabs and obs-text; never CR, LF or NUL.
bool is_field_value(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u == '\t') continue;
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// Splits off the next line, without its line end. Returns false at the end of text.
bool next_line(std::string_view* rest, std::string_view* line) {
  const std::size_t lf = rest->find('\n');
  if (lf == std::string_view::npos) return false;
  std::string_view l = rest->substr(0, lf);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  *line = l;
  rest->remove_prefix(lf + 1);
  return true;
}

// "HTTP/1.x" → x; -1 for anything else (HTTP/2 and HTTP/0.9 have no place in an upgrade).
int parse_version(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 7) != "HTTP/1.") return -1;
  if (v[7] < '0' || v[7] > '9') return -1;
  return v[7] - '0';
}

int parse_headers(std::string_view rest, HeaderList* headers) {
  headers->count = 0;
  std::string_view line;
  while (next_line(&rest, &line)) {
    if (line.empty()) return DERP_OK;  // the blank line ends the head
    // obs-fold (a line starting with whitespace) is refused, as RFC 9112 §5.2 allows a server to do.
    if (line.front() == ' ' || line.front() == '\t') return DERP_ERR_HTTP_MALFORMED;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return DERP_ERR_HTTP_MALFORMED;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (!is_token(name) || !is_field_value(value)) return DERP_ERR_HTTP_MALFORMED;
    if (headers->count == kMaxHeaders) return DERP_ERR_HTTP_MALFORMED;
    headers->items[headers->count++] = Header{name, value};
  }
  return DERP_ERR_HTTP_MALFORMED;  // no blank line: not a whole head
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> HeaderList::find(std::string_view name) const {
  for (std::size_t i = 0; i < count; ++i) {
    if (iequals(items[i].name, name)) return items[i].value;
  }
  return std::nullopt;
}

bool HeaderList::has_token(std::string_view name, std::string_view token) const {
  for (std::size_t i = 0; i < count; ++i) {
    if (!iequals(items[i].name, name)) continue;
    std::string_view list = items[i].value;
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      if (iequals(trim(list.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return false;
}

std::size_t find_head_end(std::string_view text, std::size_t from) {
  // The head ends at the first empty line: "\n\r\n" or "\n\n" (a line end followed by an empty line).
  for (std::size_t i = text.find('\n', from); i != std::string_view::npos; i = text.find('\n', i + 1)) {
    if (i + 1 < text.size() && text[i + 1] == '\n') return i + 2;
    if (i + 2 < text.size() && text[i + 1] == '\r' && text[i + 2] == '\n') return i + 3;
  }
  return 0;
}

int parse_request_head(std::string_view head, RequestHead* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  *out = RequestHead{};
  std::string_view rest = head;
  std::string_view line;
  if (!next_line(&rest, &line)) return DERP_ERR_HTTP_MALFORMED;
  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces.
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return DERP_ERR_HTTP_MALFORMED;
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return DERP_ERR_HTTP_MALFORMED;
  }
  out->method = line.substr(0, sp1);
  out->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out->version_minor = parse_version(line.substr(sp2 + 1));
  if (!is_token(out->method) || out->target.empty() || out->version_minor < 0) return DERP_ERR_HTTP_MALFORMED;
  for (char c : out->target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return DERP_ERR_HTTP_MALFORMED;
  }
  const std::size_t q = out->target.find('?');
  out->path = out->target.substr(0, q);
  out->query = q == std::string_view::npos ? std::string_view{} : out->target.substr(q + 1);
  return parse_headers(rest, &out->headers);
}

int parse_response_head(std::string_view head, ResponseHead* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  *out = ResponseHead{};
  std::string_view rest = head;
  std::string_view line;
  if (!next_line(&rest, &line)) return DERP_ERR_HTTP_MALFORMED;
  // status-line = HTTP-version SP 3DIGIT SP [reason-phrase] (RFC 9112 §4); the reason may be empty.
  if (line.size() < 12 || line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) return DERP_ERR_HTTP_MALFORMED;
  out->version_minor = parse_version(line.substr(0, 8));
  if (out->version_minor < 0) return DERP_ERR_HTTP_MALFORMED;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return DERP_ERR_HTTP_MALFORMED;
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100) return DERP_ERR_HTTP_MALFORMED;
  out->status = status;
  out->reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  return parse_headers(rest, &out->headers);
}

bool safe_request_text(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

}  // namespace derp::http
