"""Finding and loading libderp.so, and the declarations of the C functions the package calls.

The library is looked up in this order, first hit wins:
  1. the path in the DERP_LIBRARY environment variable;
  2. a libderp.so* installed beside this package (derp/libderp.so.0, for a self-contained install);
  3. when this package sits in libderp's checkout (bindings/python), its build tree (build/*/libderp.so, newest
     first); an installed package skips this;
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
# bindings/python/derp -> the checkout's root is three levels up; an installed package (site-packages/derp) has
# no checkout around it, and then no build tree is searched or mentioned.
_CHECKOUT = _PACKAGE_DIR.parent.parent.parent
_IN_CHECKOUT = (_CHECKOUT / "include" / "derp" / "common.h").is_file() and (_PACKAGE_DIR.parent / "pyproject.toml").is_file()

# What the bundled library needs from the system (Debian 12 package names), said when it does not load.
_RUNTIME_PACKAGES = "libsodium23 libuv1 libwslay1 libmbedtls14 libmbedx509-1 libmbedcrypto7"


class LibraryNotFound(OSError):
    """libderp.so could not be found or loaded; the message lists what was tried and what builds it."""


def _candidates() -> List[str]:
    tried: List[str] = []
    env = os.environ.get("DERP_LIBRARY")
    if env:
        tried.append(env)
    tried.extend(sorted(glob.glob(str(_PACKAGE_DIR / "libderp.so*"))))
    if _IN_CHECKOUT:
        built = glob.glob(str(_CHECKOUT / "build" / "*" / "libderp.so")) + glob.glob(str(_CHECKOUT / "build" / "libderp.so"))
        built.sort(key=lambda p: os.path.getmtime(p), reverse=True)
        tried.extend(built)
    system = ctypes.util.find_library("derp")
    if system:
        tried.append(system)
    return tried


def _not_found_message(errors: List[str]) -> str:
    where = "; ".join(errors) if errors else "nothing found"
    places = [f"DERP_LIBRARY ({os.environ.get('DERP_LIBRARY', 'unset')})", f"a libderp.so* beside the package ({_PACKAGE_DIR})"]
    if _IN_CHECKOUT:
        places.append(f"the checkout's build tree ({_CHECKOUT / 'build'}/*/libderp.so)")
    places.append("ctypes.util.find_library('derp')")
    text = f"libderp.so not found. Tried, in order: {', '.join(places)}. Details: {where}."
    if _IN_CHECKOUT:
        # scripts/demo.sh builds only the example programs (linked with the static library): not libderp.so.
        text += (f" Build the shared library with: cmake -S {_CHECKOUT} -B {_CHECKOUT / 'build'} && cmake --build "
                 f"{_CHECKOUT / 'build'} --target derp (it writes build/libderp.so), or set DERP_LIBRARY=/path/to/libderp.so.")
    else:
        text += (" This installed package carries no working libderp.so: install a wheel built with the library "
                 "(pip wheel bindings/python in libderp's checkout: see its bindings/python/README.md), install libderp itself (cmake --install, "
                 "then ldconfig), or set DERP_LIBRARY=/path/to/libderp.so.")
    if any("cannot open shared object file" in e for e in errors):
        text += f" A library it depends on is missing; on Debian 12 they come from: {_RUNTIME_PACKAGES}."
    return text


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
    raise LibraryNotFound(_not_found_message(errors))


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
    """The path of the libderp.so that was loaded (derp.library_path())."""
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
