#include "uv/stun_target.hpp"

#include <charconv>

#include "client/url.hpp"
#include "common/address.hpp"

namespace derp::uv {

namespace {

bool parse_port(std::string_view text, std::uint16_t* out) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  *out = static_cast<std::uint16_t>(value);
  return true;
}

bool is_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The host's literal address with the port, when the host is one.
std::optional<derp_addr> literal_of(const std::string& host, std::uint16_t port) {
  const std::string text = host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                                                : host + ":" + std::to_string(port);
  derp_addr a{};
  if (parse_addr(text.c_str(), &a) != DERP_OK) return std::nullopt;
  return a;
}

}  // namespace

int parse_stun_target(std::string_view text, StunTarget* out) {
  StunTarget t;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return DERP_ERR_ADDRESS;
    t.host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !parse_port(rest.substr(1), &t.port))) return DERP_ERR_ADDRESS;
    t.literal = literal_of(t.host, t.port);
    if (!t.literal || t.literal->family != DERP_AF_INET6) return DERP_ERR_ADDRESS;
  } else if (text.find(':') != text.rfind(':')) {
    t.host = std::string(text);  // two or more ':' unbracketed: an IPv6 literal without a port
    t.literal = literal_of(t.host, t.port);
    if (!t.literal) return DERP_ERR_ADDRESS;
  } else {
    const std::size_t colon = text.find(':');
    t.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos && !parse_port(text.substr(colon + 1), &t.port)) return DERP_ERR_ADDRESS;
    if (!is_name(t.host)) return DERP_ERR_ADDRESS;
    t.literal = literal_of(t.host, t.port);  // "1.2.3.4" is a literal; anything else that passed is a name
  }
  *out = std::move(t);
  return DERP_OK;
}

std::optional<StunTarget> default_stun_target(std::string_view derp_url) {
  client::DerpUrl url;
  if (client::parse_derp_url(derp_url, &url) != DERP_OK) return std::nullopt;
  StunTarget t;
  t.host = url.host;
  t.literal = literal_of(t.host, t.port);
  return t;
}

std::string format_stun_target(const StunTarget& t) {
  const bool v6 = t.host.find(':') != std::string::npos;
  return (v6 ? "[" + t.host + "]" : t.host) + ":" + std::to_string(t.port);
}

}  // namespace derp::uv
