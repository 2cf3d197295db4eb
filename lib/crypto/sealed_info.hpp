// ClientInfo and ServerInfo frame payloads: the info JSON sealed in a NaCl box (reference §3). The frame module adds
// the 5-byte frame header; this file knows nothing of it.
//
//   ClientInfo payload = client public key(32) ‖ nonce(24) ‖ MAC(16) ‖ ciphertext   sealed client → server
//   ServerInfo payload =                        nonce(24) ‖ MAC(16) ‖ ciphertext   sealed server → client
//
// Size limits are Go's: the server reads at most 256 KiB of ClientInfo (derp server recvClientKey), the client at
// most 24 + 1 MiB of ServerInfo (derp_client.go parseServerInfo). We refuse to seal what the peer would refuse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bytes.hpp"
#include "crypto/box.hpp"
#include "crypto/client_info.hpp"
#include "crypto/node_key.hpp"
#include "crypto/server_info.hpp"

namespace derp::crypto {

inline constexpr std::size_t kClientInfoMinPayload = kKeyLen + kBoxOverhead;  // 72: key, nonce, MAC, empty text
inline constexpr std::size_t kClientInfoMaxPayload = 256 * 1024;
inline constexpr std::size_t kServerInfoMinPayload = kBoxOverhead;  // 40
inline constexpr std::size_t kServerInfoMaxPayload = kNonceLen + (1u << 20);

// Seals info from client to server into out and sets *written to the payload length. When out is too short:
// DERP_ERR_BUFFER_TOO_SMALL with *written = the length needed. DERP_ERR_FRAME_TOO_LARGE when the payload would
// exceed kClientInfoMaxPayload; seal()'s key errors otherwise.
int seal_client_info(const NodePrivate& client, const NodePublic& server, const ClientInfo& info, MutableBytes out,
                     std::size_t* written, const Nonce* fixed_nonce = nullptr);
int seal_client_info(const NodePrivate& client, const NodePublic& server, const ClientInfo& info,
                     std::vector<std::uint8_t>* out, const Nonce* fixed_nonce = nullptr);

// The server's side. On DERP_OK sets the client's key and its info; on error leaves both untouched:
// DERP_ERR_MALFORMED (< 72 bytes), DERP_ERR_FRAME_TOO_LARGE (> 256 KiB), DERP_ERR_BOX_OPEN, DERP_ERR_BAD_JSON.
int open_client_info(const NodePrivate& server, Bytes payload, NodePublic* client, ClientInfo* info);

// Seals info from server to client; same conventions as seal_client_info (limit kServerInfoMaxPayload).
int seal_server_info(const NodePrivate& server, const NodePublic& client, const ServerInfo& info, MutableBytes out,
                     std::size_t* written, const Nonce* fixed_nonce = nullptr);
int seal_server_info(const NodePrivate& server, const NodePublic& client, const ServerInfo& info,
                     std::vector<std::uint8_t>* out, const Nonce* fixed_nonce = nullptr);

// The client's side: DERP_ERR_MALFORMED (< 40 bytes), DERP_ERR_FRAME_TOO_LARGE (> 24 + 1 MiB), DERP_ERR_BOX_OPEN,
// DERP_ERR_BAD_JSON. *info untouched on error.
int open_server_info(const NodePrivate& client, const NodePublic& server, Bytes payload, ServerInfo* info);

}  // namespace derp::crypto
