// C entry points for the ClientInfo / ServerInfo payloads (include/derp/info.h), including the struct_size shim:
// only members that lie inside the caller's struct_size are read or written.
#include "derp/info.h"

#include <cstddef>
#include <cstring>
#include <string_view>

#include "capi/guard.hpp"
#include "crypto/sealed_info.hpp"
#include "derp/frame.h"

namespace {

using derp::crypto::ClientInfo;
using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;
using derp::crypto::ServerInfo;

// Whether member `field` of `type` lies entirely inside the first `size` bytes the caller declared.
#define DERP_MEMBER_FITS_(type, field, size) (offsetof(type, field) + sizeof(type::field) <= (size))

// ---- the PAYLOAD_MAX promises in info.h ----------------------------------------------------------------------
// The longest JSON each struct can produce: Go-style escaping writes at most 6 bytes per input byte.
constexpr std::size_t kMaxEscaped(std::size_t bytes) { return 6 * bytes; }
constexpr std::size_t kLongestInt = 11;    // -2147483648
constexpr std::size_t kLongestInt64 = 20;  // -9223372036854775808
constexpr std::size_t kClientJsonMax =
    std::string_view(R"({"version":,"meshKey":"","CanAckPings":false,"IsProber":true,"AppName":""})").size() +
    kLongestInt + kMaxEscaped(DERP_MESH_KEY_TEXT_LEN - 1) + kMaxEscaped(DERP_APP_NAME_CAP - 1);
constexpr std::size_t kServerJsonMax =
    std::string_view(R"({"version":,"TokenBucketBytesPerSecond":,"TokenBucketBytesBurst":})").size() + kLongestInt +
    2 * kLongestInt64;
static_assert(derp::crypto::kKeyLen + derp::crypto::sealed_size(kClientJsonMax) <= DERP_CLIENT_INFO_PAYLOAD_MAX);
static_assert(derp::crypto::sealed_size(kServerJsonMax) <= DERP_SERVER_INFO_PAYLOAD_MAX);

// The frame module declares the same protocol numbers; one list must not drift from the other.
static_assert(DERP_PROTOCOL_VERSION == derp::crypto::kInfoProtocolVersion);
static_assert(DERP_MAX_CLIENT_INFO_LEN == derp::crypto::kClientInfoMaxPayload);
static_assert(DERP_MAX_SERVER_INFO_LEN == derp::crypto::kServerInfoMaxPayload);

// The text of a fixed char array, which must hold a NUL; false when it does not.
bool c_string_in(const char* array, std::size_t cap, std::string_view* out) {
  const void* nul = std::memchr(array, '\0', cap);
  if (nul == nullptr) return false;
  *out = std::string_view(array, static_cast<std::size_t>(static_cast<const char*>(nul) - array));
  return true;
}

// Copies s into a fixed array with a NUL, cut at a UTF-8 character boundary when too long. Returns whether a C
// reader sees all of s: false when it was cut or holds a NUL byte of its own.
bool copy_c_string(std::string_view s, char* dst, std::size_t cap) {
  std::size_t n = s.size();
  if (n > cap - 1) {
    n = cap - 1;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // s[n] continues a character
  }
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
  return n == s.size() && s.find('\0') == std::string_view::npos;
}

bool struct_size_ok(std::size_t struct_size) { return struct_size >= sizeof(std::size_t); }

// ---- derp_client_info <-> ClientInfo -------------------------------------------------------------------------

int read_client_info(const derp_client_info& c, ClientInfo* out) {
  const std::size_t size = c.struct_size;
  ClientInfo info;
  // Members an older caller does not have take the defaults derp_client_info_init would have given them.
  info.version = DERP_MEMBER_FITS_(derp_client_info, version, size) ? c.version : derp::crypto::kInfoProtocolVersion;
  info.can_ack_pings = DERP_MEMBER_FITS_(derp_client_info, can_ack_pings, size) ? c.can_ack_pings != 0 : true;
  info.is_prober = DERP_MEMBER_FITS_(derp_client_info, is_prober, size) && c.is_prober != 0;
  std::string_view text;
  if (DERP_MEMBER_FITS_(derp_client_info, mesh_key, size)) {
    if (!c_string_in(c.mesh_key, sizeof c.mesh_key, &text)) return DERP_ERR_INVALID_ARGUMENT;
    if (!text.empty()) info.mesh_key = std::string(text);
  }
  if (DERP_MEMBER_FITS_(derp_client_info, app_name, size)) {
    if (!c_string_in(c.app_name, sizeof c.app_name, &text)) return DERP_ERR_INVALID_ARGUMENT;
    info.app_name = std::string(text);
  }
  *out = std::move(info);
  return DERP_OK;
}

void write_client_info(const ClientInfo& info, derp_client_info* c) {
  const std::size_t size = c->struct_size;
  if (DERP_MEMBER_FITS_(derp_client_info, version, size)) c->version = info.version;
  if (DERP_MEMBER_FITS_(derp_client_info, can_ack_pings, size)) c->can_ack_pings = info.can_ack_pings ? 1 : 0;
  if (DERP_MEMBER_FITS_(derp_client_info, is_prober, size)) c->is_prober = info.is_prober ? 1 : 0;
  if (DERP_MEMBER_FITS_(derp_client_info, has_mesh_key, size)) c->has_mesh_key = info.mesh_key ? 1 : 0;
  if (DERP_MEMBER_FITS_(derp_client_info, mesh_key, size)) {
    const bool whole = copy_c_string(info.mesh_key.value_or(""), c->mesh_key, sizeof c->mesh_key);
    if (DERP_MEMBER_FITS_(derp_client_info, mesh_key_truncated, size)) c->mesh_key_truncated = whole ? 0 : 1;
  }
  if (DERP_MEMBER_FITS_(derp_client_info, app_name, size)) {
    const bool whole = copy_c_string(info.app_name, c->app_name, sizeof c->app_name);
    if (DERP_MEMBER_FITS_(derp_client_info, app_name_truncated, size)) c->app_name_truncated = whole ? 0 : 1;
  }
}

// ---- derp_server_info <-> ServerInfo -------------------------------------------------------------------------

ServerInfo read_server_info(const derp_server_info& c) {
  const std::size_t size = c.struct_size;
  ServerInfo info;
  info.version = DERP_MEMBER_FITS_(derp_server_info, version, size) ? c.version : derp::crypto::kInfoProtocolVersion;
  if (DERP_MEMBER_FITS_(derp_server_info, token_bucket_bytes_per_second, size)) {
    info.token_bucket_bytes_per_second = c.token_bucket_bytes_per_second;
  }
  if (DERP_MEMBER_FITS_(derp_server_info, token_bucket_bytes_burst, size)) {
    info.token_bucket_bytes_burst = c.token_bucket_bytes_burst;
  }
  return info;
}

void write_server_info(const ServerInfo& info, derp_server_info* c) {
  const std::size_t size = c->struct_size;
  if (DERP_MEMBER_FITS_(derp_server_info, version, size)) c->version = info.version;
  if (DERP_MEMBER_FITS_(derp_server_info, token_bucket_bytes_per_second, size)) {
    c->token_bucket_bytes_per_second = info.token_bucket_bytes_per_second;
  }
  if (DERP_MEMBER_FITS_(derp_server_info, token_bucket_bytes_burst, size)) {
    c->token_bucket_bytes_burst = info.token_bucket_bytes_burst;
  }
}

// Common checks of the seal functions' buffer arguments; a NULL out is allowed only with out_cap 0 (a size query).
bool seal_buffers_ok(const std::uint8_t* out, std::size_t out_cap, const std::size_t* out_len) {
  return out_len != nullptr && (out != nullptr || out_cap == 0);
}

const derp::crypto::Nonce* optional_nonce(const std::uint8_t* nonce, derp::crypto::Nonce* storage) {
  if (nonce == nullptr) return nullptr;
  std::memcpy(storage->data(), nonce, storage->size());
  return storage;
}

}  // namespace

