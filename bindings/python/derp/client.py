"""derp.Client: a reconnecting DERP client run by libderp on its own thread (derp_uv_client_start_thread), with its
events queued in the library and taken here (derp_uv_client_next_event), so no callback ever enters Python from the
library's thread."""
from __future__ import annotations

import ctypes
import enum
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple, Union

from ._lib import Addr, Closable, KeyBytes, buffer_of, declare_optional, lib, size_p, u8p
from .errors import CODES, Closed, DerpError, Timeout, Unsupported, check, error_for
from .keys import Key, PublicKey
from .stun import addr_to_tuple

c_int, c_size_t, c_uint32, c_uint64, c_int64 = ctypes.c_int, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint64, \
    ctypes.c_int64
EVENT_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)  # (event, user_data); never set here


class _Options(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t), ("private_key", ctypes.c_uint8 * 32), ("fast_start", c_int),
        ("websocket", c_int), ("ideal_node", ctypes.c_char_p), ("mesh_key", ctypes.c_char_p),
        ("is_prober", c_int), ("app_name", ctypes.c_char_p), ("handshake_timeout_ms", c_uint32),
        ("idle_timeout_ms", c_uint32), ("ping_timeout_ms", c_uint32), ("keepalive_ping_after_ms", c_uint32),
        ("max_pending_output", c_size_t), ("honour_server_rate_limit", c_int), ("on_event", EVENT_FN),
        ("user_data", ctypes.c_void_p),
    ]


class _DialOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t), ("url", ctypes.c_char_p), ("derpmap_json", ctypes.c_char_p),
        ("derpmap_len", c_size_t), ("region_id", c_int), ("ca_file", ctypes.c_char_p),
        ("insecure_skip_verify", c_int), ("reconnect", c_int), ("connect_timeout_ms", c_uint32),
        ("queue_events", c_int), ("max_queued_events", c_size_t),
        # since 0.1: the direct path
        ("direct", c_int), ("udp_bind", ctypes.c_char_p), ("stun_server", ctypes.c_char_p), ("seal_direct", c_int),
        ("udp_bind6", ctypes.c_char_p), ("stun_server6", ctypes.c_char_p),
    ]


class _Event(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t), ("type", c_int), ("key", ctypes.c_uint8 * 32), ("data", u8p), ("len", c_size_t),
        ("reason", ctypes.c_uint8), ("flags", ctypes.c_uint8), ("endpoint", Addr), ("ping_id", c_uint64),
        ("error", c_int), ("detail", ctypes.c_char_p), ("rtt_ns", c_uint64), ("reconnect_in_ns", c_uint64),
        ("try_for_ns", c_uint64), ("retry_in_ns", c_uint64), ("server_version", c_int),
        ("token_bucket_bytes_per_second", c_int64), ("token_bucket_bytes_burst", c_int64),
        ("via", c_int),  # since 0.1: PACKET and PATH_CHANGED (0 DERP, 1 direct)
    ]


class _Stats(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t)] + [(name, c_uint64) for name in (
        "packets_sent", "bytes_sent", "packets_received", "bytes_received", "packets_dropped_queue_full",
        "packets_dropped_rate_limit", "packets_dropped_disconnected", "pings_sent", "pongs_matched",
        "server_pings_answered", "connects", "disconnects", "events_dropped")]


_HAVE_CLIENT = all([
    declare_optional("derp_client_options_init", c_int, ctypes.POINTER(_Options), c_size_t),
    declare_optional("derp_uv_client_options_init", c_int, ctypes.POINTER(_DialOptions), c_size_t),
    declare_optional("derp_uv_client_new", c_int, ctypes.c_void_p, ctypes.POINTER(_Options),
                     ctypes.POINTER(_DialOptions), ctypes.POINTER(ctypes.c_void_p)),
    declare_optional("derp_uv_client_start_thread", c_int, ctypes.c_void_p),
    declare_optional("derp_uv_client_send", c_int, ctypes.c_void_p, KeyBytes, u8p, c_size_t),
    declare_optional("derp_uv_client_note_preferred", c_int, ctypes.c_void_p, c_int),
    declare_optional("derp_uv_client_ping", c_int, ctypes.c_void_p, ctypes.POINTER(c_uint64)),
    declare_optional("derp_uv_client_next_event", c_int, ctypes.c_void_p, c_int, ctypes.POINTER(_Event), u8p,
                     c_size_t),
    declare_optional("derp_client_stats_init", c_int, ctypes.POINTER(_Stats), c_size_t),
    declare_optional("derp_uv_client_stats", c_int, ctypes.c_void_p, ctypes.POINTER(_Stats)),
    declare_optional("derp_uv_client_stop", c_int, ctypes.c_void_p),
    declare_optional("derp_uv_client_free", None, ctypes.c_void_p),
])
# The wake-up descriptor derp.AsyncClient waits on (added after the first ABI baseline; absent from older builds).
_HAVE_EVENT_FD = declare_optional("derp_uv_client_event_fd", c_int, ctypes.c_void_p, ctypes.POINTER(c_int))


