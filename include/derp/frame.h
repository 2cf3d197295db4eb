/*
 * libderp — DERP framing, protocol version 2: frame types, payload layouts, limits, an encoder/decoder for every
 * frame type and an incremental frame reader. Nothing here does I/O or crypto: keys are raw 32-byte arrays and the
 * NaCl boxes inside ClientInfo/ServerInfo are opaque bytes.
 *
 * Wire facts are from Tailscale's derp/derp.go, derp/derp_client.go and derp/derpserver/derpserver.go (see
 * ../shared/reference/derp-protocol.md §2, §3, §9). Every multi-byte integer is big-endian.
 *
 *   frame = type (1 byte) | payload length (uint32 BE, excludes these 5 bytes) | payload
 *
 * Thread-safety: every function here is thread-safe except that one derp_frame_reader must not be used from two
 * threads at once (each reader is independent; use one per connection).
 */
#ifndef DERP_FRAME_H
#define DERP_FRAME_H

#include "derp/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants (derp/derp.go) ---------------------------------------------------------------------------- */

#define DERP_FRAME_HEADER_LEN 5 /* 1 type byte + 4 length bytes */
/* DERP_KEY_LEN, DERP_NONCE_LEN and DERP_BOX_MAC_LEN come from derp/common.h. */
#define DERP_MAX_PACKET_SIZE 65536 /* largest packet inside Send/Recv/ForwardPacket, keys not counted (inclusive) */
#define DERP_PROTOCOL_VERSION 2    /* v2: RecvPacket carries the source key; v1 support left Tailscale in 2020-08 */

/* ServerKey magic: "DERP" followed by U+1F511 (the key emoji) in UTF-8: 44 45 52 50 F0 9F 94 91. */
#define DERP_FRAME_MAGIC "DERP\xF0\x9F\x94\x91"
#define DERP_FRAME_MAGIC_LEN 8

#define DERP_SERVER_KEY_MIN_LEN 40         /* magic + key; a Go client refuses less */
#define DERP_SERVER_KEY_MAX_LEN 1024       /* the Go client reads the greeting with a 1 KiB limit */
#define DERP_MAX_CLIENT_INFO_LEN 262144    /* 256 KiB: the server refuses a longer ClientInfo before opening it */
#define DERP_MAX_INFO_LEN 1048576          /* 1 MiB: the client's limit on the ServerInfo box */
#define DERP_MAX_SERVER_INFO_LEN (DERP_NONCE_LEN + DERP_MAX_INFO_LEN)
#define DERP_PING_DATA_LEN 8    /* the part of a Ping a Pong echoes */
#define DERP_MAX_PING_LEN 1000  /* the server refuses a longer Ping payload ("room for future extensibility") */
#define DERP_RESTARTING_LEN 8   /* two uint32 BE millisecond durations */
#define DERP_PEER_PRESENT_LEN 51 /* what current servers write: key + 16 IP + 2 port + 1 flags */

/* Default largest frame payload a reader accepts: room for the largest legitimate frame, a ServerInfo with a full
 * 1 MiB box plus its nonce, rounded up. A server, whose peers never send ServerInfo, can lower it (e.g. to 65600). */
#define DERP_FRAME_DEFAULT_MAX_LEN (DERP_MAX_INFO_LEN + 64)

/* PeerGone reason byte (derp/derp.go PeerGoneReasonType). */
#define DERP_PEER_GONE_DISCONNECTED 0x00   /* the peer left the server after having sent to you */
#define DERP_PEER_GONE_NOT_HERE 0x01       /* you sent a disco packet to a key the server does not know */
#define DERP_PEER_GONE_MESH_CONN_BROKE 0xF0 /* made up locally by a mesh watcher on reconnect; never on the wire */

/* PeerPresent flag bits (derp/derp.go PeerPresentFlags). A current server always sets at least one bit, sending
 * REGULAR when no other applies; a zero byte means an old server. */
#define DERP_PEER_PRESENT_REGULAR 0x01
#define DERP_PEER_PRESENT_MESH_PEER 0x02
#define DERP_PEER_PRESENT_PROBER 0x04
#define DERP_PEER_PRESENT_NOT_IDEAL 0x08 /* the client sent an Ideal-Node header: this is not its preferred node */

