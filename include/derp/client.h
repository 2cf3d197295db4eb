/*
 * libderp — DERP clients.
 *
 * Two objects, one event type (names follow the convention in derp/common.h):
 *
 *   derp_client     the sans-IO client (lib/client): the host owns the socket (and TLS, if any), feeds the bytes it
 *                   reads and the monotonic time in nanoseconds, writes what the client has pending, and calls back
 *                   at its deadline. No socket, clock or thread inside. The shape for a game or IoT main loop, or
 *                   a VPN agent with its own event loop.
 *   derp_uv_client  the libuv driver (lib/uv): DNS, TCP, TLS, reconnection with backoff. It runs on a libuv loop
 *                   the host passes in, or on a thread the library starts (derp_uv_client_start_thread), where
 *                   events can also be queued for derp_uv_client_next_event() (the shape for Python).
 *
 * Both take the core's derp_client_options (key, timeouts, on_event) and report the core's derp_client_event and
 * derp_client_stats_t; the driver adds its own derp_uv_client_options (where to dial, reconnection, direct path),
 * as derp_uv_server adds derp_uv_server_options to derp_server_options.
 *
 * Events (derp_client_event) come through a callback with one user_data, synchronously from inside the call that
 * caused them (sans-IO) or on the loop thread (libuv). Pointers inside an event are valid during the callback only.
 * An event handed to a callback is the library's whole struct (struct_size = the library's sizeof): a program built
 * against an older header reads the members it knows, which are a prefix. derp_uv_client_next_event instead writes
 * only min(the caller's struct_size, the library's) bytes into the caller's struct.
 *
 * Versioned structs carry struct_size first; the *_init functions fill defaults and record it. The library reads
 * and writes only the members within struct_size, so a program built against an older header keeps working.
 */
#ifndef DERP_CLIENT_H
#define DERP_CLIENT_H

#include "derp/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s; /* libuv's uv_loop_t; this header does not need <uv.h> */

/* ---- events ------------------------------------------------------------------------------------------------ */

typedef enum derp_client_event_type {
  DERP_CLIENT_EVENT_CONNECTED = 1,    /* ServerKey read, our ClientInfo sent: key = the server's key; sends work
                                         from now on */
  DERP_CLIENT_EVENT_SERVER_INFO = 2,  /* server_version, token_bucket_*. The server sends it once it has registered
                                         us: wait for it (not CONNECTED) before telling peers to send to us */
  DERP_CLIENT_EVENT_PACKET = 3,       /* key = source, data/len = payload */
  DERP_CLIENT_EVENT_PEER_GONE = 4,    /* key = peer, reason = DERP_PEER_GONE_* */
  DERP_CLIENT_EVENT_PEER_PRESENT = 5, /* key = peer, endpoint, flags (mesh watchers only) */
  DERP_CLIENT_EVENT_HEALTH = 6,       /* data/len = problem text (not NUL-terminated); len 0 = healthy again */
  DERP_CLIENT_EVENT_RESTARTING = 7,   /* reconnect_in_ns, try_for_ns */
  DERP_CLIENT_EVENT_PING_RESULT = 8,  /* ping_id, error (DERP_OK, DERP_ERR_TIMEOUT, DERP_ERR_CLOSED), rtt_ns */
  DERP_CLIENT_EVENT_DISCONNECTED = 9, /* derp_uv_client only: error, detail, retry_in_ns (UINT64_MAX: no retry) */
  DERP_CLIENT_EVENT_CLOSED = 10,      /* last event: error (DERP_OK after a close the host asked for), detail */
  /* Since 0.1, derp_uv_client with dial option `direct` only: the peer's path changed. key = peer; via =
     DERP_PATH_DIRECT with endpoint = the peer's ip:port and rtt_ns = the Pong's round trip, or DERP_PATH_DERP. */
  DERP_CLIENT_EVENT_PATH_CHANGED = 11
} derp_client_event_type;

/* derp_client_event.via: the path a PACKET arrived on, or a PATH_CHANGED event's new path. */
#define DERP_PATH_DERP 0
#define DERP_PATH_DIRECT 1

