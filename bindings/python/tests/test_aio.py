"""derp.AsyncClient: asyncio over the library's wake-up descriptor. Each test runs its own loop (asyncio.run, no
pytest-asyncio) under a bound (asyncio.wait_for), against a derp.Server on loopback."""
import asyncio
import os
import select
import threading

import pytest

import derp

BOUND = 30  # seconds any one test may take before it fails instead of hanging


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, BOUND))


def _tasks() -> set:
    return set(os.listdir("/proc/self/task"))


def test_relay_both_ways_ping_and_events():
    a, b = derp.Key.generate(), derp.Key.generate()

    async def main():
        with derp.Server(address="127.0.0.1:0", stun_address=None) as srv:
            async with derp.AsyncClient(srv.url, a) as ca, derp.AsyncClient(srv.url, b) as cb:
                assert ca.server_key == srv.public_key
                first = [(await ca.next_event(timeout=1)).type for _ in range(2)]
                assert first == [derp.EventType.CONNECTED, derp.EventType.SERVER_INFO]
                await ca.send(b.public, b"hello")
                assert await cb.recv(timeout=10) == (a.public, b"hello")
                payload = bytes(range(256)) * 200  # 51,200 bytes
                await cb.send(a.public, payload)
                assert await ca.recv(timeout=10) == (b.public, payload)
                rtt = await ca.ping(timeout=10)
                assert 0 < rtt < 10
                assert ca.stats()["packets_received"] == 1

    run(main())


def test_waiting_starts_no_thread_and_many_coroutines_wait_at_once():
    a, b = derp.Key.generate(), derp.Key.generate()

    async def main():
        with derp.Server(address="127.0.0.1:0", stun_address=None) as srv:
            async with derp.AsyncClient(srv.url, a) as ca, derp.AsyncClient(srv.url, b) as cb:
                threads_py, threads = threading.active_count(), _tasks()
                # Five coroutines wait on b at once: four recv() and a ping() whose result comes among the packets.
                # (One ping only: like Tailscale's, the server ignores a ping while its last pong is unsent.)
                receivers = [asyncio.ensure_future(cb.recv(timeout=10)) for _ in range(4)]
                pings = [asyncio.ensure_future(cb.ping(timeout=10))]
                await asyncio.sleep(0)  # let them all reach their wait
                assert _tasks() == threads and threading.active_count() == threads_py  # no thread per wait
                for i in range(4):
                    await ca.send(b.public, b"packet %d" % i)
                got = sorted([data for _, data in await asyncio.gather(*receivers)])
                assert got == [b"packet %d" % i for i in range(4)]
                assert all(rtt > 0 for rtt in await asyncio.gather(*pings))
                assert _tasks() == threads and threading.active_count() == threads_py
                # An event nobody waits for: the descriptor is readable, but the loop does not watch it (no spin).
                await ca.send(b.public, b"unread for now")
                assert select.select([cb._fd], [], [], 10)[0] == [cb._fd]
                assert not asyncio.get_running_loop().remove_reader(cb._fd)  # False: no reader was registered
                assert await cb.recv(timeout=10) == (a.public, b"unread for now")

    run(main())


def test_timeout_cancel_and_close_while_waiting():
    a, b = derp.Key.generate(), derp.Key.generate()

    async def main():
        with derp.Server(address="127.0.0.1:0", stun_address=None) as srv:
            async with derp.AsyncClient(srv.url, a) as ca, derp.AsyncClient(srv.url, b) as cb:
                with pytest.raises(derp.Timeout):
                    await cb.recv(timeout=0.2)
                with pytest.raises(TimeoutError):  # derp.Timeout is a TimeoutError too
                    await cb.recv(timeout=0)
                # A cancelled wait leaves the client usable.
                waiting = asyncio.ensure_future(cb.recv())
                await asyncio.sleep(0)
                waiting.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiting
                await ca.send(b.public, b"after the cancel")
                assert await cb.recv(timeout=10) == (a.public, b"after the cancel")
                # Closing wakes a coroutine that waits with no timeout at all.
                forever = asyncio.ensure_future(cb.recv())
                await asyncio.sleep(0)
                cb.close()
                with pytest.raises(derp.Closed):
                    await forever
                with pytest.raises(derp.Closed):
                    await cb.send(a.public, b"x")
                assert [e async for e in cb.events(timeout=0.1)] == []

    run(main())


def test_events_end_with_peer_gone_and_timeout():
    a, b = derp.Key.generate(), derp.Key.generate()

    async def main():
        with derp.Server(address="127.0.0.1:0", stun_address=None) as srv:
            async with derp.AsyncClient(srv.url, b) as cb:
                async with derp.AsyncClient(srv.url, a) as ca:
                    await ca.send(b.public, b"bye soon")
                    assert await cb.recv(timeout=10) == (a.public, b"bye soon")
                gone = [e async for e in cb.events(timeout=2) if e.type == derp.EventType.PEER_GONE]
                assert gone and gone[0].key == a.public

    run(main())


def test_unreachable_server_raises_and_leaves_no_thread():
    before = _tasks()

    async def main():
        with pytest.raises(derp.Connect) as info:
            async with derp.AsyncClient("http://127.0.0.1:1/derp", derp.Key.generate(), reconnect=False,
                                        wait_connected=10):
                pass
        assert "refused" in str(info.value)
        with pytest.raises(derp.Timeout) as info:
            async with derp.AsyncClient("http://127.0.0.1:1/derp", derp.Key.generate(), wait_connected=0.5):
                pass
        assert "still retrying" in str(info.value)

    run(main())
    from test_client import _wait_until_only
    assert not _wait_until_only(before)


def test_direct_option_passes_through():
    # derp.Client's options reach the library unchanged: with direct=True the path upgrades as test_direct.py shows
    # for the threaded client, seen here through AsyncClient.paths and the events' `via`.
    a, b = derp.Key.generate(), derp.Key.generate()
    opts = dict(direct=True, udp_bind="127.0.0.1:0", stun="127.0.0.1:9")

    async def main():
        with derp.Server(address="127.0.0.1:0") as srv:
            async with derp.AsyncClient(srv.url, a, **opts) as ca, derp.AsyncClient(srv.url, b, **opts) as cb:
                vias = []
                for i in range(200):  # bounded: about 10 s of 50 ms rounds
                    if cb.paths.get(a.public, ("derp",))[0] == "direct" and vias and vias[-1] == "direct":
                        break
                    await ca.send(b.public, b"a%d" % i)
                    try:
                        while True:
                            ev = await cb.next_event(timeout=0.05)
                            if ev.type == derp.EventType.PACKET:
                                vias.append(ev.via)
                    except derp.Timeout:
                        pass
                assert vias[0] == "derp" and vias[-1] == "direct"
                assert cb.paths[a.public][0] == "direct"

    run(main())
