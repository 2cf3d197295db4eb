/*
 * libderp — the DERP relay server as a sans-IO core, for hosts that own their sockets, TLS and clock.
 *
 * The server never reads a socket, a clock or a thread: the host accepts TCP connections (and terminates TLS if it
 * wants it), feeds each connection the plaintext bytes it reads, writes out what the connection has pending, and
 * passes monotonic time in nanoseconds to every call. One derp_server routes between all its connections.
 *
 * Host loop (what lib/uv does for derp_uv_server, see derp/uv.h):
 *
 *   derp_server_accept(server, &remote, now, &conn)     a transport connection arrived
 *   derp_server_conn_receive(conn, bytes, n, now)       after every read (any split of the stream)
 *   derp_server_conn_output(conn, views, max, &count)   pending output as up to max views: one writev()
 *   derp_server_conn_output_written(conn, n, now)       the transport took n of those bytes (any n up to the sum)
 *   derp_server_conn_deadline(conn)                     arm a timer; when it fires, derp_server_conn_tick(conn, now)
 *   derp_server_conn_state(conn):
 *       DERP_SERVER_CONN_CLOSED   close the transport now, then derp_server_conn_remove(conn, now)
 *       DERP_SERVER_CONN_CLOSING  write out what is pending, then the same
 *   derp_server_next_ready(server, &c)                  after each of the above, until it returns 0: connections
 *                                                       that got output or were closed meanwhile (another client's
 *                                                       packet, a PeerGone, shutdown): write or close them too
 *   the peer closed or the transport failed             derp_server_conn_remove(conn, now)
 *
 * Views from derp_server_conn_output stay valid until the next derp_server_conn_output_written or
 * derp_server_conn_remove on that connection; other calls (even ones queueing more output) do not move them.
 *
 * Threads: a derp_server and all its connections form one unit that one thread drives at a time (calls may move
 * between threads if the host serialises them). Functions that take no server or connection are thread-safe.
 * Callbacks (log, admit) run on the calling thread, inside the call that triggered them; they must not call into
 * the same server.
 *
 * Extensible structs carry struct_size first: derp_server_options_init(opts, sizeof *opts) records it and fills
 * the defaults. The library reads only the fields that fit in struct_size and uses defaults for the rest, so a
 * program built against an older, shorter struct keeps working. New fields are only ever appended.
 */
#ifndef DERP_SERVER_H
#define DERP_SERVER_H

#include "derp/common.h"
#include "derp/hooks.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct derp_server derp_server;
typedef struct derp_server_conn derp_server_conn;

/*
 * Admission (derper -verify-clients): called once the client's ClientInfo box opened, before it is registered.
 * client_key is its public key (32 bytes), remote the address given to derp_server_accept. Return nonzero to
 * admit, 0 to refuse: the connection is then closed without a message, as derper does.
 */
typedef int (*derp_server_admit_fn)(const uint8_t client_key[DERP_KEY_LEN], const derp_addr *remote,
                                    void *user_data);

typedef struct derp_server_options {
  size_t struct_size; /* set by derp_server_options_init */
  /* The server's identity. All zero (default): the library generates a fresh key (derp_server_public_key says
   * which); a server that must keep its identity across restarts passes a stored key (derp/key.h). */
  uint8_t private_key[DERP_KEY_LEN];
  /* A KeepAlive frame every keepalive_ms plus a per-connection jitter in [0, keepalive_jitter_ms). Defaults
   * 60000 and 5000 (Tailscale's server). keepalive_ms must be at least 1. */
  uint32_t keepalive_ms;
  uint32_t keepalive_jitter_ms;
  /* From accept until the ClientInfo frame is handled (HTTP head, ServerKey, ClientInfo). Default 10000; >= 1. */
  uint32_t handshake_timeout_ms;
  /* A connection whose pending output makes no progress for this long is closed (derper -tcp-write-timeout).
   * Default 2000; 0 turns it off. */
  uint32_t write_timeout_ms;
  /* Per-connection send queue, counted separately for disco and other packets (default 32 each); when full, the
   * oldest queued packet of that kind is dropped. >= 1. */
  size_t queue_packets;
  /* Bound on the bytes of queued packets per connection (default 1 MiB); the oldest go first. >= 1. */
  size_t queue_bytes;
  /* Open connections allowed; one more is answered 503 and closed. 0 (default): no limit. */
  size_t max_connections;
  /* Serve DERP on /derp (derper -derp; default 1). 0: /derp answers 404, the plain endpoints keep working. */
  int serve_derp;
  /* The Prometheus page (/debug/varz, /metrics) over HTTP for every client, not only loopback ones (default 0).
   * derp_server_metrics_text works either way. */
  int metrics_for_everyone;
  /* Mesh key, 64 hex digits, NUL-terminated; copied by derp_server_new. A client presenting it may use
   * WatchConns, ClosePeer and ForwardPacket. NULL (default): no mesh. */
  const char *mesh_key;
  /* The root page (derper -home): NULL or "" (a short page about this server; default), "blank", or an
   * http(s):// URL to redirect to. Copied. */
  const char *home;
  /* Seeds the per-connection keep-alive jitter. 0 (default): drawn from the system's randomness. Tests pass a
   * fixed value for reproducible timing. */
  uint64_t random_seed;
  /* Log lines of this server and its connections (keys in their short form). NULL (default): the global sink of
   * derp_set_log. */
  derp_log_fn log;
  /* Admission hook; NULL (default): everyone is admitted. */
  derp_server_admit_fn admit;
  /* Passed to log and admit. */
  void *user_data;
} derp_server_options;

