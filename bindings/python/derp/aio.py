"""derp.AsyncClient: the reconnecting DERP client for asyncio, with no thread per call.

    async with derp.AsyncClient(srv.url, key) as client:     # waits until the server has registered it
        await client.send(peer, b"hello")
        src, data = await client.recv(timeout=5)
        async for event in client.events(): ...

How it waits. The client runs on libuv's thread inside libderp, as derp.Client does, and queues its events in the
library (bounded: max_queued_events, older packets dropped and counted). derp_uv_client_event_fd gives a descriptor
that is readable exactly while an event is queued; a coroutine that finds the queue empty registers it with
loop.add_reader and awaits a future the reader callback completes, then takes the events with a zero-timeout
derp_uv_client_next_event. The reader is registered only while some coroutine waits, so an unread queue never
spins the loop and no Python-side buffer grows: backpressure stays the library's. send() never blocks: from a
thread other than the library's, derp_uv_client_send only puts the packet on the client's bounded cross-thread
queue (QueueFull when that is full).

Everything is for the event loop's thread (like every asyncio object). Several coroutines may wait at once (say,
recv() in one task and ping() in another): an event one of them does not want stays for the others, in order.
"""
from __future__ import annotations

import asyncio
import ctypes
import time
from typing import AsyncIterator, Callable, List, Optional, Tuple

from ._lib import lib
from .client import Client, Event, EventType, _HAVE_EVENT_FD, _ends_connecting
from .errors import Closed, Timeout, Unsupported, check, error_for
from .keys import Key, PublicKey


class AsyncClient:
    """A DERP client connected to `url` as `key`, for asyncio. The options are derp.Client's; the constructor does
    not wait: `async with` (or `await client.wait_connected()`) waits up to `wait_connected` seconds until the
    server has registered the client, raising derp.Timeout, or the DerpError that made a one-shot client
    (reconnect=False) give up. Leave the `async with` block or call close() to stop it."""

    def __init__(self, url: str, key: Key, *, wait_connected: Optional[float] = 10.0, **options):
        if not _HAVE_EVENT_FD:
            raise Unsupported("this libderp has no derp_uv_client_event_fd (built before the asyncio wake-up)")
        self._client = Client(url, key, wait_connected=None, **options)
        self._wait_connected = wait_connected
        fd = ctypes.c_int(-1)
        try:
            check(lib.derp_uv_client_event_fd(self._client._live(), ctypes.byref(fd)), "client event fd")
        except BaseException:
            self._client.close()
            raise
        self._fd = fd.value
        self._loop: Optional[asyncio.AbstractEventLoop] = None  # the loop the reader is registered on
        self._waiters: List[asyncio.Future] = []

    # ---- what derp.Client has ----
    url = property(lambda self: self._client.url)
    key = property(lambda self: self._client.key)
    public = property(lambda self: self._client.public, doc="Our public key.")
    server_key = property(lambda self: self._client.server_key, doc="The server's key once CONNECTED was seen.")
    paths = property(lambda self: self._client.paths, doc="direct=True: derp.Client.paths (last PATH_CHANGED per peer).")

    def stats(self) -> dict:
        """The client's counters (derp.Client.stats: a short call to the library's thread)."""
        return self._client.stats()

    def note_preferred(self, preferred: bool = True) -> None:
        self._client.note_preferred(preferred)

    # ---- lifetime ----
    async def __aenter__(self) -> "AsyncClient":
        if self._wait_connected:
            try:
                await self.wait_connected(self._wait_connected)
            except BaseException:
                self.close()
                raise
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stops the client and joins the library's thread (derp.Client.close: quick, but a DNS lookup in flight
        can hold it for the resolver's time). Coroutines waiting for events get derp.Closed. Idempotent."""
        self._stop_reading()
        self._wake_all()
        self._client.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ---- commands ----
    async def send(self, dst: PublicKey, data: bytes) -> None:
        """Sends one packet (≤ 65536 bytes) to dst; returns at once (nothing here blocks). Raises NotConnected
        while disconnected (dropped, counted), QueueFull when the cross-thread queue is full, FrameTooLarge."""
        self._client.send(dst, data)

    async def ping(self, timeout: float = 10.0) -> float:
        """Pings the server; the round trip in seconds. Other events stay for recv()/events()."""
        pid = self._client._start_ping()
        ev = await self._wait_for(lambda e: e.type == EventType.PING_RESULT and e.ping_id == pid, timeout)
        check(ev.error, "ping")
        return ev.rtt

    # ---- events ----
    async def wait_connected(self, timeout: float = 10.0) -> PublicKey:
        """Waits until the server has registered this client; returns the server's key (derp.Client's rules)."""
        if self._client._registered:
            return self._client.server_key
        try:
            ev = await self._wait_for(_ends_connecting, timeout)
        except Timeout:
            raise self._client._not_connected(timeout) from None
        return self._client._connecting_ended(ev)

    async def next_event(self, timeout: Optional[float] = None) -> Event:
        """The next event, waiting up to timeout seconds (None: as long as it takes). Raises derp.Timeout, or
        derp.Closed once the CLOSED event has been taken or the client closed."""
        return await self._wait_for(lambda e: True, timeout)

    async def recv(self, timeout: Optional[float] = None) -> Tuple[PublicKey, bytes]:
        """The next packet as (source, payload); other events stay for events()/next_event(). Raises Timeout."""
        ev = await self._wait_for(lambda e: e.type == EventType.PACKET, timeout)
        return ev.key, ev.data

    async def events(self, timeout: Optional[float] = None) -> AsyncIterator[Event]:
        """Every event until CLOSED (included), or until none arrives within timeout; nothing once closed."""
        while True:
            try:
                ev = await self.next_event(timeout)
            except (Timeout, Closed):
                return
            yield ev
            if ev.type == EventType.CLOSED:
                return

    # ---- waiting on the library's descriptor ----
    async def _wait_for(self, predicate: Callable[[Event], bool], timeout: Optional[float]) -> Event:
        c = self._client
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            found = c._take_pending(predicate)
            if found is not None:
                return found
            try:
                ev = c._take(0)  # never blocks: the queue's head, or Timeout when it is empty
            except Timeout:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise Timeout("no client event within the timeout") from None
                await self._readable(left)
                continue
            if predicate(ev):
                return ev
            c._set_aside(ev)
            self._wake_all()  # another coroutine may be waiting for just this one
            if ev.type == EventType.CLOSED:
                raise error_for(ev.error or Closed.code, f"client closed: {ev.detail}")

    async def _readable(self, timeout: Optional[float]) -> None:
        """Returns when the descriptor is readable, another waiter handed an event over, the client closed, or
        timeout seconds passed (the caller looks again in every case)."""
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError("an AsyncClient is used from one event loop only")
        c = self._client
        c._live()  # Closed now rather than a wait on a descriptor that is gone
        waiter = loop.create_future()
        self._waiters.append(waiter)
        if self._loop is None:
            self._loop = loop
            loop.add_reader(self._fd, self._on_readable)
        timer = loop.call_later(timeout, _resolve, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            if not self._waiters:
                self._stop_reading()

    def _on_readable(self) -> None:
        # Level-triggered: stop watching until someone waits again, so an unread queue does not spin the loop.
        self._stop_reading()
        self._wake_all()

    def _wake_all(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            _resolve(w)

    def _stop_reading(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._fd)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