typedef struct derp_client_event {
  size_t struct_size; /* callbacks: the library's size. derp_uv_client_next_event: the caller sets its size before the
                         call (at least up to and including `type`), the library sets the size it filled,
                         min(its size, the caller's) */
  int type;           /* derp_client_event_type */
  uint8_t key[32];
  const uint8_t *data;
  size_t len;
  uint8_t reason; /* PEER_GONE */
  uint8_t flags;  /* PEER_PRESENT */
  derp_addr endpoint;
  uint64_t ping_id;
  int error;
  const char *detail; /* NUL-terminated sentence for logs (DISCONNECTED, CLOSED), else NULL */
  uint64_t rtt_ns;
  uint64_t reconnect_in_ns;
  uint64_t try_for_ns;
  uint64_t retry_in_ns;
  int server_version;
  int64_t token_bucket_bytes_per_second;
  int64_t token_bucket_bytes_burst;
  /* Since 0.1: PACKET: the path it came on (DERP_PATH_DERP, or DERP_PATH_DIRECT with the dial option `direct`);
     PATH_CHANGED: the new path. */
  int via;
} derp_client_event;

/* user_data last, as in every callback of the library. */
typedef void (*derp_client_event_fn)(const derp_client_event *event, void *user_data);

/* "CONNECTED", "PACKET", ...; "UNKNOWN" otherwise. Static storage. Thread-safe. */
DERP_EXPORT const char *derp_client_event_name(int type);

/* ---- options shared by both ---------------------------------------------------------------------------------- */

typedef struct derp_client_options {
  size_t struct_size;
  uint8_t private_key[32]; /* required: all-zero is refused */
  int fast_start;          /* send Derp-Fast-Start: 1 (default 0) */
  int websocket;           /* DERP over WebSocket, subprotocol "derp" (default 0) */
  const char *ideal_node;  /* Ideal-Node header, NULL = none */
  const char *mesh_key;    /* 64 hex; NULL = none (never send "" to a server) */
  int is_prober;           /* IsProber in ClientInfo (default 0) */
  const char *app_name;    /* AppName in ClientInfo, NULL = none */
  uint32_t handshake_timeout_ms;   /* default 10000 */
  uint32_t idle_timeout_ms;        /* nothing received for this long = dead; default 120000; 0 = never */
  uint32_t ping_timeout_ms;        /* default 5000 */
  uint32_t keepalive_ping_after_ms;/* ping when idle this long; default 0 = off */
  size_t max_pending_output;       /* bytes; default 1 MiB */
  int honour_server_rate_limit;    /* default 1 */
  derp_client_event_fn on_event;   /* may be NULL */
  void *user_data;
} derp_client_options;

/* Fills defaults and records struct_size (pass sizeof *opts). DERP_OK or DERP_ERR_INVALID_ARGUMENT. Thread-safe. */
DERP_EXPORT int derp_client_options_init(derp_client_options *opts, size_t struct_size);

/* ---- the sans-IO client ---------------------------------------------------------------------------------------- */

typedef struct derp_client derp_client;

/* derp_client_state()'s values. (The type carries _t because derp_client_state is the getter.) */
typedef enum derp_client_state_t {
  DERP_CLIENT_UPGRADE = 0,    /* waiting for the HTTP 101 (not with fast start) */
  DERP_CLIENT_SERVER_KEY = 1, /* waiting for the ServerKey frame */
  DERP_CLIENT_RUNNING = 2,    /* handshake done */
  DERP_CLIENT_CLOSED = 3      /* close the transport */
} derp_client_state_t;