/*
 * ---- the one list of frame types --------------------------------------------------------------------------
 * XX(C_NAME, CxxName, value). The C enum (DERP_FRAME_<C_NAME>), the C++ enum class derp::frame::FrameType
 * (FrameType::CxxName) and derp_frame_type_name() ("CxxName") are generated from it. "S->C" is server to client.
 * Values 0x0B..0x0F are unused. A reader yields unknown types and both Tailscale peers skip them.
 */
#define DERP_FRAME_TYPE_MAP(XX)                                                                                \
  /* ServerKey, S->C, always the first frame. Payload: magic (8) | server public key (32) | future bytes.     \
     40..1024 bytes; bytes past 40 are ignored. Sent even to fast-start clients, who skip it (§1.3, §9.2). */ \
  XX(SERVER_KEY, ServerKey, 0x01)                                                                              \
  /* ClientInfo, C->S, the client's first frame. Payload: client public key (32) | nonce (24) |                \
     box (16-byte tag + ciphertext of the JSON {"version":2,"CanAckPings":...}). At most 256 KiB. */           \
  XX(CLIENT_INFO, ClientInfo, 0x02)                                                                            \
  /* ServerInfo, S->C, answers ClientInfo. Payload: nonce (24) | box (JSON {"version":2}, optional            \
     token-bucket fields). The box is at most 1 MiB. */                                                        \
  XX(SERVER_INFO, ServerInfo, 0x03)                                                                            \
  /* SendPacket, C->S. Payload: destination public key (32) | packet (0..65536 bytes). */                     \
  XX(SEND_PACKET, SendPacket, 0x04)                                                                            \
  /* RecvPacket, S->C. Payload: source public key (32) | packet (0..65536). Protocol v2; v1 (gone since        \
     2020-08) had no source key. Shorter than 32 bytes is malformed. */                                        \
  XX(RECV_PACKET, RecvPacket, 0x05)                                                                            \
  /* KeepAlive, S->C, one-way, no reply. Empty payload. Sent every 60 s plus per-connection jitter. */         \
  XX(KEEP_ALIVE, KeepAlive, 0x06)                                                                              \
  /* NotePreferred, C->S. Payload: exactly 1 byte, 0x01 = this is my home node, 0x00 = not (the server reads  \
     any non-zero value as 0x01). Stats only. Since 2020-03. */                                                \
  XX(NOTE_PREFERRED, NotePreferred, 0x07)                                                                      \
  /* PeerGone, S->C. Payload: peer public key (32) | reason (1, DERP_PEER_GONE_*). The reason byte came in     \
     2023-03: 32 bytes (older servers, Tailscale v1.36 included) mean reason 0x00. Longer is accepted. */      \
  XX(PEER_GONE, PeerGone, 0x08)                                                                                \
  /* PeerPresent, S->C (mesh watchers only). Payload: peer public key (32) [| IP (16, IPv4 as ::ffff:a.b.c.d, \
     zero if unknown) | port (2) [| flags (1, DERP_PEER_PRESENT_*)]]. IP+port since 2023-08, flags since       \
     2024-06. Current servers send 51 bytes (derp.go's comment says 41; it is wrong). Parse by length: 32..49  \
     key only, 50 adds the endpoint, 51+ adds flags; later bytes are ignored (newer servers may append). */    \
  XX(PEER_PRESENT, PeerPresent, 0x09)                                                                          \
  /* ForwardPacket, mesh C->S (needs the mesh key). Payload: source key (32) | destination key (32) |          \
     packet (0..65536). Since 2020-06. */                                                                      \
  XX(FORWARD_PACKET, ForwardPacket, 0x0A)                                                                      \
  /* WatchConns, mesh C->S (needs the mesh key). Empty payload (length must be 0). The server answers with a   \
     PeerPresent per connected peer, then PeerPresent/PeerGone as peers come and go. Since 2020-06. */         \
  XX(WATCH_CONNS, WatchConns, 0x10)                                                                            \
  /* ClosePeer, mesh C->S (needs the mesh key). Payload: exactly the 32-byte key of the peer whose            \
     connections the server must close. Since 2020-06. */                                                      \
  XX(CLOSE_PEER, ClosePeer, 0x11)                                                                              \
  /* Ping, C->S (S->C defined; Tailscale's server never sends it). Payload: 8 bytes of data; the server        \
     accepts 8..1000 and echoes the first 8 in a Pong. Since 2021-03. */                                       \
  XX(PING, Ping, 0x12)                                                                                         \
  /* Pong, either direction. Payload: the 8 data bytes of the Ping it answers (readers take the first 8 of a  \
     longer one). A Tailscale server skips a Pong from a client as an unknown type. */                         \
  XX(PONG, Pong, 0x13)                                                                                         \
  /* Health, S->C. Payload: UTF-8 text describing a problem with this connection; empty = healthy again.       \
     Defined 2021-08; Tailscale's server never sends it; clients must accept it. */                            \
  XX(HEALTH, Health, 0x14)                                                                                     \
  /* Restarting, S->C. Payload: reconnect-in ms (uint32 BE) | try-for ms (uint32 BE), advisory; readers       \
     accept 8 bytes or more. Defined 2021-08; Tailscale's server never sends it. */                            \
  XX(RESTARTING, Restarting, 0x15)

