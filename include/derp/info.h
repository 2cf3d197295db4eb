/*
 * libderp — the ClientInfo and ServerInfo handshake payloads (reference §3): JSON sealed in a NaCl box.
 *
 *   ClientInfo payload = client public key(32) ‖ nonce(24) ‖ MAC(16) ‖ ciphertext    client → server
 *   ServerInfo payload =                        nonce(24) ‖ MAC(16) ‖ ciphertext    server → client
 *
 * These are frame payloads: the 5-byte DERP frame header is not included. The JSON we write is byte for byte what
 * Tailscale's Go code writes; the JSON we read is read the way Go reads it (keys in any case, unknown fields
 * ignored, null leaves the default, a wrong type is DERP_ERR_BAD_JSON).
 *
 * Versioned structs: the first member is struct_size. derp_*_init(info, sizeof *info) records it and fills the
 * defaults. The library then reads and writes only the members that lie within struct_size, so a program built
 * against an older, smaller struct keeps working with a newer library. New members are only ever appended.
 *
 * Every function here is thread-safe.
 */
#ifndef DERP_INFO_H
#define DERP_INFO_H

#include "derp/common.h"
#include "derp/key.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DERP_MESH_KEY_TEXT_LEN 65 /* a mesh key is 64 hex characters; + NUL */
#define DERP_APP_NAME_CAP 256     /* up to 255 bytes of app name + NUL */

/* Largest payload derp_client_info_seal / derp_server_info_seal can produce from these structs, whatever they
 * hold (every byte escaped the longest way JSON allows). A buffer this size is always enough. */
#define DERP_CLIENT_INFO_PAYLOAD_MAX 2560
#define DERP_SERVER_INFO_PAYLOAD_MAX 256

typedef struct derp_client_info {
  size_t struct_size;     /* set by derp_client_info_init */
  int version;            /* "version": sent when non-zero. Default 2 (what tailscaled sends). */
  int can_ack_pings;      /* "CanAckPings": always sent. Default 1 (tailscaled sends true). */
  int is_prober;          /* "IsProber": sent only when non-zero. Default 0. */
  /* "meshKey". Sealing: sent when mesh_key is not "" (an empty meshKey is never sent: servers reject it).
   * Opening: has_mesh_key is 1 when the member was present, even as "", and mesh_key holds its text;
   * mesh_key_truncated is 1 when the text did not fit (longer than 64 bytes, or holding a NUL byte). */
  int has_mesh_key;
  int mesh_key_truncated;
  char mesh_key[DERP_MESH_KEY_TEXT_LEN];
  /* "AppName": sent when not "". Opening: app_name_truncated is 1 when the name did not fit (cut at a UTF-8
   * character boundary) or held a NUL byte. */
  int app_name_truncated;
  char app_name[DERP_APP_NAME_CAP];
} derp_client_info;

typedef struct derp_server_info {
  size_t struct_size;                     /* set by derp_server_info_init */
  int version;                            /* "version": sent when non-zero. Default 2. */
  int64_t token_bucket_bytes_per_second;  /* "TokenBucketBytesPerSecond": sent when non-zero. Default 0. */
  int64_t token_bucket_bytes_burst;       /* "TokenBucketBytesBurst": sent when non-zero. Default 0. */
} derp_server_info;

/* Zeroes the first struct_size bytes, records struct_size and fills the defaults. Pass sizeof *info.
 * DERP_ERR_INVALID_ARGUMENT when info is NULL or struct_size cannot even hold struct_size itself. */
DERP_EXPORT int derp_client_info_init(derp_client_info *info, size_t struct_size);
DERP_EXPORT int derp_server_info_init(derp_server_info *info, size_t struct_size);

/* Client side: seals info for the server and writes the ClientInfo payload to out (*out_len set). nonce is NULL
 * for a fresh random nonce, which is the only right choice outside tests. DERP_ERR_BUFFER_TOO_SMALL (with *out_len
 * = the size needed; DERP_CLIENT_INFO_PAYLOAD_MAX always suffices); DERP_ERR_INVALID_ARGUMENT for a NULL pointer, a
 * bad struct_size, a mesh_key or app_name without a NUL inside its array, or an unusable key. */
DERP_EXPORT int derp_client_info_seal(const uint8_t client_private[32], const uint8_t server_public[32],
                                      const derp_client_info *info, const uint8_t *nonce, uint8_t *out,
                                      size_t out_cap, size_t *out_len);

/* Server side: opens a ClientInfo payload. On success writes the client's public key and the info (every member
 * within info_out->struct_size, which the caller sets with derp_client_info_init). DERP_ERR_MALFORMED (< 72
 * bytes), DERP_ERR_FRAME_TOO_LARGE (> 256 KiB), DERP_ERR_BOX_OPEN, DERP_ERR_BAD_JSON. */
DERP_EXPORT int derp_client_info_open(const uint8_t server_private[32], const uint8_t *payload, size_t payload_len,
                                      uint8_t client_public_out[32], derp_client_info *info_out);

/* Server side: seals info for the client (see derp_client_info_seal; DERP_SERVER_INFO_PAYLOAD_MAX suffices). */
DERP_EXPORT int derp_server_info_seal(const uint8_t server_private[32], const uint8_t client_public[32],
                                      const derp_server_info *info, const uint8_t *nonce, uint8_t *out,
                                      size_t out_cap, size_t *out_len);

/* Client side: opens a ServerInfo payload from the server. DERP_ERR_MALFORMED (< 40 bytes),
 * DERP_ERR_FRAME_TOO_LARGE (> 24 bytes + 1 MiB), DERP_ERR_BOX_OPEN, DERP_ERR_BAD_JSON. */
DERP_EXPORT int derp_server_info_open(const uint8_t client_private[32], const uint8_t server_public[32],
                                      const uint8_t *payload, size_t payload_len, derp_server_info *info_out);

#ifdef __cplusplus
}
#endif

#endif /* DERP_INFO_H */