/*
 * A client of a server whose HTTP Host is `host` ("derp.example.com", "127.0.0.1:3340") and path `path` (NULL =
 * "/derp"). The upgrade request is pending output at once. DERP_OK; DERP_ERR_INVALID_ARGUMENT (NULLs, bad path,
 * zero key, bad struct_size); DERP_ERR_NO_MEMORY.
 *
 * Host loop (the same shape as derp_server_conn's, see derp/server.h):
 *
 *   derp_client_output(client, views, max, &count)   pending output as up to max views: one writev()
 *   derp_client_output_written(client, n, now)       the transport took n of those bytes
 *   derp_client_receive(client, bytes, n, now)       after every read (end of stream: derp_client_receive_eof)
 *   derp_client_deadline(client)                     arm a timer; when it fires, derp_client_tick(client, now)
 *   derp_client_state(client) == DERP_CLIENT_CLOSED  close the transport, then derp_client_free
 *
 * Every call may add output: check it after each. Callbacks run inside the call that caused them; a callback may
 * call commands on the same client (reply to a PACKET with derp_client_send) but must not free it. (Should it
 * call derp_client_free anyway, the library defers the free to the return of the outermost call, which then must
 * not be followed by any use of the client; calls from the callback after that point return DERP_ERR_CLOSED.)
 * Thread-safety: a client is used by one thread at a time (no internal locking); distinct clients are
 * independent. Every function below follows that rule unless it says otherwise.
 */
DERP_EXPORT int derp_client_new(const derp_client_options *opts, const char *host, const char *path,
                                uint64_t now_ns, derp_client **out);
/* Frees the client (NULL is fine). The host closes its transport itself. Not from inside its own callback. */
DERP_EXPORT void derp_client_free(derp_client *client);

/* Bytes read from the transport (data may be NULL when len is 0). DERP_OK or the error the client closed with
 * (state CLOSED, CLOSED event delivered); DERP_ERR_INVALID_ARGUMENT for NULL; DERP_ERR_CLOSED after a deferred
 * free. */
DERP_EXPORT int derp_client_receive(derp_client *client, const uint8_t *data, size_t len, uint64_t now_ns);
/* The transport reached end of stream: the client closes (CLOSED event) unless it already has. DERP_OK;
 * DERP_ERR_INVALID_ARGUMENT for NULL; DERP_ERR_CLOSED after a deferred free. */
DERP_EXPORT int derp_client_receive_eof(derp_client *client, uint64_t now_ns);
/*
 * The pending output, in order, as up to max views into the client's buffer; *count says how many were filled
 * (0: nothing pending). The views stay valid until the next derp_client_output_written (other calls, even ones
 * queueing more output, do not move them); after output_written, ask again. DERP_ERR_INVALID_ARGUMENT for NULL
 * (views may be NULL when max is 0).
 */
DERP_EXPORT int derp_client_output(const derp_client *client, derp_bytes *views, size_t max, size_t *count);
/* Bytes pending in total (what the views of derp_client_output add up to when max is large enough); 0 for NULL. */
DERP_EXPORT size_t derp_client_output_size(const derp_client *client);
/* The transport took the first n bytes of the pending output. DERP_OK; DERP_ERR_INVALID_ARGUMENT for NULL or n
 * larger than derp_client_output_size (a host bug: nothing is consumed); DERP_ERR_CLOSED after a deferred free. */
DERP_EXPORT int derp_client_output_written(derp_client *client, size_t n, uint64_t now_ns);
/* When to call derp_client_tick next; UINT64_MAX = no timer needed (also for NULL). Ask again after every call. */
DERP_EXPORT uint64_t derp_client_deadline(const derp_client *client);
/* The time is now_ns: handshake, idle and ping timeouts, keep-alive pings. Calling it early is harmless. DERP_OK;
 * DERP_ERR_INVALID_ARGUMENT for NULL; DERP_ERR_CLOSED after a deferred free. */
DERP_EXPORT int derp_client_tick(derp_client *client, uint64_t now_ns);
/* A DERP_CLIENT_* state value, or DERP_ERR_INVALID_ARGUMENT for NULL. */
DERP_EXPORT int derp_client_state(const derp_client *client);

/* Commands. DERP_OK; DERP_ERR_NOT_CONNECTED before CONNECTED; DERP_ERR_CLOSED; _send also DERP_ERR_FRAME_TOO_LARGE
 * (> 65536 bytes) and DERP_ERR_QUEUE_FULL (output cap or the server's rate limit; dropped and counted). */
DERP_EXPORT int derp_client_send(derp_client *client, const uint8_t dst[32], const uint8_t *data, size_t len,
                                 uint64_t now_ns);
