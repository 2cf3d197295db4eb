// The JSON a client seals into its ClientInfo frame (reference §3; Tailscale derp/derp_client.go clientInfo).
// Our encoder writes exactly Go's json.Marshal bytes for the same values: members in the order
//   {"version":2,"meshKey":"…","CanAckPings":false,"IsProber":true,"AppName":"…"}
// with version omitted when 0, meshKey only when set and non-empty (pitfall §9.4: current servers reject ""),
// CanAckPings always, IsProber only when true, AppName only when non-empty.
// The decoder reads it the way Go's json.Unmarshal does (see go_json_read.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace derp::crypto {

// What tailscaled puts in "version" (derp.ProtocolVersion in derp/derp.go).
inline constexpr int kInfoProtocolVersion = 2;

struct ClientInfo {
  // Defaults are Go's zero values, which is what a decoded absent field reads as. A client filling one in to send
  // normally sets version = kInfoProtocolVersion and can_ack_pings = true, as tailscaled does.
  int version = 0;
  // Absent and "" stay distinct after decoding: whether "" is acceptable is the server's decision. A JSON null
  // reads as "" (present): Tailscale's current server refuses both (types/key/derp.go DERPMesh.UnmarshalJSON).
  std::optional<std::string> mesh_key;
  bool can_ack_pings = false;
  bool is_prober = false;
  std::string app_name;

  bool operator==(const ClientInfo&) const = default;
};

std::string encode_client_info(const ClientInfo& info);

// DERP_OK and *out replaced; or DERP_ERR_BAD_JSON (malformed, or a known field of the wrong type) and *out
// untouched. Unknown fields are ignored, keys match case-insensitively, null leaves the default.
int decode_client_info(std::string_view json, ClientInfo* out);

}  // namespace derp::crypto