/* Fills *opts with the defaults and records struct_size (pass sizeof *opts). DERP_ERR_INVALID_ARGUMENT for NULL
 * or a struct_size that cannot hold struct_size itself. Thread-safe. */
DERP_EXPORT int derp_server_options_init(derp_server_options *opts, size_t struct_size);

/*
 * Creates a server. opts NULL: the defaults. *out is set on success (NULL otherwise). DERP_ERR_INVALID_ARGUMENT
 * (NULL out, bad struct_size, a zero timeout or queue bound, a mesh key that is not 64 hex digits, a home that is
 * neither "", "blank" nor an http(s):// URL); DERP_ERR_NO_MEMORY; DERP_ERR_CRYPTO_INIT. Thread-safe.
 */
DERP_EXPORT int derp_server_new(const derp_server_options *opts, derp_server **out);

/* Frees the server and every connection still in it (their derp_server_conn handles become invalid; the host
 * closes their transports itself). NULL is fine. Not thread-safe with any other call on this server. */
DERP_EXPORT void derp_server_free(derp_server *server);

/* The server's public key (what clients pin; the ServerKey frame carries it). Not thread-safe with calls that
 * drive this server. */
DERP_EXPORT int derp_server_public_key(const derp_server *server, uint8_t public_key_out[DERP_KEY_LEN]);

/*
 * A new transport connection from remote (any address; it is shown in logs and PeerPresent frames and given to
 * the admission hook). *out is the connection, owned by the server until derp_server_conn_remove. It may already
 * be CLOSING (over max_connections, or shutting down: a 503 answer is pending). DERP_ERR_INVALID_ARGUMENT,
 * DERP_ERR_NO_MEMORY. Same thread rules as the server.
 */
DERP_EXPORT int derp_server_accept(derp_server *server, const derp_addr *remote, uint64_t now_ns,
                                   derp_server_conn **out);

/*
 * Bytes the transport read (plaintext), split anywhere; len 0 is allowed. DERP_OK, or the negative code of the
 * error that closed the connection (the state then says how to close it, derp_server_conn_close_reason why);
 * bytes after the point of closing are ignored. DERP_ERR_INVALID_ARGUMENT for NULL (data may be NULL when len
 * is 0). Same thread rules as the server.
 */
DERP_EXPORT int derp_server_conn_receive(derp_server_conn *conn, const uint8_t *data, size_t len, uint64_t now_ns);

/*
 * The pending output, in order, as up to max views into the connection's buffers; *count says how many were
 * filled (0: nothing pending). The views may cover less than everything pending; after output_written, ask
 * again. They stay valid until the next derp_server_conn_output_written or derp_server_conn_remove on conn.
 * DERP_ERR_INVALID_ARGUMENT for NULL (views may be NULL when max is 0). Same thread rules as the server.
 */
DERP_EXPORT int derp_server_conn_output(derp_server_conn *conn, derp_bytes *views, size_t max, size_t *count);

/* Total bytes pending output (0 when none), whatever the number of views. 0 for NULL. Same thread rules. */
DERP_EXPORT size_t derp_server_conn_output_size(const derp_server_conn *conn);

/* The transport accepted the first n bytes of the pending output. DERP_ERR_INVALID_ARGUMENT when conn is NULL or
 * n exceeds derp_server_conn_output_size. Same thread rules as the server. */
DERP_EXPORT int derp_server_conn_output_written(derp_server_conn *conn, size_t n, uint64_t now_ns);

/* When the host must call derp_server_conn_tick next, in the time base of now_ns; UINT64_MAX: no timer needed
 * (also for NULL). Ask again after every call on the connection. Same thread rules as the server. */