DERP_EXPORT int derp_client_note_preferred(derp_client *client, int preferred);
/* Pings the server; *id_out (may be NULL) names it in the PING_RESULT event. Also DERP_ERR_QUEUE_FULL (64 pings
 * already outstanding). */
DERP_EXPORT int derp_client_ping(derp_client *client, uint64_t now_ns, uint64_t *id_out);
/* Ends the connection: outstanding pings report DERP_ERR_CLOSED, then CLOSED with DERP_OK, from inside this call.
 * Idempotent (CLOSED comes once; later calls return DERP_OK). Over WebSocket a close frame is left pending, to
 * write before closing. DERP_ERR_INVALID_ARGUMENT for NULL; DERP_ERR_CLOSED after a deferred free. */
DERP_EXPORT int derp_client_close(derp_client *client, uint64_t now_ns);
/* The server's key once CONNECTED (DERP_ERR_NOT_CONNECTED before). */
DERP_EXPORT int derp_client_server_key(const derp_client *client, uint8_t key_out[32]);

/* ---- counters ------------------------------------------------------------------------------------------------ */

typedef struct derp_client_stats_t {
  size_t struct_size;
  uint64_t packets_sent, bytes_sent, packets_received, bytes_received;
  uint64_t packets_dropped_queue_full, packets_dropped_rate_limit, packets_dropped_disconnected;
  uint64_t pings_sent, pongs_matched, server_pings_answered;
  uint64_t connects, disconnects; /* derp_uv_client only */
  /* Since 0.1: PACKET events derp_uv_client_next_event's full queue dropped (derp_uv_client with queue_events only). */
  uint64_t events_dropped;
} derp_client_stats_t;

/* Zeroes *stats and records struct_size (pass sizeof *stats). DERP_OK or DERP_ERR_INVALID_ARGUMENT. Thread-safe. */
DERP_EXPORT int derp_client_stats_init(derp_client_stats_t *stats, size_t struct_size);
/* The sans-IO client's counters into *out, which must have been through derp_client_stats_init (only the members
 * within out->struct_size are written). packets_dropped_disconnected counts sends refused with NOT_CONNECTED or
 * CLOSED; connects is 1 once CONNECTED; disconnects and events_dropped stay 0. Same thread rule as the client. */
DERP_EXPORT int derp_client_stats(const derp_client *client, derp_client_stats_t *out);

/* ---- derp_uv_client: the libuv driver, reconnecting -------------------------------------------------------------- */

typedef struct derp_uv_client derp_uv_client;

typedef struct derp_uv_client_options {
  size_t struct_size;
  const char *url;          /* "https://host[:port]/derp" or "http://..." — or NULL and a DERPMap below */
  const char *derpmap_json; /* Tailscale's DERPMap JSON (fields: see netcheck.h), used with region_id when url is NULL */
  size_t derpmap_len;
  int region_id;
  const char *ca_file;      /* extra PEM roots; NULL = system store only */
  int insecure_skip_verify; /* tests only */
  int reconnect;            /* default 1: redial with jittered backoff; 0: one attempt, CLOSED on loss */
  uint32_t connect_timeout_ms; /* DNS + TCP + TLS + handshake; default 10000 */
  int queue_events;         /* thread mode: queue events for derp_uv_client_next_event instead of (or as well as)
                               calling on_event; default 0 */
  size_t max_queued_events; /* bound on that queue; older PACKET events are dropped and counted beyond it
                               (default 1024) */
  /* Since 0.1: the direct path. Every peer starts on DERP and moves to a direct UDP path when the NATs allow
     (Tailscale's disco: CallMeMaybe over DERP, Ping/Pong over UDP, magicsock's path rules), falling back to DERP
     when it stops answering; PATH_CHANGED events tell the host, and each PACKET carries `via`. One UDP socket
     carries disco, data and the STUN requests that find the public endpoint. Peers learn each other's disco keys
     from a sealed announcement over DERP (docs/disco-announce.md) or from derp_uv_client_set_peer_disco. */
  int direct;                /* default 0 */
  const char *udp_bind;      /* the IPv4 UDP socket's "ip:port"; NULL = "0.0.0.0:0", which also opens an IPv6
                                socket on "[::]:0" when the host has IPv6; an IPv6 literal ("[::1]:0") opens only
                                the IPv6 socket there. STUN goes from the socket of the STUN server's family. */
  const char *stun_server;   /* "host:port", an IP literal or a DNS name (looked up per socket family with
                                getaddrinfo before each STUN round; port 3478 when left out); NULL = the URL's
                                host on port 3478 */
  int seal_direct;           /* default 1: each direct data datagram is sealed (NaCl box, the pair's disco key), so
                                a spoofed or altered UDP packet is dropped; 0: the bytes go on the wire unchanged
                                (as Tailscale sends WireGuard), for payloads that authenticate themselves. Both
                                peers must agree. Data over DERP is never altered. */
  /* Since 0.1 (added after the fields above; older callers' struct_size leaves them NULL): the IPv6 socket. */
  const char *udp_bind6;     /* the IPv6 socket's "[ip]:port"; NULL = "[::]:0" when udp_bind is the IPv4 wildcard
                                (a host without IPv6 then runs IPv4-only), none when udp_bind names an IPv4
                                address; "off" = no IPv6 socket */
  const char *stun_server6;  /* the IPv6 socket's STUN server, in place of stun_server's for that socket: an IPv6
                                literal "[ip]:port" or a DNS name; NULL = stun_server's rule */
} derp_uv_client_options;

