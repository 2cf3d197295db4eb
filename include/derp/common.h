/*
 * libderp — common definitions shared by every public header: export macro, version, error codes, addresses.
 *
 * The one dialect of the C API (every header follows it; this is the only place it is written down):
 *
 *   Objects     derp_<object>_* functions act on an opaque derp_<object>. Sans-IO cores (no socket, clock or
 *               thread) have plain names: derp_server (+ derp_server_conn), derp_client. Anything that opens
 *               sockets or runs a loop is a libuv driver named derp_uv_*: derp_uv_server, derp_uv_client,
 *               derp_uv_netcheck_run. A driver reuses its core's types (derp_uv_client takes derp_client_options
 *               and reports derp_client_event and derp_client_stats_t) and adds derp_uv_<object>_options.
 *   Codecs      functions on protocol messages carry the message's name: derp_stun_*, derp_frame_*, derp_box_*,
 *               derp_client_info_* / derp_server_info_* (the ClientInfo / ServerInfo payloads), derp_key_*. No
 *               object has a getter called "info", so derp_client_info_* never reads as one.
 *   Lifetime    derp_<object>_new(..., &out) creates, derp_<object>_free(obj) frees (NULL is fine);
 *               drivers add _start / _start_thread / _stop.
 *   Returns     every function that can fail or acts on an object returns int: 0 (DERP_OK) or a negative
 *               DERP_ERR_* code (derp_strerror() explains it, derp_err_name() names it); outputs go through pointer
 *               parameters, last. Only *_free (void) and pure getters (a deadline, a size, a name) return
 *               something else.
 *   Getters     derp_<object>_<noun>(obj, ...), no _get: derp_client_state, derp_uv_client_stats. A type whose
 *               name a getter takes carries _t (derp_client_state_t, derp_client_stats_t,
 *               derp_server_conn_state_t, derp_netcheck_report_t); setters are derp_<object>_set_<noun>.
 *   Output      a sans-IO object hands out its pending bytes as scatter views (derp_<object>_output(obj, views,
 *               max, &count) + derp_<object>_output_size), valid until the next derp_<object>_output_written.
 *   Callbacks   typedef ... (*derp_<what>_fn)(..., void *user_data): user_data is always the last parameter, and
 *               is given beside the callback (in the same options struct, or the same call).
 *   Options     derp_<object>_options, filled by derp_<object>_options_init(opts, sizeof *opts). Every extensible
 *               struct starts with size_t struct_size; the library reads and writes only the members within it,
 *               so a program built against an older, shorter struct keeps working. New members are appended.
 *   Keys        cross the ABI as 32-byte arrays.
 *   Threads     every function that takes no object is thread-safe (the codecs keep no global state); for the
 *               others each header says.
 */
#ifndef DERP_COMMON_H
#define DERP_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols are hidden by default (-fvisibility=hidden); only what carries DERP_EXPORT is in the ABI. */
#if defined(_WIN32)
#  if defined(DERP_BUILDING_LIBRARY)
#    define DERP_EXPORT __declspec(dllexport)
#  else
#    define DERP_EXPORT
#  endif
#else
#  define DERP_EXPORT __attribute__((visibility("default")))
#endif

/* Same major version, same ABI. The SONAME carries DERP_VERSION_MAJOR. */
#define DERP_VERSION_MAJOR 0
#define DERP_VERSION_MINOR 1
#define DERP_VERSION_PATCH 0
#define DERP_VERSION_STRING "0.1.0"
#define DERP_VERSION_HEX ((DERP_VERSION_MAJOR << 16) | (DERP_VERSION_MINOR << 8) | DERP_VERSION_PATCH)

/* The library's version as DERP_VERSION_HEX computes it, for comparing with the header a program was built with. */
DERP_EXPORT unsigned derp_version(void);
/* The library's version as "MAJOR.MINOR.PATCH". Static storage. */
DERP_EXPORT const char *derp_version_string(void);

/*
 * The one table of error codes: XX(NAME, value, message). Values are part of the ABI and are never reused; gaps
 * leave room per module. Everything else (the enum, derp_strerror, derp_err_name) is generated from it.
 */
