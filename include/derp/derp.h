/*
 * libderp — the umbrella header: includes every public header, so a program can start with one line
 * (`#include <derp/derp.h>`), as <uv.h>, <sodium.h> and <ngtcp2/ngtcp2.h> allow.
 *
 *   derp/common.h    version, export macro, error codes (derp_strerror), addresses, shared sizes
 *   derp/stun.h      STUN codec (RFC 8489) and the stateless binding responder
 *   derp/frame.h     DERP framing: every frame type's payload, an incremental frame reader
 *   derp/key.h       node keys, their text forms, the NaCl box
 *   derp/info.h      the sealed ClientInfo/ServerInfo handshake payloads
 *   derp/hooks.h     process-wide log sink and allocator
 *   derp/server.h    the sans-IO DERP server core
 *   derp/client.h    the sans-IO client connection and the libuv client (host loop or library thread)
 *   derp/uv.h        the ready-made libuv DERP + STUN server
 *   derp/netcheck.h  netcheck: UDP, public endpoints, hard NAT, latency per region, home region
 *
 * Names, returns, callbacks and options follow one convention, written once at the top of derp/common.h.
 *
 * Including only the headers a file needs works as well: each one includes what it depends on. None of them
 * includes <uv.h>. Every public header must be listed here (tests/abi/check_umbrella_header.sh checks it).
 */
#ifndef DERP_DERP_H
#define DERP_DERP_H

#include "derp/common.h"

#include "derp/client.h"
#include "derp/frame.h"
#include "derp/hooks.h"
#include "derp/info.h"
#include "derp/key.h"
#include "derp/netcheck.h"
#include "derp/server.h"
#include "derp/stun.h"
#include "derp/uv.h"

#endif /* DERP_DERP_H */
