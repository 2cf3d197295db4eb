/*
 * libderp — process-wide hooks an embedder sets once: a log sink and an allocator.
 *
 * Objects that take a log callback of their own (derp_server_options.log, ...) use it; objects without one log
 * through the global sink set here. Neither hook is needed: by default the library is silent and uses malloc.
 */
#ifndef DERP_HOOKS_H
#define DERP_HOOKS_H

#include "derp/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A log line: level is a DERP_LOG_* value, message a NUL-terminated UTF-8 line without a trailing newline, valid
 * only during the call. Called on the thread that drives the object that logs (for a library-run loop, the loop
 * thread); it must not call back into that object, and it must return quickly.
 */
typedef void (*derp_log_fn)(int level, const char *message, void *user_data);

/*
 * The global log sink: lines at min_level (a DERP_LOG_* value) and above, from every object that has no log
 * callback of its own. fn = NULL silences them (the default). Thread-safe; may be called at any time. A line
 * being logged on another thread while this runs may still go to the previous sink, so keep the previous
 * user_data valid until such lines are done (e.g. until the objects that log are freed or stopped).
 */
DERP_EXPORT int derp_set_log(derp_log_fn fn, void *user_data, int min_level);

/* Allocator functions. They receive the user_data given to derp_set_allocator. They are called from every thread
 * the library or libuv runs on, so they must be thread-safe. Same contracts as malloc/realloc/free: malloc may
 * return NULL for size 0 or on failure; free(NULL) must do nothing. */
typedef void *(*derp_malloc_fn)(size_t size, void *user_data);
typedef void *(*derp_realloc_fn)(void *ptr, size_t size, void *user_data);
typedef void (*derp_free_fn)(void *ptr, void *user_data);

/* derp_set_allocator flags. */
#define DERP_ALLOCATOR_SKIP_LIBUV 1u /* leave libuv's allocator alone (the host uses libuv already, or set it) */

/*
 * Replaces the allocator for what it can reach. Honestly, that is:
 *
 *   COVERED   - the handle objects the C API hands out for the server and libuv driver: derp_server,
 *               derp_server_conn, derp_uv_server (capi/server.cpp, capi/uv_server.cpp), and the uv_loop_t a
 *               derp_uv_server makes when the host passes no loop. (The library returns no heap copies to the
 *               caller: every text or byte output goes into a caller-supplied buffer.)
 *             - every allocation libuv makes (loops' internals, handles' buffers, its thread pool), through
 *               uv_replace_allocator, unless flags has DERP_ALLOCATOR_SKIP_LIBUV. libuv has one allocator for the
 *               whole process, so this also affects the host's own libuv use.
 *   NOT COVERED - the C++ internals behind those handles (connection state, send queues, packet buffers,
 *               strings, containers: operator new), mbedTLS (calloc), libsodium, and handles of other headers
 *               (derp_frame_reader). A host that must account for every byte replaces operator new/malloc at
 *               link time instead.
 *
 * Call it once, before any other derp call and, unless DERP_ALLOCATOR_SKIP_LIBUV, before any libuv call anywhere
 * in the process: memory allocated before the switch would otherwise be freed by the new functions. The library
 * enforces what it can see: DERP_ERR_UNSUPPORTED when an allocator was already set, when the C API has already
 * allocated something, or when libuv refuses the replacement; DERP_ERR_INVALID_ARGUMENT when a function is NULL
 * or flags has unknown bits. The allocator can never be removed. Not thread-safe with any other derp call.
 */
DERP_EXPORT int derp_set_allocator(derp_malloc_fn malloc_fn, derp_realloc_fn realloc_fn, derp_free_fn free_fn,
                                   void *user_data, unsigned flags);

#ifdef __cplusplus
}
#endif

#endif /* DERP_HOOKS_H */
