"""STUN helpers over libderp's codec: Tailscale-style binding requests, response parsing, and stun_probe()."""
from __future__ import annotations

import ctypes
import os
import socket
import time
from dataclasses import dataclass
from typing import Tuple

from ._lib import Addr, buffer_of, lib, u8p
from .errors import DerpError, Timeout, check

TXID_SIZE = 12


def addr_to_tuple(addr: Addr) -> Tuple[str, int]:
    """derp_addr → ("ip", port); ("", 0) for DERP_AF_NONE."""
    if addr.family == 4:
        return socket.inet_ntop(socket.AF_INET, bytes(addr.ip[:4])), addr.port
    if addr.family == 6:
        return socket.inet_ntop(socket.AF_INET6, bytes(addr.ip)), addr.port
    return "", 0


def format_endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def is_stun(data: bytes) -> bool:
    """True when data looks like a STUN message (header, magic cookie, length)."""
    return lib.derp_stun_is_stun(buffer_of(data), len(data)) == 1


def tailscale_request(txid: bytes = b"") -> Tuple[bytes, bytes]:
    """Tailscale's 40-byte binding request (SOFTWARE "tailnode", FINGERPRINT), which derper and ordinary RFC 8489
    servers both answer. Returns (request, txid); a random txid when none is given."""
    txid = txid or os.urandom(TXID_SIZE)
    if len(txid) != TXID_SIZE:
        raise ValueError(f"a STUN transaction id is {TXID_SIZE} bytes, got {len(txid)}")
    out = (ctypes.c_uint8 * 64)()
    n = ctypes.c_size_t()
    check(lib.derp_stun_build_tailscale_request(buffer_of(txid), out, 64, ctypes.byref(n)), "building STUN request")
    return bytes(out[: n.value]), txid


def parse_binding_response(data: bytes) -> Tuple[bytes, Tuple[str, int]]:
    """(txid, (ip, port)) from a binding success response, read as Tailscale's client reads it. Raises DerpError
    (NOT_STUN, STUN_NOT_SUCCESS_RESPONSE, MALFORMED, STUN_NO_ADDRESS)."""
    txid = (ctypes.c_uint8 * TXID_SIZE)()
    addr = Addr()
    check(lib.derp_stun_parse_binding_response(buffer_of(data), len(data), txid, ctypes.byref(addr)),
          "parsing STUN response")
    return bytes(txid), addr_to_tuple(addr)


@dataclass(frozen=True)
class StunResult:
    """What a STUN server saw: our public ip and port, and the round trip of the answered request in seconds."""

    ip: str
    port: int
    rtt: float
    server: Tuple[str, int]

    @property
    def endpoint(self) -> str:
        return format_endpoint(self.ip, self.port)

    def __str__(self) -> str:
        return f"{self.endpoint} (rtt {self.rtt * 1000:.3f} ms via {format_endpoint(*self.server)})"


def stun_probe(host: str, port: int = 3478, timeout: float = 3.0) -> StunResult:
    """Sends Tailscale-style binding requests to host:port over UDP (retransmitted at 0.1, 0.3, 0.7 s, ... as RFC 8489
    suggests, each with its own transaction id) and returns the first valid answer. Raises derp.Timeout when none
    arrives within `timeout` seconds, OSError for socket errors (e.g. an unresolvable host)."""
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    family, _, _, _, sockaddr = infos[0]
    sent = {}
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        start = time.monotonic()
        deadline = start + timeout
        next_send, interval = start, 0.1
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise Timeout(f"no STUN answer from {format_endpoint(host, port)} within {timeout} s")
            if now >= next_send:
                request, txid = tailscale_request()
                sock.sendto(request, sockaddr)
                sent[txid] = now
                next_send, interval = now + interval, interval * 2
            sock.settimeout(max(0.001, min(next_send, deadline) - now))
            try:
                data, _ = sock.recvfrom(2048)
            except socket.timeout:
                continue
            try:
                txid, (ip, mapped_port) = parse_binding_response(data)
            except DerpError:
                continue  # not an answer we can read: keep waiting, as Tailscale's client does
            if txid in sent:
                return StunResult(ip, mapped_port, time.monotonic() - sent[txid], (host, port))