DERP_EXPORT uint64_t derp_server_conn_deadline(const derp_server_conn *conn);

/* The time is now_ns: handshake and write timeouts, keep-alives. Calling it early is harmless. DERP_OK or
 * DERP_ERR_INVALID_ARGUMENT. Same thread rules as the server. */
DERP_EXPORT int derp_server_conn_tick(derp_server_conn *conn, uint64_t now_ns);

/* A connection's state (derp_server_conn_state). */
typedef enum derp_server_conn_state_t {
  DERP_SERVER_CONN_HTTP = 0,      /* reading the HTTP request head */
  DERP_SERVER_CONN_HANDSHAKE = 1, /* ServerKey sent, waiting for ClientInfo */
  DERP_SERVER_CONN_RUNNING = 2,   /* frames both ways */
  DERP_SERVER_CONN_CLOSING = 3,   /* write out what is pending, then close the transport and remove */
  DERP_SERVER_CONN_CLOSED = 4     /* close the transport now (pending output is discarded) and remove */
} derp_server_conn_state_t;

/* A DERP_SERVER_CONN_* value, or DERP_ERR_INVALID_ARGUMENT for NULL. Same thread rules as the server. */
DERP_EXPORT int derp_server_conn_state(const derp_server_conn *conn);

/* Why the connection is closing or closed, as a short fixed sentence ("open" while it is not): static storage.
 * "invalid argument" for NULL. Same thread rules as the server. */
DERP_EXPORT const char *derp_server_conn_close_reason(const derp_server_conn *conn);

/* More about the close when there is more to say (e.g. which frame broke the protocol), else "". Valid until the
 * next call on conn. "" for NULL. Same thread rules as the server. */
DERP_EXPORT const char *derp_server_conn_close_detail(const derp_server_conn *conn);

/* The address given to derp_server_accept. Same thread rules as the server. */
DERP_EXPORT int derp_server_conn_remote(const derp_server_conn *conn, derp_addr *out);

/* The client's public key once the handshake is done: DERP_OK with the key; before that (or for a plain HTTP
 * connection) DERP_ERR_NOT_CONNECTED with zeros. Same thread rules as the server. */
DERP_EXPORT int derp_server_conn_client_key(const derp_server_conn *conn, uint8_t key_out[DERP_KEY_LEN]);

/* The host's own pointer for this connection (e.g. its socket); NULL until set. Same thread rules as the
 * server. */
DERP_EXPORT int derp_server_conn_set_user_data(derp_server_conn *conn, void *user_data);
DERP_EXPORT void *derp_server_conn_user_data(const derp_server_conn *conn);

/*
 * The host closed the transport (after CLOSED/CLOSING, or because the peer went away or the socket failed): the
 * server unregisters the connection and frees it; conn is invalid afterwards. Other connections may get output
 * (PeerGone): drain derp_server_next_ready. DERP_ERR_INVALID_ARGUMENT for NULL. Same thread rules as the server.
 */
DERP_EXPORT int derp_server_conn_remove(derp_server_conn *conn, uint64_t now_ns);

/*
 * One connection that got output or was closed by something other than its own calls since it was last handed
 * out: returns 1 with *out set (write its output, or close it per its state), 0 when there is none (*out NULL).
 * Call until it returns 0 after every accept/receive/output_written/tick/remove/shutdown. A connection is handed
 * out once per change, never after it was removed. DERP_ERR_INVALID_ARGUMENT for NULL. Same thread rules.
 */
DERP_EXPORT int derp_server_next_ready(derp_server *server, derp_server_conn **out);

/*
 * The Prometheus text page (derper's names) into out[0..cap), NUL-terminated. *size_out is always set to the
 * bytes the text needs, NUL included: DERP_ERR_BUFFER_TOO_SMALL when cap is less (out may be NULL with cap 0 to
 * ask). Counters move, so a second call may need a little more. Same thread rules as the server.
 */
DERP_EXPORT int derp_server_metrics_text(const derp_server *server, char *out, size_t cap, size_t *size_out);

/*
 * Graceful shutdown: every DERP client gets a Restarting frame (reconnect after reconnect_in_ms, keep trying for
 * try_for_ms) and is set CLOSING; HTTP connections close; new accepts are answered 503. The affected connections
 * come out of derp_server_next_ready. DERP_ERR_INVALID_ARGUMENT for NULL. Same thread rules as the server.
 */
DERP_EXPORT int derp_server_shutdown(derp_server *server, uint32_t reconnect_in_ms, uint32_t try_for_ms,
                                     uint64_t now_ns);

#ifdef __cplusplus
}
#endif

#endif /* DERP_SERVER_H */
