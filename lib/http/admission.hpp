// derper's admission controller exchange (-verify-client-url; derp/derpserver verifyClient, tailcfg's
// DERPAdmitClientRequest/Response): the POST we send for a new client and how its answer is judged. Sans-IO.
#pragma once

#include <string>
#include <string_view>

namespace derp::http {

// {"NodePublic":"nodekey:<hex>","Source":"<client IP>"}: the key and IP in their text forms (hex digits and an IP
// literal need no JSON escaping; Source is "" when the address is unknown, as Go marshals a zero netip.Addr).
std::string admission_request_body(std::string_view node_public_text, std::string_view source_ip);

// The whole request: POST <path> with Host, Content-Type, Content-Length, Connection: close.
std::string admission_request(std::string_view host_header, std::string_view path, std::string_view body);

// Whether an answer body says {"Allow":true}, decoded as Go's encoding/json would: the first JSON value must be an
// object; its field names match "Allow" case-insensitively; a non-boolean Allow, or a body
// that is not JSON, is an error (a refusal, with *why). Unknown fields are ignored.
bool admission_allows(std::string_view body, std::string* why);

}  // namespace derp::http
