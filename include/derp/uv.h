/*
 * libderp — a ready-made DERP + STUN server on libuv: TCP listener (plain HTTP or TLS), STUN over UDP, graceful
 * shutdown. Two ways to run it:
 *
 *   host loop     derp_uv_server_new(my_loop, &opts, &s); derp_uv_server_start(s); ... uv_run(my_loop, ...);
 *                 Everything runs on the thread that runs my_loop. When the server has stopped and its handles are
 *                 closed, it no longer keeps the loop alive.
 *   own thread    derp_uv_server_new(NULL, &opts, &s); derp_uv_server_start_thread(s); ... derp_uv_server_stop(s);
 *                 The library runs a loop on a thread of its own; the host only calls the thread-safe functions.
 *
 * This header does not include <uv.h>: a loop is passed as struct uv_loop_s * (libuv's uv_loop_t). Hosts that
 * never touch libuv pass NULL.
 *
 * Threads, per function below. Callbacks of the embedded derp_server_options (log, admit) run on the loop's
 * thread (the library's thread in thread mode).
 *
 * Extensible structs carry struct_size first (see derp/server.h); derp_uv_server_options_init fills the defaults.
 */
#ifndef DERP_UV_H
#define DERP_UV_H

#include "derp/common.h"
#include "derp/server.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s;

typedef struct derp_uv_server derp_uv_server;

/* How the TCP listener speaks (derp_uv_server_options.tls_mode). */
typedef enum derp_uv_tls_mode {
  DERP_UV_TLS_OFF = 0,         /* plain HTTP (default); the client URL is http:// */
  DERP_UV_TLS_PEM_FILES = 1,   /* tls_cert_file (PEM chain, leaf first) and tls_key_file (PEM key) */
  DERP_UV_TLS_MANUAL_DIR = 2,  /* derper -certmode manual: <tls_cert_dir>/<tls_hostname>.crt and .key; when the
                                  host name is an IP and the files are missing, a self-signed certificate is made
                                  and saved there (key mode 0600), so restarts keep the same pin */
  DERP_UV_TLS_SELF_SIGNED = 3  /* a fresh in-memory self-signed certificate for the IP tls_hostname (tests,
                                  throw-away servers; the pin changes every run). DNS names are not supported:
                                  use MANUAL_DIR with your own files */
} derp_uv_tls_mode;

typedef struct derp_uv_server_options {
  size_t struct_size; /* set by derp_uv_server_options_init */
  /* The relay core's options (key, timeouts, queues, mesh key, log and admit callbacks), by pointer so both
   * structs can grow on their own. NULL (default): derp_server_options defaults, a fresh key. Copied by
   * derp_uv_server_new. */
  const derp_server_options *server;
  /* TCP listen address in derper's -a form: "ip:port", "[ip6]:port" or ":port" (every address). Port 0 picks a
   * free port (derp_uv_server_derp_address tells which). Default "127.0.0.1:0". */
  const char *listen;
  /* UDP address of the STUN responder, same forms. NULL or "" (default): no STUN. */
  const char *stun_listen;
  int tls_mode;               /* derp_uv_tls_mode; default DERP_UV_TLS_OFF */
  const char *tls_cert_file;  /* PEM_FILES */
  const char *tls_key_file;   /* PEM_FILES */
  /* MANUAL_DIR and SELF_SIGNED: the name the certificate is for (an IP for SELF_SIGNED). PEM_FILES: optional;
   * when set to a DNS name, clients asking for another name (SNI) are refused. Also the host of the URL
   * derp_uv_server_url gives. */
  const char *tls_hostname;
  const char *tls_cert_dir;   /* MANUAL_DIR */
  /* Accepted connections per second and burst (derper -accept-connection-limit / -burst). rate <= 0 (default 0):
   * no limit. */
  double accept_rate;
  uint64_t accept_burst;
  /* derp_uv_server_stop: clients get a Restarting frame asking them to come back after reconnect_in_ms (default
   * 2000) and keep trying for try_for_ms (default 30000), as derper asks; they have shutdown_grace_ms (default
   * 2000) to drain before the rest is closed. */
  uint32_t restart_reconnect_in_ms;
  uint32_t restart_try_for_ms;
  uint32_t shutdown_grace_ms;
} derp_uv_server_options;

/* Fills *opts with the defaults and records struct_size (pass sizeof *opts). DERP_ERR_INVALID_ARGUMENT for NULL
 * or a struct_size that cannot hold struct_size itself. Thread-safe. */
DERP_EXPORT int derp_uv_server_options_init(derp_uv_server_options *opts, size_t struct_size);

/*
 * Creates a server; binds nothing yet. loop: the host's libuv loop (struct uv_loop_s * is uv_loop_t *), or NULL
 * for a loop the library makes and owns (then only derp_uv_server_start_thread can run it). Reads every TLS file
 * now. *out is set on success. DERP_ERR_INVALID_ARGUMENT (NULL out, bad struct_size, bad derp_server_options, a
 * TLS mode without its fields); DERP_ERR_ADDRESS (listen or stun_listen); DERP_ERR_TLS_CONFIG (certificate or
 * key unusable: the reason goes to the log); DERP_ERR_UV_LOOP; DERP_ERR_NO_MEMORY. Thread: with a host loop, the
 * loop's thread (or any thread while nobody runs it); with NULL, any.
 */
