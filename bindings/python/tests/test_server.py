import socket
import threading

import pytest

import derp


def test_server_url_stun_and_metrics():
    before = threading.active_count()
    with derp.Server(address="127.0.0.1:0") as srv:
        assert srv.url.startswith("http://127.0.0.1:") and srv.url.endswith("/derp")
        assert srv.address[0] == "127.0.0.1" and srv.address[1] > 0
        ip, port = srv.stun_address
        result = derp.stun_probe(ip, port, timeout=3)
        assert result.ip == "127.0.0.1" and 0 < result.port < 65536 and result.rtt > 0
        # The relay answers HTTP: /derp/probe is one of derper's plain endpoints.
        with socket.create_connection(srv.address, timeout=3) as s:
            s.sendall(b"GET /derp/probe HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
        assert "\nderp_http_requests 1\n" in srv.metrics()
    assert threading.active_count() == before  # Python threads: none started by us


def test_server_with_fixed_key_and_bad_address():
    key = derp.Key.generate()
    with derp.Server(key=key, stun_address=None) as srv:
        assert srv.public_key == key.public and srv.stun_address is None
    with pytest.raises(derp.DerpError) as info:
        derp.Server(address="not an address")
    assert info.value.code < 0
    with pytest.raises(ValueError):
        derp.Server(tls="bogus")


def test_closed_server_refuses_calls():
    srv = derp.Server(stun_address=None)
    srv.close()
    srv.close()
    with pytest.raises(derp.DerpError) as info:
        srv.metrics()
    assert info.value.name == "CLOSED"
