"""Client(direct=True): the first packet goes through the relay, then the path upgrades to direct UDP (a
PATH_CHANGED event and Client.paths), and later packets arrive with via == "direct"."""
import time

import derp


def _drain(client, seen):
    while True:
        try:
            ev = client.next_event(timeout=0)
        except derp.Timeout:
            return
        if ev.type == derp.EventType.PACKET:
            seen.append((ev.data, ev.via))


def test_direct_upgrade_on_loopback():
    a, b = derp.Key.generate(), derp.Key.generate()
    with derp.Server(address="127.0.0.1:0") as srv:
        opts = dict(direct=True, udp_bind="127.0.0.1:0", stun="127.0.0.1:9")
        with derp.Client(srv.url, a, **opts) as ca, derp.Client(srv.url, b, **opts) as cb:
            got_a, got_b = [], []
            ca.send(b.public, b"first")
            deadline = time.monotonic() + 10
            i = 0
            while time.monotonic() < deadline:
                if ca.paths.get(b.public, ("derp",))[0] == "direct" and cb.paths.get(a.public, ("derp",))[0] == "direct":
                    break
                ca.send(b.public, b"a%d" % i)
                cb.send(a.public, b"b%d" % i)
                i += 1
                time.sleep(0.05)
                _drain(ca, got_a)
                _drain(cb, got_b)
            via, endpoint, rtt = ca.paths[b.public]
            assert via == "direct"
            assert endpoint[0] == "127.0.0.1" and rtt > 0
            assert got_b[0] == (b"first", "derp")
            ca.send(b.public, b"last")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and (not got_b or got_b[-1][0] != b"last"):
                time.sleep(0.02)
                _drain(cb, got_b)
            assert got_b[-1] == (b"last", "direct")



def test_ipv6_socket_options_reach_the_library():
    """udp_bind6 and stun6 are handed to derp_uv_client_options (udp_bind6, stun_server6): a value the IPv6 socket
    cannot use is refused by the library with ADDRESS; "off" (no IPv6 socket) is taken."""
    key = derp.Key.generate()
    with derp.Server(address="127.0.0.1:0") as srv:
        opts = dict(direct=True, udp_bind="127.0.0.1:0", stun="127.0.0.1:9", wait_connected=None)
        for bad in (dict(stun6="192.0.2.1:3478"), dict(udp_bind6="[::1")):
            try:
                derp.Client(srv.url, key, **opts, **bad).close()
            except derp.DerpError as e:
                assert e.name == "ADDRESS", (bad, e)
            else:
                raise AssertionError(f"{bad} was accepted")
        with derp.Client(srv.url, key, **opts, udp_bind6="off") as c:
            assert c.url == srv.url
