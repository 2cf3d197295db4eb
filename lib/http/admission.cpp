// The admission controller exchange (admission.hpp).
#include "http/admission.hpp"

#include <nlohmann/json.hpp>

#include "http/head.hpp"

namespace derp::http {

std::string admission_request_body(std::string_view node_public_text, std::string_view source_ip) {
  std::string body = "{\"NodePublic\":\"";
  body += node_public_text;
  body += "\",\"Source\":\"";
  body += source_ip;
  body += "\"}";
  return body;
}

std::string admission_request(std::string_view host_header, std::string_view path, std::string_view body) {
  std::string r = "POST ";
  r += path;
  r += " HTTP/1.1\r\nHost: ";
  r += host_header;
  r += "\r\nUser-Agent: libderp-derper\r\nContent-Type: application/json\r\nContent-Length: ";
  r += std::to_string(body.size());
  r += "\r\nConnection: close\r\n\r\n";
  r += body;
  return r;
}

bool admission_allows(std::string_view body, std::string* why) {
  // Go's json.Decoder reads the first value and ignores what follows it, while nlohmann's parse wants the whole
  // input: so the text is cut after the first top-level object or array (strings skipped) before parsing.
  std::size_t end = 0;
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  bool started = false;
  for (; end < body.size(); ++end) {
    const char c = body[end];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
      started = true;
    } else if (c == '}' || c == ']') {
      if (--depth == 0 && started) {
        ++end;
        break;
      }
    } else if (!started && c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      started = true;  // a scalar first value: parsed (and refused) below
    }
  }
  const nlohmann::json doc = nlohmann::json::parse(body.substr(0, end), nullptr, false);
  if (doc.is_discarded()) {
    *why = "the answer is not JSON";
    return false;
  }
  if (!doc.is_object()) {
    *why = "the answer is not a JSON object";
    return false;
  }
  bool allow = false;
  for (const auto& [name, value] : doc.items()) {
    if (!iequals(name, "Allow")) continue;
    if (value.is_null()) continue;  // null: Go leaves the field as it was
    if (!value.is_boolean()) {
      *why = "\"Allow\" is not a boolean";
      return false;
    }
    allow = value.get<bool>();
  }
  if (!allow) *why = "not allowed";
  return allow;
}

}  // namespace derp::http
