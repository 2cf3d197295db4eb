"""Finding and loading libderp.so, and the declarations of the C functions the package calls.

The library is looked up in this order, first hit wins:
  1. the path in the DERP_LIBRARY environment variable;
  2. a libderp.so* installed beside this package (derp/libderp.so.0, for a self-contained install);
  3. the build tree of the checkout this package sits in (build/*/libderp.so, newest first);
  4. the system, through ctypes.util.find_library("derp") (ldconfig's cache, /usr/local/lib after ldconfig).
When nothing loads, LibraryNotFound names every place tried.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from pathlib import Path
from typing import List, Optional

_PACKAGE_DIR = Path(__file__).resolve().parent


class LibraryNotFound(OSError):
    """libderp.so could not be found or loaded; the message lists what was tried."""


def _candidates() -> List[str]:
    tried: List[str] = []
    env = os.environ.get("DERP_LIBRARY")
    if env:
        tried.append(env)
    tried.extend(sorted(glob.glob(str(_PACKAGE_DIR / "libderp.so*"))))
    # bindings/python/derp -> the checkout root is three levels up.
    root = _PACKAGE_DIR.parent.parent.parent
    built = glob.glob(str(root / "build" / "*" / "libderp.so")) + glob.glob(str(root / "build" / "libderp.so"))
    built.sort(key=lambda p: os.path.getmtime(p), reverse=True)
    tried.extend(built)
    system = ctypes.util.find_library("derp")
    if system:
        tried.append(system)
    return tried


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
    where = "; ".join(errors) if errors else "nothing found"
    raise LibraryNotFound(
        "libderp.so not found. Tried, in order: DERP_LIBRARY (%s), a libderp.so beside the package (%s), the "
        "checkout's build tree (%s), and ctypes.util.find_library('derp'). Details: %s. Build the library "
        "(scripts/demo.sh or cmake) or set DERP_LIBRARY=/path/to/libderp.so."
        % (os.environ.get("DERP_LIBRARY", "unset"), _PACKAGE_DIR, _PACKAGE_DIR.parent.parent.parent / "build", where)
    )


lib: ctypes.CDLL = _load()

u8p = ctypes.POINTER(ctypes.c_uint8)
KeyBytes = ctypes.c_uint8 * 32


class Addr(ctypes.Structure):
    """derp_addr: family 4/6/0, port in host order, 16 IP bytes (IPv4 in the first 4)."""

    _fields_ = [("family", ctypes.c_uint8), ("reserved_", ctypes.c_uint8), ("port", ctypes.c_uint16),
                ("ip", ctypes.c_uint8 * 16)]


def _declare(name: str, restype, *argtypes) -> None:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


def declare_optional(name: str, restype, *argtypes) -> bool:
    """Declares a function the library may not have (an older libderp); False when it is missing."""
    if not hasattr(lib, name):
        return False
    _declare(name, restype, *argtypes)
    return True


c_int, c_size_t, c_char_p, c_void_p = ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p
size_p = ctypes.POINTER(ctypes.c_size_t)

_declare("derp_version", ctypes.c_uint)
_declare("derp_version_string", c_char_p)
_declare("derp_strerror", c_char_p, c_int)
_declare("derp_err_name", c_char_p, c_int)
_declare("derp_addr_parse", c_int, c_char_p, ctypes.POINTER(Addr))
_declare("derp_addr_format", c_int, ctypes.POINTER(Addr), c_char_p, c_size_t)

_declare("derp_key_generate", c_int, KeyBytes)
_declare("derp_key_public_from_private", c_int, KeyBytes, KeyBytes)
_declare("derp_key_format_public", c_int, KeyBytes, c_char_p, c_size_t)
_declare("derp_key_format_private", c_int, KeyBytes, c_char_p, c_size_t)
_declare("derp_key_parse_public", c_int, c_char_p, KeyBytes)
_declare("derp_key_parse_private", c_int, c_char_p, KeyBytes)
_declare("derp_key_short", c_int, KeyBytes, c_char_p, c_size_t)
_declare("derp_key_file_encode", c_int, KeyBytes, c_char_p, c_size_t)
_declare("derp_key_file_decode", c_int, c_char_p, c_size_t, KeyBytes)

_declare("derp_stun_is_stun", c_int, u8p, c_size_t)
_declare("derp_stun_build_tailscale_request", c_int, u8p, u8p, c_size_t, size_p)
_declare("derp_stun_parse_binding_response", c_int, u8p, c_size_t, u8p, ctypes.POINTER(Addr))


def buffer_of(data: bytes):
    """A ctypes view of bytes for a const uint8_t* parameter (no copy for bytes objects)."""
    return ctypes.cast(ctypes.c_char_p(data), u8p)


def library_path() -> Optional[str]:
    return getattr(lib, "_name", None)


class Closable:
    """A context manager over close(), which the subclass defines (idempotent); also closes when collected."""

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
