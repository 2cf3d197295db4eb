// The JSON a server seals into its ServerInfo frame (reference §3; Tailscale derp serverInfo):
//   {"version":2,"TokenBucketBytesPerSecond":…,"TokenBucketBytesBurst":…}
// every member omitted when zero (all three are omitempty). Today's servers send just {"version":2}.
// If the rate is non-zero a Go client drops its own sends beyond that token bucket (pitfall §9.15).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace derp::crypto {

struct ServerInfo {
  int version = 0;  // Go zero value; a server sending fills in kInfoProtocolVersion (client_info.hpp)
  std::int64_t token_bucket_bytes_per_second = 0;
  std::int64_t token_bucket_bytes_burst = 0;

  bool operator==(const ServerInfo&) const = default;
};

std::string encode_server_info(const ServerInfo& info);

// DERP_OK and *out replaced, or DERP_ERR_BAD_JSON and *out untouched. Same reading rules as decode_client_info.
int decode_server_info(std::string_view json, ServerInfo* out);

}  // namespace derp::crypto