class EventType(enum.IntEnum):
    CONNECTED = 1
    SERVER_INFO = 2
    PACKET = 3
    PEER_GONE = 4
    PEER_PRESENT = 5
    HEALTH = 6
    RESTARTING = 7
    PING_RESULT = 8
    DISCONNECTED = 9
    CLOSED = 10
    PATH_CHANGED = 11  # Client(direct=True): a peer's path changed (via, endpoint, rtt)


@dataclass(frozen=True)
class Event:
    """One client event. Which fields mean something depends on type (include/derp/client.h, derp_client_event);
    keys are PublicKey objects, times are float seconds (the C struct has nanoseconds), endpoints (ip, port)."""

    type: EventType
    key: Optional[PublicKey] = None  # CONNECTED: the server; PACKET: the source; PEER_*: the peer
    data: bytes = b""                # PACKET payload; HEALTH text (UTF-8)
    reason: int = 0                  # PEER_GONE: 0 disconnected, 1 not here
    endpoint: Optional[Tuple[str, int]] = None  # PEER_PRESENT
    flags: int = 0
    ping_id: int = 0
    error: int = 0                   # PING_RESULT, DISCONNECTED, CLOSED: 0 or a DERP_ERR_* code
    detail: str = ""
    rtt: float = 0.0                 # PING_RESULT, seconds
    reconnect_in: float = 0.0        # RESTARTING, seconds
    try_for: float = 0.0
    retry_in: Optional[float] = None  # DISCONNECTED: seconds until the next dial, None when it will not redial
    server_version: int = 0          # SERVER_INFO
    token_bucket_bytes_per_second: int = 0
    token_bucket_bytes_burst: int = 0
    via: str = "derp"                # PACKET: the path it came on; PATH_CHANGED: the new one ("direct" or "derp")


_UINT64_MAX = (1 << 64) - 1


def _event_from(raw: _Event) -> Event:
    etype = EventType(raw.type)
    key = PublicKey(bytes(raw.key)) if any(raw.key) else None
    data = ctypes.string_at(raw.data, raw.len) if raw.data and raw.len else b""
    return Event(
        type=etype, key=key, data=data, reason=raw.reason, flags=raw.flags,
        endpoint=addr_to_tuple(raw.endpoint) if raw.endpoint.family else None, ping_id=raw.ping_id,
        error=raw.error, detail=(raw.detail or b"").decode(errors="replace"), rtt=raw.rtt_ns / 1e9,
        reconnect_in=raw.reconnect_in_ns / 1e9, try_for=raw.try_for_ns / 1e9,
        retry_in=None if raw.retry_in_ns == _UINT64_MAX else raw.retry_in_ns / 1e9,
        server_version=raw.server_version, token_bucket_bytes_per_second=raw.token_bucket_bytes_per_second,
        token_bucket_bytes_burst=raw.token_bucket_bytes_burst, via="direct" if raw.via == 1 else "derp")


# Events set aside while waiting for another kind (recv() skipping a PEER_GONE, say): the library's default
# max_queued_events, so a program that only ever calls recv() holds at most this many.
_PENDING_MAX = 1024


def _ends_connecting(ev: Event) -> bool:
    return ev.type in (EventType.SERVER_INFO, EventType.CLOSED)