#define DERP_ERRNO_MAP(XX)                                                                                       \
  XX(INVALID_ARGUMENT, -1, "invalid argument")                                                                   \
  XX(BUFFER_TOO_SMALL, -2, "output buffer too small")                                                            \
  XX(NO_MEMORY, -3, "out of memory")                                                                             \
  XX(TRUNCATED, -4, "input is truncated")                                                                        \
  XX(MALFORMED, -5, "malformed input")                                                                           \
  XX(UNSUPPORTED, -6, "not supported")                                                                           \
  XX(INTERNAL, -7, "internal error")                                                                             \
  XX(TIMEOUT, -8, "timed out")                                                                                   \
  XX(CLOSED, -9, "the connection or object is closed")                                                           \
  XX(QUEUE_FULL, -10, "output queue is full; the packet was dropped")                                            \
  XX(NOT_CONNECTED, -11, "not connected; the packet was dropped")                                               \
  XX(PEER_CLOSED, -12, "the peer closed the connection")                                                         \
  XX(NOT_STUN, -20, "not a STUN message")                                                                        \
  XX(STUN_UNKNOWN_REQUIRED, -21, "STUN message carries an unknown comprehension-required attribute")            \
  XX(STUN_INTEGRITY, -22, "STUN MESSAGE-INTEGRITY does not match")                                              \
  XX(STUN_FINGERPRINT, -23, "STUN FINGERPRINT does not match")                                                   \
  XX(STUN_NOT_BINDING_REQUEST, -24, "STUN message is not a binding request")                                     \
  XX(STUN_NOT_SUCCESS_RESPONSE, -25, "STUN message is not a binding success response")                           \
  XX(STUN_NO_ADDRESS, -26, "STUN response carries no mapped address")                                            \
  XX(STUN_NO_INTEGRITY, -27, "STUN message has no MESSAGE-INTEGRITY attribute")                                  \
  XX(STUN_WRONG_SOFTWARE, -28, "STUN request does not carry SOFTWARE \"tailnode\" (Tailscale's strict check)")     \
  XX(STUN_NO_FINGERPRINT, -29, "STUN request does not end in a FINGERPRINT attribute")                           \
  XX(FRAME_TOO_LARGE, -40, "DERP frame length exceeds the protocol limit for its type")                          \
  XX(FRAME_SIZE, -41, "DERP frame payload has the wrong size for its type")                                      \
  XX(FRAME_BAD_MAGIC, -42, "DERP server-key frame has the wrong magic")                                          \
  XX(FRAME_TYPE, -43, "DERP frame type is not the one expected here")                                            \
  XX(FRAME_READER_FAILED, -44, "DERP frame reader already failed; the stream cannot be resynchronised")          \
  XX(KEY_PREFIX, -60, "key text has the wrong prefix (expected lowercase \"nodekey:\" or \"privkey:\")")           \
  XX(KEY_LENGTH, -61, "key text must hold exactly 64 hex digits after its prefix")                               \
  XX(KEY_HEX, -62, "key text has a character that is not a hex digit")                                          \
  XX(BOX_OPEN, -63, "NaCl box did not open: wrong key or corrupted data")                                        \
  XX(BAD_JSON, -64, "JSON is malformed or a field has the wrong type")                                           \
  XX(CRYPTO_INIT, -65, "libsodium failed to initialise")                                                         \
  XX(ADDRESS, -80, "address text is not ip:port (IPv6 as [ip]:port)")                                          \
  XX(HTTP_MALFORMED, -100, "HTTP head is malformed")                                                             \
  XX(HTTP_HEAD_TOO_LARGE, -101, "HTTP head is larger than the limit")                                            \
  XX(TLS_HANDSHAKE, -120, "TLS handshake failed")                                                                \
  XX(TLS_CERTIFICATE, -121, "TLS peer certificate rejected (untrusted, wrong name or out of date)")              \
  XX(TLS_PIN_MISMATCH, -122, "TLS peer certificate does not match the sha256-raw pin")                           \
  XX(TLS_CONFIG, -123, "TLS configuration is invalid (certificate, key, CA file or pin)")                        \
  XX(TLS_CLOSED, -124, "TLS connection was closed with close_notify")                                            \
  XX(TLS_PROTOCOL, -125, "TLS record rejected after the handshake (bad record, MAC or alert)")                   \
  XX(TLS_SERVER_NAME, -126, "TLS client asked for a server name (SNI) this server does not serve")              \
  XX(UV_LISTEN, -140, "cannot bind or listen on the address (in use, not local, or not permitted)")              \
  XX(UV_LOOP, -141, "libuv event loop call failed")                                                              \
  XX(UV_STATE, -142, "the server is not in a state that allows this call (already started or stopping)")         \
  XX(DNS, -143, "host name did not resolve")                                                                     \
  XX(CONNECT, -144, "TCP connect failed (refused, unreachable or timed out)")                                    \
  XX(URL, -145, "URL is not http://host[:port]/path or https://host[:port]/path")                                \
  XX(WS_HANDSHAKE, -160, "WebSocket upgrade refused: bad request or 101 reply, or no \"derp\" subprotocol")      \
  XX(WS_PROTOCOL, -161, "WebSocket frame breaks RFC 6455 (reserved bits, opcode, masking or fragmentation)")     \
  XX(WS_TEXT_MESSAGE, -162, "WebSocket text message: DERP travels in binary messages only")                      \
  XX(WS_TOO_LARGE, -163, "WebSocket message payload exceeds the configured bound")                               \
  XX(WS_CLOSED, -164, "WebSocket peer closed with a status other than 1000 or 1001")                             \
  XX(WS_NOT_OPEN, -165, "WebSocket stream is closing, closed or failed: nothing more may be sent")               \
  XX(UPGRADE_REFUSED, -180, "DERP server did not answer the upgrade with 101 Switching Protocols")               \
  XX(SERVER_KEY_MISMATCH, -181, "DERP server's key is not the expected one")                                     \
  XX(PROTOCOL, -182, "DERP server broke the protocol (unexpected or malformed frame)")