DERP_EXPORT int derp_uv_server_new(struct uv_loop_s *loop, const derp_uv_server_options *opts,
                                   derp_uv_server **out);

/*
 * Host-loop mode: binds TCP (and UDP for STUN) and starts accepting on the host's loop; the host runs the loop.
 * On failure nothing stays bound. DERP_ERR_UV_LISTEN (address in use or not local: the log says which);
 * DERP_ERR_UV_STATE (already started or stopped, or the server was made with a NULL loop). Thread: the loop's,
 * or any thread while nobody runs it.
 */
DERP_EXPORT int derp_uv_server_start(derp_uv_server *server);

/*
 * Thread mode: binds as derp_uv_server_start does (errors are returned here, synchronously), then runs the loop
 * on a thread of the library's until derp_uv_server_stop. With a host loop, the host must not run that loop
 * itself until stop returns. DERP_ERR_UV_LISTEN, DERP_ERR_UV_STATE, DERP_ERR_NO_MEMORY (no thread). Thread: any,
 * while nobody runs the loop.
 */
DERP_EXPORT int derp_uv_server_start_thread(derp_uv_server *server);

/*
 * Graceful stop: the listeners close, clients get a Restarting frame and shutdown_grace_ms to drain, then every
 * connection is closed. Thread-safe (any thread), idempotent; DERP_OK also when never started.
 *   Thread mode: returns once the server is down and the library's thread has ended. Called from inside a
 *     callback (on the library's thread) it only begins the stop and returns; derp_uv_server_free finishes it.
 *   Host-loop mode: returns at once; the stop happens on the host's loop at its next iteration, and the server
 *     stops keeping that loop alive once its handles are closed (uv_run then returns unless the host has handles
 *     of its own).
 */
DERP_EXPORT int derp_uv_server_stop(derp_uv_server *server);

/*
 * Frees the server. A server not yet stopped is closed at once (no grace). Thread mode: any thread but the
 * library's, after which the loop thread is joined. Host-loop mode: the loop's thread while it is not inside
 * uv_run (typically after uv_run returned); the loop can then be closed with uv_loop_close. NULL is fine.
 */
DERP_EXPORT void derp_uv_server_free(derp_uv_server *server);

/* The server's public key (the one its clients see in the ServerKey frame), also when it was generated because
 * opts->server was NULL. Any time after derp_uv_server_new. DERP_OK or DERP_ERR_INVALID_ARGUMENT. Thread-safe. */
DERP_EXPORT int derp_uv_server_public_key(const derp_uv_server *server, uint8_t key_out[DERP_KEY_LEN]);

/* The TCP address actually bound (port resolved) once started. DERP_ERR_UV_STATE before a successful start.
 * Thread-safe once start has returned. */
DERP_EXPORT int derp_uv_server_derp_address(const derp_uv_server *server, derp_addr *out);

/* The UDP address of the STUN responder once started. DERP_ERR_UNSUPPORTED when STUN is off, DERP_ERR_UV_STATE
 * before a successful start. Thread-safe once start has returned. */
DERP_EXPORT int derp_uv_server_stun_address(const derp_uv_server *server, derp_addr *out);

/*
 * The URL a DERP client dials, e.g. "http://127.0.0.1:PORT/derp" ("https://" with TLS), into out[0..cap) with a
 * NUL. The host is tls_hostname when TLS is on and it is set, otherwise the bound IP (a wildcard bind gives the
 * loopback address of its family). *size_out is always set to the bytes needed, NUL included:
 * DERP_ERR_BUFFER_TOO_SMALL when cap is less. DERP_ERR_UV_STATE before a successful start. Thread-safe once start
 * has returned.
 */
DERP_EXPORT int derp_uv_server_url(const derp_uv_server *server, char *out, size_t cap, size_t *size_out);

/* Bytes for derp_uv_server_cert_pin's text: "sha256-raw:" + 64 hex + NUL. */
#define DERP_CERT_PIN_TEXT_LEN 76

/*
 * The server certificate's pin, "sha256-raw:<64 hex>" (SHA-256 of the leaf certificate's DER), the DERPNode
 * CertName a client uses to trust a self-signed certificate. *size_out as for derp_uv_server_url.
 * DERP_ERR_UNSUPPORTED when TLS is off. Thread-safe (fixed once derp_uv_server_new returned).
 */
DERP_EXPORT int derp_uv_server_cert_pin(const derp_uv_server *server, char *out, size_t cap, size_t *size_out);

/*
 * The Prometheus page (derper's names, plus the accept limiter's) into out[0..cap), NUL-terminated; *size_out as
 * for derp_uv_server_url (counters move: leave some room when asking twice). Thread mode: thread-safe (the text is
 * made on the loop thread and handed over; after stop it is the final counters). Host-loop mode: the loop's
 * thread only.
 */
DERP_EXPORT int derp_uv_server_metrics_text(derp_uv_server *server, char *out, size_t cap, size_t *size_out);

#ifdef __cplusplus
}
#endif

#endif /* DERP_UV_H */