class Client(Closable):
    """A DERP client connected to `url` ("http://127.0.0.1:PORT/derp", "https://host/derp") as `key`.

    The constructor waits up to `wait_connected` seconds until the server has registered the client (None: do not
    wait; then send() raises NOT_CONNECTED until it is) and raises derp.Timeout, or DerpError (e.g. CONNECT, with
    reconnect=False) when it cannot connect. `connect_timeout` bounds one attempt (DNS + TCP + TLS + handshake).

    It connects in the background and reconnects after a loss (reconnect=True). Packets sent while it is not
    connected are dropped and counted, and send() raises DerpError NOT_CONNECTED for them. Use it as a context
    manager, or call close(). Thread-safe: send/ping/recv/events may be called from any Python thread, but one
    thread at a time should consume events (recv and events share one queue)."""

    def __init__(self, url: str, key: Key, *, ca_file: Optional[str] = None, insecure: bool = False,
                 fast_start: bool = False, websocket: bool = False, reconnect: bool = True,
                 connect_timeout: float = 10.0, wait_connected: Optional[float] = 10.0, direct: bool = False,
                 udp_bind: Optional[str] = None, stun: Optional[str] = None, sealed: bool = True,
                 udp_bind6: Optional[str] = None, stun6: Optional[str] = None):
        if not _HAVE_CLIENT:
            raise Unsupported("this libderp has no client API (derp_client_*)")
        if not isinstance(key, Key):
            raise TypeError("key must be a derp.Key (a private key)")
        self.key = key
        self.url = url
        self._lock = threading.Lock()
        self._handle = ctypes.c_void_p()
        self._closed = False
        self._buf_cap = 70000
        self._buf = (ctypes.c_uint8 * self._buf_cap)()
        self._pending = []  # events read while waiting for something else (wait_connected, ping, recv); bounded
        self._pending_dropped = 0
        self.server_key: Optional[PublicKey] = None
        self._registered = False
        # direct=True: the last PATH_CHANGED per peer, as ("direct", (ip, port), rtt seconds) or ("derp", None, 0.0)
        self.paths = {}

        opts = _Options()
        check(lib.derp_client_options_init(ctypes.byref(opts), ctypes.sizeof(opts)), "client options")
        ctypes.memmove(opts.private_key, key.raw, 32)
        opts.fast_start, opts.websocket = int(fast_start), int(websocket)
        dial = _DialOptions()
        check(lib.derp_uv_client_options_init(ctypes.byref(dial), ctypes.sizeof(dial)), "dial options")
        self._url_bytes = url.encode()
        self._ca_bytes = ca_file.encode() if ca_file else None
        dial.url = self._url_bytes
        dial.ca_file = self._ca_bytes
        dial.insecure_skip_verify = int(insecure)
        dial.reconnect = int(reconnect)
        dial.connect_timeout_ms = int(connect_timeout * 1000)
        dial.queue_events = 1
        if direct:  # start on DERP, move to a direct UDP path when the NATs allow (include/derp/client.h)
            self._udp_bytes = udp_bind.encode() if udp_bind else None
            self._stun_bytes = stun.encode() if stun else None
            dial.direct, dial.udp_bind, dial.stun_server = 1, self._udp_bytes, self._stun_bytes
            dial.seal_direct = int(sealed)
            self._udp6_bytes = udp_bind6.encode() if udp_bind6 else None
            self._stun6_bytes = stun6.encode() if stun6 else None
            dial.udp_bind6, dial.stun_server6 = self._udp6_bytes, self._stun6_bytes
        check(lib.derp_uv_client_new(None, ctypes.byref(opts), ctypes.byref(dial), ctypes.byref(self._handle)),
              f"creating client for {url}")
        rc = lib.derp_uv_client_start_thread(self._handle)
        if rc < 0:
            lib.derp_uv_client_free(self._handle)
            self._handle = ctypes.c_void_p()
            check(rc, "starting the client thread")
        if wait_connected:
            try:
                self.wait_connected(wait_connected)
            except BaseException:
                # The caller never gets this object to close: stop the library's thread now rather than whenever
                # the garbage collector gets to it (the exception's traceback keeps `self` alive until then).
                self.close()
                raise

    # ---- lifetime ----
    def close(self) -> None:
        """Stops the client and joins the library's thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pending.clear()
            handle, self._handle = self._handle, ctypes.c_void_p()
        if handle:
            lib.derp_uv_client_stop(handle)
            lib.derp_uv_client_free(handle)


    def _live(self) -> ctypes.c_void_p:
        if self._closed or not self._handle:
            raise Closed("client is closed")
        return self._handle

    # ---- commands ----
    @property
    def public(self) -> PublicKey:
        return self.key.public

    def send(self, dst: PublicKey, data: bytes) -> None:
        """Sends one packet (≤ 65536 bytes) to dst through the server. Raises DerpError NOT_CONNECTED (dropped,
        counted) while disconnected, QUEUE_FULL when the output cap or the server's rate limit dropped it."""
        if not isinstance(dst, PublicKey):
            raise TypeError("dst must be a derp.PublicKey")
        data = bytes(data)
        check(lib.derp_uv_client_send(self._live(), KeyBytes.from_buffer_copy(dst.raw), buffer_of(data), len(data)),
              "send")

    def note_preferred(self, preferred: bool = True) -> None:
        check(lib.derp_uv_client_note_preferred(self._live(), int(preferred)), "note_preferred")

    def ping(self, timeout: float = 10.0) -> float:
        """Pings the server and returns the round trip in seconds. Other events that arrive meanwhile stay queued
        for recv()/events()."""
        pid = self._start_ping()
        ev = self._wait_for(lambda e: e.type == EventType.PING_RESULT and e.ping_id == pid, timeout)
        check(ev.error, "ping")
        return ev.rtt

    def _start_ping(self) -> int:
        pid = c_uint64()
        check(lib.derp_uv_client_ping(self._live(), ctypes.byref(pid)), "ping")
        return pid.value

    # ---- events ----
    def next_event(self, timeout: Optional[float] = None) -> Event:
        """The next event (waits up to timeout seconds; None = forever). Raises derp.Timeout, or DerpError CLOSED
        once the CLOSED event has been taken."""
        if self._pending:
            return self._pending.pop(0)
        return self._take(timeout)

    def _take(self, timeout: Optional[float]) -> Event:
        ms = -1 if timeout is None or timeout == float("inf") else max(0, min(int(timeout * 1000), 2**31 - 1))
        ev = _Event()
        ev.struct_size = ctypes.sizeof(ev)
        while True:
            rc = lib.derp_uv_client_next_event(self._live(), ms, ctypes.byref(ev), self._buf, self._buf_cap)
            if rc == CODES["BUFFER_TOO_SMALL"]:  # grow and take it again
                self._buf_cap = max(ev.len, self._buf_cap * 2)
                self._buf = (ctypes.c_uint8 * self._buf_cap)()
                continue
            if rc == Timeout.code:
                raise Timeout("no client event within the timeout")  # callers add what they waited for
            check(rc, "next_event")
            event = _event_from(ev)
            if event.type == EventType.CONNECTED:
                self.server_key = event.key
            elif event.type == EventType.PATH_CHANGED and event.key is not None:
                self.paths[event.key] = (event.via, event.endpoint, event.rtt)
            return event

    def _set_aside(self, ev: Event) -> None:
        """Keeps an event a wait did not want for events()/next_event(), at most _PENDING_MAX of them: beyond, the
        oldest one goes (never CLOSED, which says why the client ended) and is counted in stats' events_dropped."""
        self._pending.append(ev)
        if len(self._pending) > _PENDING_MAX:
            oldest = next(i for i, e in enumerate(self._pending) if e.type != EventType.CLOSED)
            del self._pending[oldest]
            self._pending_dropped += 1

    def _take_pending(self, predicate) -> Optional[Event]:
        for i, ev in enumerate(self._pending):
            if predicate(ev):
                return self._pending.pop(i)
        return None

    def _wait_for(self, predicate, timeout: float) -> Event:
        deadline = time.monotonic() + timeout
        found = self._take_pending(predicate)
        if found is not None:
            return found
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("the awaited client event did not come")
            ev = self._take(left)
            if predicate(ev):
                return ev
            self._set_aside(ev)
            if ev.type == EventType.CLOSED:
                raise error_for(ev.error or Closed.code, f"client closed: {ev.detail}")

    def wait_connected(self, timeout: float = 10.0) -> PublicKey:
        """Waits until the server has registered this client (its ServerInfo arrived, which the server sends after
        registering: from then on packets to us are delivered); returns the server's key. Raises derp.Timeout, or
        DerpError with the reason when the client gave up (reconnect=False)."""
        if self._registered:
            return self.server_key
        try:
            ev = self._wait_for(_ends_connecting, timeout)
        except Timeout:
            raise self._not_connected(timeout) from None
        return self._connecting_ended(ev)

    def _not_connected(self, timeout: float) -> Timeout:
        last = [e for e in self._pending if e.type == EventType.DISCONNECTED]
        why = f" (last failure: {last[-1].detail}; still retrying)" if last else ""
        return Timeout(f"not connected to {self.url} within {timeout} s{why}")

    def _connecting_ended(self, ev: Event) -> PublicKey:
        """After wait_connected found SERVER_INFO or CLOSED: keeps it visible to events(), raises for CLOSED."""
        self._pending.append(ev)  # events() and next_event() still see it, in order
        if ev.type == EventType.CLOSED:
            raise error_for(ev.error or Closed.code, f"connecting to {self.url}: {ev.detail}")
        self._registered = True
        return self.server_key

    def recv(self, timeout: Optional[float] = None) -> Tuple[PublicKey, bytes]:
        """The next packet as (source, payload). Other events that come first stay for events()/next_event(), in
        order (at most 1024: beyond, the oldest are dropped and counted in stats()["events_dropped"]).
        Raises derp.Timeout after timeout seconds."""
        ev = self._wait_for(lambda e: e.type == EventType.PACKET,
                            timeout if timeout is not None else float("inf"))
        return ev.key, ev.data

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Iterates over every event until CLOSED (included), or until none arrives within timeout; yields nothing
        once the client is closed."""
        while True:
            try:
                ev = self.next_event(timeout)
            except Timeout:
                return
            except Closed:  # the client was closed (or its CLOSED event already taken)
                return
            yield ev
            if ev.type == EventType.CLOSED:
                return

    def stats(self) -> dict:
        st = _Stats()
        check(lib.derp_client_stats_init(ctypes.byref(st), ctypes.sizeof(st)), "stats")
        check(lib.derp_uv_client_stats(self._live(), ctypes.byref(st)), "stats")
        stats = {name: getattr(st, name) for name, _ in _Stats._fields_[1:]}
        stats["events_dropped"] += self._pending_dropped  # the library's queue, and what recv() set aside
        return stats