typedef enum derp_frame_type {
#define DERP_FRAME_TYPE_ENUM_(c_name, cxx_name, value) DERP_FRAME_##c_name = (value),
  DERP_FRAME_TYPE_MAP(DERP_FRAME_TYPE_ENUM_)
#undef DERP_FRAME_TYPE_ENUM_
} derp_frame_type;

/* "ServerKey", "SendPacket", ...; "Unknown" for a value not in DERP_FRAME_TYPE_MAP. Static storage. */
DERP_EXPORT const char *derp_frame_type_name(int type);

/* ---- one frame, undecoded ------------------------------------------------------------------------------ */

typedef struct derp_frame {
  uint8_t type;           /* DERP_FRAME_* or an unknown value */
  const uint8_t *payload; /* payload_len bytes; may be NULL when payload_len is 0 */
  size_t payload_len;
} derp_frame;

/* ---- one frame's meaning -------------------------------------------------------------------------------
 * One struct for every frame type; each type uses the fields its comment names and leaves the others zero.
 * Extensible: set struct_size = sizeof(derp_frame_fields) before any call. The library reads and writes only the
 * fields that fit in struct_size, so a program built against an older, shorter struct keeps working; new fields
 * are only ever appended. Pointers point into the decoded frame's payload: valid as long as it is.
 */
typedef struct derp_frame_fields {
  size_t struct_size;
  uint8_t type; /* DERP_FRAME_* */
  /* ServerKey: the server's key. ClientInfo: the client's key. PeerGone, PeerPresent, ClosePeer: the peer. */
  uint8_t key[DERP_KEY_LEN];
  uint8_t dst_key[DERP_KEY_LEN]; /* SendPacket, ForwardPacket */
  uint8_t src_key[DERP_KEY_LEN]; /* RecvPacket, ForwardPacket */
  uint8_t nonce[DERP_NONCE_LEN]; /* ClientInfo, ServerInfo */
  /* SendPacket/RecvPacket/ForwardPacket: the packet. ClientInfo/ServerInfo: the box (tag + ciphertext).
   * Health: the text (not NUL-terminated). Ping/Pong: the whole payload, whose first 8 bytes are the data. */
  const uint8_t *data;
  size_t data_len;
  /* Bytes after the fields this version knows (ServerKey past 40, PeerGone past 33, PeerPresent past 51 or an
   * incomplete endpoint, Restarting past 8). Decoding reports them; encoding appends them. Usually empty. */
  const uint8_t *trailing;
  size_t trailing_len;
  uint8_t reason;     /* PeerGone: DERP_PEER_GONE_* (0 when has_reason is 0) */
  uint8_t has_reason; /* PeerGone: 1 for the 33-byte form (current), 0 for the old 32-byte form */
  uint8_t preferred;  /* NotePreferred: the byte as sent; 1 = home node, 0 = not (any non-zero reads as 1) */
  uint8_t has_endpoint; /* PeerPresent: 1 when the frame carries the peer's IP and port */
  uint8_t has_flags;    /* PeerPresent: 1 when it also carries the flags byte (51+ bytes; what servers send) */
  uint8_t flags;        /* PeerPresent: DERP_PEER_PRESENT_* bits */
  /* PeerPresent: the peer's address as the server saw it; IPv4-mapped IPv6 comes back as IPv4, an all-zero IP
   * ("unknown") as DERP_AF_NONE with the port as sent. */
  derp_addr endpoint;
  uint32_t reconnect_in_ms; /* Restarting: wait this long before reconnecting (may be 0) */
  uint32_t try_for_ms;      /* Restarting: keep trying for this long */
} derp_frame_fields;

