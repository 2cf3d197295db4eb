import socket
import threading

import pytest

import derp


def test_request_layout():
    request, txid = derp.tailscale_request(b"\x01" * 12)
    assert len(request) == 40 and txid == b"\x01" * 12
    assert request[:2] == b"\x00\x01" and request[8:20] == txid
    assert derp.is_stun(request)
    assert not derp.is_stun(b"hello world, not stun")
    with pytest.raises(ValueError):
        derp.tailscale_request(b"short")


def test_parse_rejects_a_request():
    request, _ = derp.tailscale_request()
    with pytest.raises(derp.DerpError) as info:
        derp.parse_binding_response(request)
    assert info.value.name == "STUN_NOT_SUCCESS_RESPONSE"


def test_probe_times_out_against_a_silent_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        with pytest.raises(derp.Timeout):
            derp.stun_probe("127.0.0.1", silent.getsockname()[1], timeout=0.3)
