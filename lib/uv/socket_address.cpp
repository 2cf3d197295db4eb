#include "uv/socket_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

#include "common/address.hpp"

namespace derp::uv {

namespace {

bool parse_port(std::string_view text, std::uint16_t* port) {
  if (text == "https") {
    *port = 443;
    return true;
  }
  if (text == "http") {
    *port = 80;
    return true;
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  *port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

int parse_listen_address(std::string_view text, ListenAddress* out) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return DERP_ERR_ADDRESS;
  std::string_view host = text.substr(0, colon);
  ListenAddress result;
  if (!parse_port(text.substr(colon + 1), &result.addr.port)) return DERP_ERR_ADDRESS;
  if (host.empty()) {
    result.any_host = true;
    *out = result;
    return DERP_OK;
  }
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  const std::string host_text(host);
  if (!bracketed && inet_pton(AF_INET, host_text.c_str(), result.addr.ip) == 1) {
    result.addr.family = DERP_AF_INET;
  } else if (bracketed && inet_pton(AF_INET6, host_text.c_str(), result.addr.ip) == 1) {
    result.addr.family = DERP_AF_INET6;
  } else {
    return DERP_ERR_ADDRESS;
  }
  *out = result;
  return DERP_OK;
}

derp_addr from_sockaddr(const sockaddr* sa) {
  derp_addr a{};
  if (sa == nullptr) return a;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    a.family = DERP_AF_INET;
    a.port = ntohs(in->sin_port);
    std::memcpy(a.ip, &in->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    a.family = DERP_AF_INET6;
    a.port = ntohs(in6->sin6_port);
    std::memcpy(a.ip, &in6->sin6_addr, 16);
  }
  return unmap_v4(a);
}

void to_sockaddr(const derp_addr& addr, sockaddr_storage* out) {
  std::memset(out, 0, sizeof *out);
  if (addr.family == DERP_AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    in->sin_port = htons(addr.port);
    std::memcpy(&in->sin_addr, addr.ip, 4);
  } else if (addr.family == DERP_AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(addr.port);
    std::memcpy(&in6->sin6_addr, addr.ip, 16);
  }
}

derp_addr wildcard(std::uint8_t family, std::uint16_t port) {
  derp_addr a{};
  a.family = family;
  a.port = port;
  return a;
}

}  // namespace derp::uv
