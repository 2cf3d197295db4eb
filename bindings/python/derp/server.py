"""derp.Server: a DERP relay (and optionally a STUN server) run by libderp on its own thread (derp_uv_server in
thread mode). Nothing calls back into Python: the log and admission callbacks of the C API are not used here."""
from __future__ import annotations

import ctypes
from typing import Optional, Tuple

from ._lib import Addr, Closable, KeyBytes, declare_optional, lib
from .errors import CODES, Closed, Unsupported, check
from .keys import Key, PublicKey
from .stun import addr_to_tuple

c_int, c_size_t, c_uint32, c_uint64 = ctypes.c_int, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint64
size_p = ctypes.POINTER(c_size_t)


class _ServerOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t), ("private_key", ctypes.c_uint8 * 32), ("keepalive_ms", c_uint32),
        ("keepalive_jitter_ms", c_uint32), ("handshake_timeout_ms", c_uint32), ("write_timeout_ms", c_uint32),
        ("queue_packets", c_size_t), ("queue_bytes", c_size_t), ("max_connections", c_size_t),
        ("serve_derp", c_int), ("metrics_for_everyone", c_int), ("mesh_key", ctypes.c_char_p),
        ("home", ctypes.c_char_p), ("random_seed", c_uint64), ("log", ctypes.c_void_p), ("admit", ctypes.c_void_p),
        ("user_data", ctypes.c_void_p),
    ]


class _UvServerOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t), ("server", ctypes.POINTER(_ServerOptions)), ("listen", ctypes.c_char_p),
        ("stun_listen", ctypes.c_char_p), ("tls_mode", c_int), ("tls_cert_file", ctypes.c_char_p),
        ("tls_key_file", ctypes.c_char_p), ("tls_hostname", ctypes.c_char_p), ("tls_cert_dir", ctypes.c_char_p),
        ("accept_rate", ctypes.c_double), ("accept_burst", c_uint64), ("restart_reconnect_in_ms", c_uint32),
        ("restart_try_for_ms", c_uint32), ("shutdown_grace_ms", c_uint32),
    ]


_vp = ctypes.c_void_p
_HAVE_SERVER = all([
    declare_optional("derp_server_options_init", c_int, ctypes.POINTER(_ServerOptions), c_size_t),
    declare_optional("derp_uv_server_options_init", c_int, ctypes.POINTER(_UvServerOptions), c_size_t),
    declare_optional("derp_uv_server_new", c_int, _vp, ctypes.POINTER(_UvServerOptions), ctypes.POINTER(_vp)),
    declare_optional("derp_uv_server_start_thread", c_int, _vp),
    declare_optional("derp_uv_server_stop", c_int, _vp),
    declare_optional("derp_uv_server_free", None, _vp),
    declare_optional("derp_uv_server_derp_address", c_int, _vp, ctypes.POINTER(Addr)),
    declare_optional("derp_uv_server_public_key", c_int, _vp, KeyBytes),
    declare_optional("derp_uv_server_stun_address", c_int, _vp, ctypes.POINTER(Addr)),
    declare_optional("derp_uv_server_url", c_int, _vp, ctypes.c_char_p, c_size_t, size_p),
    declare_optional("derp_uv_server_cert_pin", c_int, _vp, ctypes.c_char_p, c_size_t, size_p),
    declare_optional("derp_uv_server_metrics_text", c_int, _vp, ctypes.c_char_p, c_size_t, size_p),
])

TLS_OFF, TLS_PEM_FILES, TLS_MANUAL_DIR, TLS_SELF_SIGNED = 0, 1, 2, 3


def _text_out(fn, handle, what: str) -> str:
    """Calls a text-returning C function twice if needed: once for the size, once for the text."""
    need = c_size_t()
    rc = fn(handle, None, 0, ctypes.byref(need))
    if rc not in (0, CODES["BUFFER_TOO_SMALL"]):
        check(rc, what)
    buf = ctypes.create_string_buffer(max(need.value, 1))
    check(fn(handle, buf, len(buf), ctypes.byref(need)), what)
    return buf.value.decode()


