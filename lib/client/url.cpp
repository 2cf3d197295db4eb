#include "client/url.hpp"

#include <arpa/inet.h>

#include "derp/common.h"

namespace derp::client {

namespace {

bool has_forbidden_char(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return true;  // an HTTP request line or Host header cannot carry them
  }
  return false;
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool parse_port(std::string_view text, std::uint16_t* out) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  *out = static_cast<std::uint16_t>(value);
  return true;
}

bool is_ipv6_literal(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  const std::string copy(text);
  unsigned char buf[16];
  return inet_pton(AF_INET6, copy.c_str(), buf) == 1;  // zones ("%eth0") are refused: Go needs them escaped
}

}  // namespace

std::string host_header_for(std::string_view host, std::uint16_t port, std::uint16_t default_port) {
  std::string out;
  const bool bracket = host.find(':') != std::string_view::npos;
  if (bracket) out += '[';
  out += host;
  if (bracket) out += ']';
  if (port != default_port) out += ":" + std::to_string(port);
  return out;
}

int parse_derp_url(std::string_view text, DerpUrl* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  *out = DerpUrl{};
  if (has_forbidden_char(text)) return DERP_ERR_URL;
  DerpUrl url;
  // Scheme names are case-insensitive (RFC 3986 §3.1), as Go's url.Parse treats them.
  if (iequals_prefix(text, "https://")) {
    url.tls = true;
    text.remove_prefix(8);
  } else if (iequals_prefix(text, "http://")) {
    url.tls = false;
    text.remove_prefix(7);
  } else {
    return DERP_ERR_URL;
  }
  const std::uint16_t default_port = url.tls ? 443 : 80;
  url.port = default_port;

  if (const std::size_t hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
  std::size_t authority_end = text.find_first_of("/?");
  const std::string_view authority = text.substr(0, authority_end);
  std::string_view rest = authority_end == std::string_view::npos ? std::string_view() : text.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) return DERP_ERR_URL;  // no credentials in a DERP URL

  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return DERP_ERR_URL;
    host = authority.substr(1, close - 1);
    if (!is_ipv6_literal(host)) return DERP_ERR_URL;
    url.host_is_ipv6 = true;
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return DERP_ERR_URL;
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
      if (port_text.find(':') != std::string_view::npos) return DERP_ERR_URL;  // an unbracketed IPv6
    }
    if (host.find_first_of("[]") != std::string_view::npos) return DERP_ERR_URL;
  }
  if (host.empty()) return DERP_ERR_URL;
  if (has_port && !parse_port(port_text, &url.port)) return DERP_ERR_URL;

  url.host = std::string(host);
  if (rest.empty()) {
    url.path = "/derp";
  } else if (rest.front() == '?') {
    url.path = "/" + std::string(rest);  // "https://host?x" asks for "/?x", as Go's request line does
  } else {
    url.path = std::string(rest);
  }
  url.host_header = host_header_for(url.host, url.port, default_port);
  *out = std::move(url);
  return DERP_OK;
}

}  // namespace derp::client
