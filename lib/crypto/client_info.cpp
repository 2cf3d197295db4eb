#include "crypto/client_info.hpp"

#include "crypto/go_json_read.hpp"
#include "crypto/go_json_write.hpp"
#include "derp/common.h"

namespace derp::crypto {

namespace {
// JSON names from the struct tags in derp/derp_client.go: two lowercase by tag, the rest Go field names.
constexpr std::string_view kVersion = "version";
constexpr std::string_view kMeshKey = "meshKey";
constexpr std::string_view kCanAckPings = "CanAckPings";
constexpr std::string_view kIsProber = "IsProber";
constexpr std::string_view kAppName = "AppName";
}  // namespace

std::string encode_client_info(const ClientInfo& info) {
  gojson::ObjectWriter w;
  if (info.version != 0) w.add_int(kVersion, info.version);
  if (info.mesh_key && !info.mesh_key->empty()) w.add_string(kMeshKey, *info.mesh_key);
  w.add_bool(kCanAckPings, info.can_ack_pings);
  if (info.is_prober) w.add_bool(kIsProber, true);
  if (!info.app_name.empty()) w.add_string(kAppName, info.app_name);
  return std::move(w).finish();
}

int decode_client_info(std::string_view json, ClientInfo* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  ClientInfo info;
  const int rc = gojson::read_object(json, [&info](std::string_view key, const gojson::Value& value) {
    if (gojson::key_matches(key, kVersion)) return gojson::as_int(value, &info.version);
    if (gojson::key_matches(key, kMeshKey)) {
      // Go's key.DERPMesh is called for null too and refuses it like "": read null as present and empty, so the
      // server can refuse both (client_info.hpp).
      if (value.kind == gojson::Value::Kind::kNull) {
        info.mesh_key = std::string();
        return true;
      }
      std::string mesh_key;
      if (!gojson::as_string(value, &mesh_key)) return false;
      info.mesh_key = std::move(mesh_key);
      return true;
    }
    if (gojson::key_matches(key, kCanAckPings)) return gojson::as_bool(value, &info.can_ack_pings);
    if (gojson::key_matches(key, kIsProber)) return gojson::as_bool(value, &info.is_prober);
    if (gojson::key_matches(key, kAppName)) return gojson::as_string(value, &info.app_name);
    return true;  // unknown field: ignored, like Go
  });
  if (rc == DERP_OK) *out = std::move(info);
  return rc;
}

}  // namespace derp::crypto
