"""libderp for Python: Tailscale-compatible DERP relay and STUN through ctypes (no compiled extension).

    import derp
    a, b = derp.Key.generate(), derp.Key.generate()
    print(derp.stun_probe("127.0.0.1", 3478))

The shared library is found as derp/_lib.py describes (DERP_LIBRARY first).
"""
from ._lib import LibraryNotFound, lib as _lib
from .errors import DerpError, Timeout
from .keys import Key, PublicKey
from .stun import StunResult, is_stun, parse_binding_response, stun_probe, tailscale_request
from .server import Server
from .client import Client, Event, EventType
from .netcheck import NetcheckReport, RegionLatency, netcheck

__all__ = [
    "DerpError", "Timeout", "Server", "Client", "Event", "EventType", "netcheck", "NetcheckReport", "RegionLatency", "LibraryNotFound", "Key", "PublicKey", "StunResult", "stun_probe", "is_stun",
    "tailscale_request", "parse_binding_response", "library_version",
]


def library_version() -> str:
    """The loaded libderp's version, "MAJOR.MINOR.PATCH"."""
    return _lib.derp_version_string().decode()