/* Fills defaults (reconnect 1, connect_timeout_ms 10000, queue_events 0, max_queued_events 1024, the rest 0/NULL)
 * and records struct_size (pass sizeof *opts). DERP_OK or DERP_ERR_INVALID_ARGUMENT. Thread-safe. */
DERP_EXPORT int derp_uv_client_options_init(derp_uv_client_options *opts, size_t struct_size);

/*
 * Creates a client; dials nothing yet. loop: the host's libuv loop (host-loop mode: call derp_uv_client_start on the
 * loop thread and run the loop), or NULL (thread mode: the library makes a private loop; call
 * derp_uv_client_start_thread). The target is dial->url, or when it is NULL or "" the region region_id (its JSON map
 * key) of the DERPMap in derpmap_json (derpmap_len bytes; 0 = NUL-terminated); DERPMap nodes are dialled over TLS.
 * Both structs are copied (strings too); opts->on_event gets every event on the loop thread. DERP_OK;
 * DERP_ERR_INVALID_ARGUMENT (NULL out/opts/dial, a struct_size too small, zero key, no target, no such region,
 * max_queued_events 0 with queue_events); DERP_ERR_URL; DERP_ERR_BAD_JSON (the DERPMap); DERP_ERR_TLS_CONFIG
 * (ca_file); DERP_ERR_UV_LOOP; DERP_ERR_NO_MEMORY. Why goes to derp_set_log's sink. Thread: host-loop mode, the
 * loop thread (or any while nobody runs the loop); thread mode, any.
 *
 * Events: CONNECTED (key = the server's key) after each handshake; DISCONNECTED (error, detail, retry_in_ns:
 * UINT64_MAX when no redial follows) after a failed dial or a lost connection; CLOSED exactly once, last: after
 * derp_uv_client_stop (error DERP_OK), or by itself when a one-shot client (reconnect 0) failed or lost its connection
 * (error = that DISCONNECTED's error). Nothing follows CLOSED.
 */
DERP_EXPORT int derp_uv_client_new(struct uv_loop_s *loop, const derp_client_options *opts,
                                   const derp_uv_client_options *dial, derp_uv_client **out);
/* Host-loop mode: starts dialling on the host's loop, and records the calling thread as the loop thread. Call it
 * on the loop thread. DERP_OK; DERP_ERR_UV_STATE (already started or stopped, or a thread-mode client). */
DERP_EXPORT int derp_uv_client_start(derp_uv_client *client);
/* Thread mode: starts a library thread running the client's private loop; dialling begins there. Call once; any
 * thread. DERP_OK; DERP_ERR_UV_STATE (already started or stopped, or a host-loop client); DERP_ERR_UV_LOOP. */