extern "C" {

int derp_client_info_init(derp_client_info* info, size_t struct_size) {
  return derp::capi::guarded([&]() -> int {
    if (info == nullptr || !struct_size_ok(struct_size)) return DERP_ERR_INVALID_ARGUMENT;
    std::memset(static_cast<void*>(info), 0, struct_size);
    info->struct_size = struct_size;
    if (DERP_MEMBER_FITS_(derp_client_info, version, struct_size)) info->version = derp::crypto::kInfoProtocolVersion;
    if (DERP_MEMBER_FITS_(derp_client_info, can_ack_pings, struct_size)) info->can_ack_pings = 1;
    return DERP_OK;
  });
}

int derp_server_info_init(derp_server_info* info, size_t struct_size) {
  return derp::capi::guarded([&]() -> int {
    if (info == nullptr || !struct_size_ok(struct_size)) return DERP_ERR_INVALID_ARGUMENT;
    std::memset(static_cast<void*>(info), 0, struct_size);
    info->struct_size = struct_size;
    if (DERP_MEMBER_FITS_(derp_server_info, version, struct_size)) info->version = derp::crypto::kInfoProtocolVersion;
    return DERP_OK;
  });
}

int derp_client_info_seal(const uint8_t client_private[32], const uint8_t server_public[32],
                          const derp_client_info* info, const uint8_t* nonce, uint8_t* out, size_t out_cap,
                          size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    if (client_private == nullptr || server_public == nullptr || info == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    if (!struct_size_ok(info->struct_size) || !seal_buffers_ok(out, out_cap, out_len)) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    ClientInfo ci;
    if (const int rc = read_client_info(*info, &ci); rc != DERP_OK) return rc;
    derp::crypto::Nonce storage;
    std::size_t written = 0;
    const int rc = derp::crypto::seal_client_info(NodePrivate::from_raw(client_private),
                                                  NodePublic::from_raw(server_public), ci,
                                                  derp::MutableBytes(out, out_cap), &written,
                                                  optional_nonce(nonce, &storage));
    if (rc == DERP_OK || rc == DERP_ERR_BUFFER_TOO_SMALL) *out_len = written;
    return rc;
  });
}