class Server(Closable):
    """A DERP server on `address` ("127.0.0.1:0" picks a free port) with STUN on `stun_address` (None: off;
    default: a free UDP port on 127.0.0.1).

        with derp.Server(address="127.0.0.1:0") as srv:
            srv.url            # "http://127.0.0.1:PORT/derp"
            srv.address        # ("127.0.0.1", PORT), the DERP listener
            srv.stun_address   # ("127.0.0.1", PORT), or None without STUN
            srv.public_key     # the server's PublicKey

    TLS: tls="self-signed" with tls_hostname an IP (clients pin srv.cert_pin), or tls="pem" with cert_file and
    key_file. It runs on a thread of its own until close(); Python is never called back from it."""

    def __init__(self, address: str = "127.0.0.1:0", *, stun_address: Optional[str] = "127.0.0.1:0",
                 key: Optional[Key] = None, tls: Optional[str] = None, tls_hostname: Optional[str] = None,
                 cert_file: Optional[str] = None, key_file: Optional[str] = None, mesh_key: Optional[str] = None,
                 max_connections: int = 0):
        if not _HAVE_SERVER:
            raise Unsupported("this libderp has no libuv server API (derp_uv_server_*)")
        self._handle = ctypes.c_void_p()
        self._closed = False
        core = _ServerOptions()
        check(lib.derp_server_options_init(ctypes.byref(core), ctypes.sizeof(core)), "server options")
        if key is not None:
            ctypes.memmove(core.private_key, key.raw, 32)
        self._keep = [address.encode(), stun_address.encode() if stun_address else None,
                      mesh_key.encode() if mesh_key else None, (tls_hostname or "").encode() or None,
                      cert_file.encode() if cert_file else None, key_file.encode() if key_file else None]
        core.mesh_key = self._keep[2]
        core.max_connections = max_connections
        opts = _UvServerOptions()
        check(lib.derp_uv_server_options_init(ctypes.byref(opts), ctypes.sizeof(opts)), "server options")
        opts.server = ctypes.pointer(core)
        opts.listen, opts.stun_listen = self._keep[0], self._keep[1]
        modes = {None: TLS_OFF, "self-signed": TLS_SELF_SIGNED, "pem": TLS_PEM_FILES}
        if tls not in modes:
            raise ValueError(f"tls must be None, 'self-signed' or 'pem', not {tls!r}")
        opts.tls_mode = modes[tls]
        opts.tls_hostname, opts.tls_cert_file, opts.tls_key_file = self._keep[3], self._keep[4], self._keep[5]
        check(lib.derp_uv_server_new(None, ctypes.byref(opts), ctypes.byref(self._handle)),
              f"creating server on {address}")
        rc = lib.derp_uv_server_start_thread(self._handle)
        if rc < 0:
            lib.derp_uv_server_free(self._handle)
            self._handle = ctypes.c_void_p()
            check(rc, f"starting server on {address}")
        self.url: str = _text_out(lib.derp_uv_server_url, self._handle, "server URL")
        addr = Addr()
        check(lib.derp_uv_server_derp_address(self._handle, ctypes.byref(addr)), "server address")
        self.address: Tuple[str, int] = addr_to_tuple(addr)
        self.stun_address: Optional[Tuple[str, int]] = None
        if stun_address:
            check(lib.derp_uv_server_stun_address(self._handle, ctypes.byref(addr)), "STUN address")
            self.stun_address = addr_to_tuple(addr)
        self.cert_pin: Optional[str] = (
            _text_out(lib.derp_uv_server_cert_pin, self._handle, "certificate pin") if tls else None)
        raw = KeyBytes()
        check(lib.derp_uv_server_public_key(self._handle, raw), "server key")
        self.public_key: PublicKey = PublicKey(bytes(raw))

    def metrics(self) -> str:
        """The Prometheus metrics page (what /debug/varz serves)."""
        return _text_out(lib.derp_uv_server_metrics_text, self._live(), "metrics")

    def _live(self):
        if self._closed:
            raise Closed("server is closed")
        return self._handle

    def close(self) -> None:
        """Stops the server (clients are told it is restarting) and joins its thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        handle, self._handle = self._handle, ctypes.c_void_p()
        if handle:
            lib.derp_uv_server_stop(handle)
            lib.derp_uv_server_free(handle)

