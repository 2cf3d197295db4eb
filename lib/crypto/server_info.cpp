#include "crypto/server_info.hpp"

#include "crypto/go_json_read.hpp"
#include "crypto/go_json_write.hpp"
#include "derp/common.h"

namespace derp::crypto {

namespace {
constexpr std::string_view kVersion = "version";
constexpr std::string_view kRate = "TokenBucketBytesPerSecond";
constexpr std::string_view kBurst = "TokenBucketBytesBurst";
}  // namespace

std::string encode_server_info(const ServerInfo& info) {
  gojson::ObjectWriter w;
  if (info.version != 0) w.add_int(kVersion, info.version);
  if (info.token_bucket_bytes_per_second != 0) w.add_int(kRate, info.token_bucket_bytes_per_second);
  if (info.token_bucket_bytes_burst != 0) w.add_int(kBurst, info.token_bucket_bytes_burst);
  return std::move(w).finish();
}

int decode_server_info(std::string_view json, ServerInfo* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  ServerInfo info;
  const int rc = gojson::read_object(json, [&info](std::string_view key, const gojson::Value& value) {
    if (gojson::key_matches(key, kVersion)) return gojson::as_int(value, &info.version);
    if (gojson::key_matches(key, kRate)) return gojson::as_int64(value, &info.token_bucket_bytes_per_second);
    if (gojson::key_matches(key, kBurst)) return gojson::as_int64(value, &info.token_bucket_bytes_burst);
    return true;
  });
  if (rc == DERP_OK) *out = info;
  return rc;
}

}  // namespace derp::crypto