int derp_client_info_open(const uint8_t server_private[32], const uint8_t* payload, size_t payload_len,
                          uint8_t client_public_out[32], derp_client_info* info_out) {
  return derp::capi::guarded([&]() -> int {
    if (server_private == nullptr || client_public_out == nullptr || info_out == nullptr) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    if ((payload == nullptr && payload_len != 0) || !struct_size_ok(info_out->struct_size)) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    NodePublic client;
    ClientInfo info;
    const int rc = derp::crypto::open_client_info(NodePrivate::from_raw(server_private),
                                                  derp::Bytes(payload, payload_len), &client, &info);
    if (rc != DERP_OK) return rc;
    std::memcpy(client_public_out, client.data(), DERP_KEY_LEN);
    write_client_info(info, info_out);
    return DERP_OK;
  });
}

int derp_server_info_seal(const uint8_t server_private[32], const uint8_t client_public[32],
                          const derp_server_info* info, const uint8_t* nonce, uint8_t* out, size_t out_cap,
                          size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    if (server_private == nullptr || client_public == nullptr || info == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    if (!struct_size_ok(info->struct_size) || !seal_buffers_ok(out, out_cap, out_len)) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    derp::crypto::Nonce storage;
    std::size_t written = 0;
    const int rc = derp::crypto::seal_server_info(NodePrivate::from_raw(server_private),
                                                  NodePublic::from_raw(client_public), read_server_info(*info),
                                                  derp::MutableBytes(out, out_cap), &written,
                                                  optional_nonce(nonce, &storage));
    if (rc == DERP_OK || rc == DERP_ERR_BUFFER_TOO_SMALL) *out_len = written;
    return rc;
  });
}

int derp_server_info_open(const uint8_t client_private[32], const uint8_t server_public[32], const uint8_t* payload,
                          size_t payload_len, derp_server_info* info_out) {
  return derp::capi::guarded([&]() -> int {
    if (client_private == nullptr || server_public == nullptr || info_out == nullptr) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    if ((payload == nullptr && payload_len != 0) || !struct_size_ok(info_out->struct_size)) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    ServerInfo info;
    const int rc = derp::crypto::open_server_info(NodePrivate::from_raw(client_private),
                                                  NodePublic::from_raw(server_public),
                                                  derp::Bytes(payload, payload_len), &info);
    if (rc != DERP_OK) return rc;
    write_server_info(info, info_out);
    return DERP_OK;
  });
}

}  // extern "C"