/*
 * Decodes frame's payload by its type into *out, checking every size rule of the protocol (see
 * DERP_FRAME_TYPE_MAP). Errors: DERP_ERR_FRAME_SIZE (too short or not an allowed length), DERP_ERR_FRAME_TOO_LARGE
 * (longer than the type allows), DERP_ERR_FRAME_BAD_MAGIC (ServerKey), DERP_ERR_FRAME_TYPE (unknown type),
 * DERP_ERR_INVALID_ARGUMENT (NULL pointers, out->struct_size too small to hold type). *out is written only on
 * success. Thread-safe.
 */
DERP_EXPORT int derp_frame_decode(const derp_frame *frame, derp_frame_fields *out);

/*
 * Writes the whole frame (header and payload) that fields describe into out[0..cap), exactly as Tailscale's
 * current code writes it. *out_len gets the frame's length, also when the result is DERP_ERR_BUFFER_TOO_SMALL
 * (so out = NULL, cap = 0 asks for the size). Refuses out-of-range input: DERP_ERR_FRAME_TOO_LARGE (a packet over
 * DERP_MAX_PACKET_SIZE, a Ping over 1000 bytes, ...), DERP_ERR_FRAME_SIZE (a box shorter than its tag, a Ping or
 * Pong shorter than 8 bytes, trailing bytes the layout cannot carry), DERP_ERR_FRAME_TYPE (unknown type),
 * DERP_ERR_INVALID_ARGUMENT. Thread-safe.
 */
DERP_EXPORT int derp_frame_encode(const derp_frame_fields *fields, uint8_t *out, size_t cap, size_t *out_len);

/*
 * Writes the 5-byte header of a frame of this type whose payload is payload_len bytes, for callers that send the
 * payload from their own buffers. DERP_ERR_FRAME_TOO_LARGE when payload_len exceeds the type's protocol limit
 * (any length up to 2^32-1 for unknown types), DERP_ERR_BUFFER_TOO_SMALL when cap < 5. Thread-safe.
 */
DERP_EXPORT int derp_frame_encode_header(uint8_t type, size_t payload_len, uint8_t *out, size_t cap);

/* ---- incremental reader ------------------------------------------------------------------------------ */

typedef struct derp_frame_reader derp_frame_reader;

typedef struct derp_frame_reader_options {
  size_t struct_size; /* sizeof(derp_frame_reader_options), set by derp_frame_reader_options_init */
  /* Largest payload accepted for any frame, known type or not; default DERP_FRAME_DEFAULT_MAX_LEN. Known types
   * are also held to their own protocol limit. Must be at least 1. */
  uint32_t max_frame_len;
} derp_frame_reader_options;

/* Fills *opts with the defaults and records struct_size (pass sizeof(*opts)). Thread-safe. */
DERP_EXPORT int derp_frame_reader_options_init(derp_frame_reader_options *opts, size_t struct_size);

/* Creates a reader. opts may be NULL for the defaults. *out is set on success. Thread-safe. */
DERP_EXPORT int derp_frame_reader_new(const derp_frame_reader_options *opts, derp_frame_reader **out);

/* Releases a reader (NULL is fine). Not thread-safe with other calls on the same reader. */
DERP_EXPORT void derp_frame_reader_free(derp_frame_reader *reader);

/*
 * Takes bytes of the stream, split anywhere. *consumed says how many of in[0..in_len) were used. Returns:
 *   1  a whole frame is in *frame; feed in[*consumed..] next. The payload stays valid until the next call on this
 *      reader (and, when it points into in, as long as in does): when the reader holds no partial frame and in
 *      already contains the whole frame, frame->payload points into in (no copy).
 *   0  every byte was consumed and the frame is not complete yet.
 *  <0  DERP_ERR_FRAME_TOO_LARGE: the header announced more than the type's protocol limit or max_frame_len
 *      (detected from the 5 header bytes, before any of the payload is buffered); DERP_ERR_NO_MEMORY. The error is
 *      sticky: every later call returns DERP_ERR_FRAME_READER_FAILED until derp_frame_reader_reset.
 * Unknown frame types are returned like known ones; callers skip them. Not thread-safe on one reader.
 */
DERP_EXPORT int derp_frame_reader_next(derp_frame_reader *reader, const uint8_t *in, size_t in_len, size_t *consumed,
                                       derp_frame *frame);

/* Forgets any partial frame and any failure, and releases buffered memory. Not thread-safe on one reader. */
DERP_EXPORT int derp_frame_reader_reset(derp_frame_reader *reader);

#ifdef __cplusplus
}
#endif

#endif /* DERP_FRAME_H */
