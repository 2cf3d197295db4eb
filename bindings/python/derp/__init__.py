"""libderp for Python: Tailscale-compatible DERP relay and STUN through ctypes (no compiled extension).

    import derp
    a, b = derp.Key.generate(), derp.Key.generate()
    print(derp.stun_probe("127.0.0.1", 3478))

The shared library is found as derp/_lib.py describes (DERP_LIBRARY first).
"""
from ._lib import LibraryNotFound, library_path, lib as _library
from . import errors as _errors
from .errors import *  # noqa: F401,F403 - DerpError and one subclass per DERP_ERR_* code (Timeout, QueueFull, ...)
from .keys import Key, PublicKey
from .stun import StunResult, is_stun, parse_binding_response, stun_probe, tailscale_request
from .server import Server
from .client import Client, Event, EventType
from .aio import AsyncClient
from .netcheck import NetcheckReport, RegionLatency, netcheck

__all__ = [
    "DerpError", "Timeout", "Server", "Client", "AsyncClient", "Event", "EventType", "netcheck", "NetcheckReport", "RegionLatency", "LibraryNotFound", "Key", "PublicKey", "StunResult", "stun_probe", "is_stun",
    "tailscale_request", "parse_binding_response", "library_version", "library_path",
] + [name for name in _errors.__all__ if name not in ("DerpError", "Timeout", "check")]


def library_version() -> str:
    """The loaded libderp's version, "MAJOR.MINOR.PATCH"."""
    return _library.derp_version_string().decode()
