#include "crypto/sealed_info.hpp"

#include <cstring>
#include <string>
#include <string_view>

#include "derp/common.h"

namespace derp::crypto {

namespace {

Bytes as_bytes(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

std::string_view as_text(const std::vector<std::uint8_t>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

// prefix (0 or 32 bytes, the client key) ‖ box(json) into out.
int seal_payload(const NodePrivate& sender, const NodePublic& recipient, Bytes prefix, const std::string& json,
                 std::size_t max_payload, MutableBytes out, std::size_t* written, const Nonce* fixed_nonce) {
  if (written == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  const std::size_t needed = prefix.size() + sealed_size(json.size());
  if (needed > max_payload) return DERP_ERR_FRAME_TOO_LARGE;
  if (out.size() < needed) {
    *written = needed;
    return DERP_ERR_BUFFER_TOO_SMALL;
  }
  const int rc = seal(sender, recipient, as_bytes(json), out.subspan(prefix.size()), fixed_nonce);
  if (rc != DERP_OK) return rc;
  if (!prefix.empty()) std::memcpy(out.data(), prefix.data(), prefix.size());
  *written = needed;
  return DERP_OK;
}

int seal_payload_vector(const NodePrivate& sender, const NodePublic& recipient, Bytes prefix, const std::string& json,
                        std::size_t max_payload, std::vector<std::uint8_t>* out, const Nonce* fixed_nonce) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  out->resize(prefix.size() + sealed_size(json.size()));
  std::size_t written = 0;
  const int rc = seal_payload(sender, recipient, prefix, json, max_payload, MutableBytes(*out), &written,
                              fixed_nonce);
  if (rc != DERP_OK) out->clear();
  return rc;
}

}  // namespace

int seal_client_info(const NodePrivate& client, const NodePublic& server, const ClientInfo& info, MutableBytes out,
                     std::size_t* written, const Nonce* fixed_nonce) {
  NodePublic client_public;
  if (const int rc = public_of(client, &client_public); rc != DERP_OK) return rc;
  return seal_payload(client, server, client_public.bytes(), encode_client_info(info), kClientInfoMaxPayload, out,
                      written, fixed_nonce);
}

int seal_client_info(const NodePrivate& client, const NodePublic& server, const ClientInfo& info,
                     std::vector<std::uint8_t>* out, const Nonce* fixed_nonce) {
  NodePublic client_public;
  if (const int rc = public_of(client, &client_public); rc != DERP_OK) return rc;
  return seal_payload_vector(client, server, client_public.bytes(), encode_client_info(info), kClientInfoMaxPayload,
                             out, fixed_nonce);
}

int open_client_info(const NodePrivate& server, Bytes payload, NodePublic* client, ClientInfo* info) {
  if (client == nullptr || info == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (payload.size() < kClientInfoMinPayload) return DERP_ERR_MALFORMED;
  if (payload.size() > kClientInfoMaxPayload) return DERP_ERR_FRAME_TOO_LARGE;
  const NodePublic sender = NodePublic::from_raw(payload.data());
  std::vector<std::uint8_t> json;
  if (const int rc = open(server, sender, payload.subspan(kKeyLen), &json); rc != DERP_OK) return rc;
  ClientInfo decoded;
  if (const int rc = decode_client_info(as_text(json), &decoded); rc != DERP_OK) return rc;
  *client = sender;
  *info = std::move(decoded);
  return DERP_OK;
}

int seal_server_info(const NodePrivate& server, const NodePublic& client, const ServerInfo& info, MutableBytes out,
                     std::size_t* written, const Nonce* fixed_nonce) {
  return seal_payload(server, client, {}, encode_server_info(info), kServerInfoMaxPayload, out, written,
                      fixed_nonce);
}

int seal_server_info(const NodePrivate& server, const NodePublic& client, const ServerInfo& info,
                     std::vector<std::uint8_t>* out, const Nonce* fixed_nonce) {
  return seal_payload_vector(server, client, {}, encode_server_info(info), kServerInfoMaxPayload, out, fixed_nonce);
}

int open_server_info(const NodePrivate& client, const NodePublic& server, Bytes payload, ServerInfo* info) {
  if (info == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if (payload.size() < kServerInfoMinPayload) return DERP_ERR_MALFORMED;
  if (payload.size() > kServerInfoMaxPayload) return DERP_ERR_FRAME_TOO_LARGE;
  std::vector<std::uint8_t> json;
  if (const int rc = open(client, server, payload, &json); rc != DERP_OK) return rc;
  return decode_server_info(as_text(json), info);
}

}  // namespace derp::crypto
