// The DERP server URL a client is pointed at: "http://host[:port][/path]" or "https://host[:port][/path]" (IPv6
// literals in brackets), as tailscale's derphttp.NewClient takes it. Sans-IO: text in, fields out, nothing resolved.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace derp::client {

struct DerpUrl {
  bool tls = true;           // https
  std::string host;          // as written, without the brackets of an IPv6 literal; a name or an IP literal
  bool host_is_ipv6 = false; // the host was a bracketed IPv6 literal
  std::uint16_t port = 443;  // the explicit port, else 443 (https) / 80 (http)
  std::string path = "/derp";  // from the first '/' on (a query included, a fragment dropped); "/derp" when absent
  // What goes into the Host header: the host (IPv6 in brackets) with ":port" only when the port is not the
  // scheme's default.
  std::string host_header;
};

// DERP_OK, or DERP_ERR_URL for anything else: another scheme, user info, an empty host, a bad port (not 1..65535
// decimal), a bracketed host that is not an IPv6 literal, an unbracketed ':' in the host, whitespace or control
// characters anywhere. On error *out is left as a default DerpUrl. DERP_ERR_INVALID_ARGUMENT for a null out.
int parse_derp_url(std::string_view text, DerpUrl* out);

// The Host header for a host ("::1" is bracketed) and port: the port appears only when it differs from
// default_port.
std::string host_header_for(std::string_view host, std::uint16_t port, std::uint16_t default_port);

}  // namespace derp::client