typedef enum derp_error {
  DERP_OK = 0,
#define DERP_ERRNO_ENUM_(name, value, message) DERP_ERR_##name = (value),
  DERP_ERRNO_MAP(DERP_ERRNO_ENUM_)
#undef DERP_ERRNO_ENUM_
} derp_error;

/* A human sentence for an error code ("unknown error" for a code not in the table). Static storage. */
DERP_EXPORT const char *derp_strerror(int code);
/* The code's name without prefix, e.g. "FRAME_TOO_LARGE" ("OK" for 0, "UNKNOWN" otherwise). Static storage. */
DERP_EXPORT const char *derp_err_name(int code);

/* Sizes every module shares, defined once. */
#define DERP_KEY_LEN 32   /* a raw Curve25519 key (node keys, the server key) */
#define DERP_NONCE_LEN 24 /* a NaCl box nonce */
#define DERP_BOX_MAC_LEN 16 /* the Poly1305 tag in front of every box's ciphertext */
/* What sealing adds to a plaintext: nonce (24) + MAC (16). Sealed layout: nonce ‖ MAC ‖ ciphertext. */
#define DERP_BOX_SEALED_OVERHEAD (DERP_NONCE_LEN + DERP_BOX_MAC_LEN)

/* Address families for derp_addr.family. */
#define DERP_AF_NONE 0
#define DERP_AF_INET 4
#define DERP_AF_INET6 6

/*
 * An IP address and port, free of any OS socket type so it means the same on every platform and from Python.
 * IPv4 uses ip[0..3]; IPv6 uses all 16 bytes. port is in host byte order.
 */
typedef struct derp_addr {
  uint8_t family; /* DERP_AF_INET, DERP_AF_INET6 or DERP_AF_NONE */
  uint8_t reserved_;
  uint16_t port;
  uint8_t ip[16];
} derp_addr;

/* Longest text derp_addr_format writes, NUL included: "[" + 45-char IPv6 + "]:" + 5 digits + NUL. */
#define DERP_ADDR_TEXT_MAX 56

/* Parses "1.2.3.4:5" or "[2001:db8::1]:5". DERP_ERR_ADDRESS when it is neither. */
DERP_EXPORT int derp_addr_parse(const char *text, derp_addr *out);
/* Writes "1.2.3.4:5" or "[2001:db8::1]:5" with a NUL. DERP_ERR_BUFFER_TOO_SMALL when cap is short. */
DERP_EXPORT int derp_addr_format(const derp_addr *addr, char *out, size_t cap);

/*
 * A read-only view of bytes the library owns, for scatter/gather output (one writev() / uv_write() of several
 * views). Valid until the call the producing function names (e.g. derp_server_conn_output_written).
 */
typedef struct derp_bytes {
  const uint8_t *data;
  size_t len;
} derp_bytes;

/* Log levels, as every log callback and derp_set_log (derp/hooks.h) receive them. Higher is more severe. */
typedef enum derp_log_level {
  DERP_LOG_DEBUG = 0,
  DERP_LOG_INFO = 1,
  DERP_LOG_WARN = 2,
  DERP_LOG_ERROR = 3
} derp_log_level;

#ifdef __cplusplus
}
#endif

#endif /* DERP_COMMON_H */