DERP_EXPORT int derp_uv_client_start_thread(derp_uv_client *client);
/*
 * Sends a packet (at most 65536 bytes) to dst through the server. Thread-safe, either mode. DERP_OK;
 * DERP_ERR_NOT_CONNECTED when the client is known not to be connected (dropped, counted);
 * DERP_ERR_FRAME_TOO_LARGE; DERP_ERR_CLOSED after derp_uv_client_stop or CLOSED; DERP_ERR_INVALID_ARGUMENT.
 * On the loop thread the packet goes to the connection at once, and DERP_ERR_QUEUE_FULL means the connection's
 * output cap or the server's rate limit dropped it. From any other thread it goes through the client's bounded
 * cross-thread queue: DERP_OK means queued, DERP_ERR_QUEUE_FULL that queue is full; a packet the loop then cannot
 * send (the connection was lost meanwhile, its cap) is dropped and counted in the stats, not reported here.
 */
DERP_EXPORT int derp_uv_client_send(derp_uv_client *client, const uint8_t dst[32], const uint8_t *data, size_t len);
/* NotePreferred: sent now when connected and again after every reconnect. DERP_OK; DERP_ERR_CLOSED after stop.
 * Thread mode: thread-safe (from another thread it is posted to the loop thread and DERP_OK means posted).
 * Host-loop mode: the loop thread only (DERP_ERR_UV_STATE from another thread once started). */
DERP_EXPORT int derp_uv_client_note_preferred(derp_uv_client *client, int preferred);
/* Pings the server; *id_out (may be NULL) names it in the PING_RESULT event (error DERP_OK with rtt_ns,
 * DERP_ERR_TIMEOUT, or DERP_ERR_CLOSED when the connection ended first). DERP_ERR_NOT_CONNECTED when known not
 * connected; DERP_ERR_CLOSED after stop. Thread mode: thread-safe; from another thread the ping is posted to the
 * loop thread and whatever fails there (the connection was lost meanwhile: DERP_ERR_NOT_CONNECTED, 64 pings
 * outstanding: DERP_ERR_QUEUE_FULL) comes as that id's PING_RESULT. Host-loop mode: the loop thread only
 * (DERP_ERR_UV_STATE otherwise); errors are returned here. */
DERP_EXPORT int derp_uv_client_ping(derp_uv_client *client, uint64_t *id_out);
/*
 * With queue_events (meant for thread mode): waits up to timeout_ms (-1 = forever, 0 = poll) for the next event and
 * copies it into *event, with its data copied into buf[0..cap) (event->data points there; detail too, after the
 * data, NUL-terminated: cap must hold len + strlen(detail) + 1). Set event->struct_size to your sizeof first (at
 * least up to `type`); only that much is written. DERP_OK; DERP_ERR_TIMEOUT; DERP_ERR_BUFFER_TOO_SMALL
 * (event->type and event->len = the cap needed are set; the event stays queued); DERP_ERR_CLOSED after the CLOSED
 * event was taken; DERP_ERR_UNSUPPORTED without queue_events; DERP_ERR_INVALID_ARGUMENT. The queue holds at most
 * max_queued_events: beyond it the oldest PACKET event is dropped (the new one when none is queued) and counted in
 * derp_client_stats_t.events_dropped; other events are never dropped (they may exceed the bound). Thread-safe; one
 * consumer at a time is advised. In host-loop mode, waiting on the loop thread only times out.
 */
DERP_EXPORT int derp_uv_client_next_event(derp_uv_client *client, int timeout_ms, derp_client_event *event,
                                          uint8_t *buf, size_t cap);
/*
 * Added after the 0.1.0 ABI baseline (a program that must run on older builds looks it up with dlsym). With
 * queue_events: a file descriptor for an event loop to wait on
 * instead of a thread blocked in derp_uv_client_next_event (asyncio's loop.add_reader, epoll, poll, uv_poll). It is
 * readable exactly while derp_uv_client_next_event would return at once: an event is queued, or the CLOSED event has
 * been taken (from then on every call returns DERP_ERR_CLOSED at once, so stop waiting then). Wait for readable,
 * then call derp_uv_client_next_event with timeout_ms 0 until it returns DERP_ERR_TIMEOUT; the library clears it when
 * the queue empties. Level-triggered: an edge-triggered waiter (EPOLLET) must drain the queue before waiting again.
 * Poll it only: never read, write or close it. The same descriptor on every call (made on the first); it is closed
 * by derp_uv_client_free, so stop polling it before that. Linux: an eventfd; other POSIX systems: a pipe's read end.
 * DERP_OK; DERP_ERR_UNSUPPORTED without queue_events (or on a platform with neither); DERP_ERR_NO_MEMORY when no
 * descriptor is left; DERP_ERR_INVALID_ARGUMENT. Thread-safe.
 */
DERP_EXPORT int derp_uv_client_event_fd(derp_uv_client *client, int *fd_out);
/*
 * The client's counters (out through derp_client_stats_init). packets_* and connects/disconnects cover the
 * client's life; bytes_sent, packets_dropped_rate_limit, pings_sent (keep-alives included), pongs_matched and
 * server_pings_answered add up each connection's core counters as last seen on the loop (at each packet, ping
 * result, stats call, and when it ended), so a lost connection's last moments may be missing.
 * packets_dropped_queue_full includes the cross-thread queue's drops. Thread mode: thread-safe (read on the loop
 * thread, or after it finished). Host-loop mode: the loop thread only (DERP_ERR_UV_STATE otherwise, once started).
 */
DERP_EXPORT int derp_uv_client_stats(derp_uv_client *client, derp_client_stats_t *out);
/* Our public key. Thread-safe. */
DERP_EXPORT int derp_uv_client_public_key(const derp_uv_client *client, uint8_t key_out[32]);
/* Since 0.1, with the dial option `direct`: this client's disco public key (made fresh for each client), for a host
 * that hands disco keys out itself. DERP_OK; DERP_ERR_UNSUPPORTED without `direct`. Thread-safe. */
DERP_EXPORT int derp_uv_client_disco_public_key(const derp_uv_client *client, uint8_t key_out[32]);
/* Since 0.1, with `direct`: the peer's disco key as the host's control plane knows it (then no announcement can
 * replace it). DERP_OK; DERP_ERR_UNSUPPORTED without `direct`; DERP_ERR_INVALID_ARGUMENT; DERP_ERR_CLOSED after
 * stop. Thread mode: thread-safe (posted to the loop thread; DERP_OK means posted). Host-loop mode: the loop
 * thread only (DERP_ERR_UV_STATE otherwise, once started). */
DERP_EXPORT int derp_uv_client_set_peer_disco(derp_uv_client *client, const uint8_t peer[32], const uint8_t disco[32]);
/*
 * Closes the connection and stops; CLOSED (DERP_OK) is the last event. Thread-safe, idempotent.
 *   Thread mode: returns once CLOSED was delivered (queued or called back) and the library's thread has ended.
 *     Called on the library's thread (inside a callback) it only begins the stop and returns DERP_OK at once;
 *     derp_uv_client_free, from another thread, finishes it. Never started: CLOSED comes at once, on this thread.
 *   Host-loop mode: returns at once, from any thread (the loop thread too); the stop and CLOSED happen on the
 *     loop's next iteration, after which the client's handles close and stop keeping the loop alive.
 */
DERP_EXPORT int derp_uv_client_stop(derp_uv_client *client);
/*
 * Frees the client (NULL is fine). Thread mode: any thread but the library's; a client not yet stopped is stopped
 * first, then the thread is joined and the private loop closed. Host-loop mode: the loop thread while it is not
 * inside uv_run, after the loop has run the CLOSED event (typically after uv_run returned). Free closes the handles
 * the client still holds (a stopped client keeps one inactive timer; an unstopped one more, and gets no CLOSED), so
 * run the loop once more (uv_run(loop, UV_RUN_NOWAIT)) before uv_loop_close. No thread may be inside derp_uv_client_next_event. Called from the client's own callback it
 * refuses (logs, frees nothing) instead of crashing.
 */
DERP_EXPORT void derp_uv_client_free(derp_uv_client *client);

#ifdef __cplusplus
}
#endif

#endif /* DERP_CLIENT_H */
