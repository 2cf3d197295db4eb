"""Exceptions carrying libderp's error codes (include/derp/common.h, DERP_ERRNO_MAP)."""
from __future__ import annotations

from ._lib import lib


class DerpError(Exception):
    """A libderp call failed. `code` is the negative DERP_ERR_* value, `name` its name (e.g. "KEY_HEX"), and the
    message is the library's own sentence, prefixed by what was being done."""

    def __init__(self, code: int, context: str = ""):
        self.code = code
        self.name = (lib.derp_err_name(code) or b"UNKNOWN").decode()
        self.reason = (lib.derp_strerror(code) or b"unknown error").decode()
        text = f"{self.reason} (DERP_ERR_{self.name}, {code})"
        super().__init__(f"{context}: {text}" if context else text)


class Timeout(DerpError):
    """Nothing arrived within the timeout (DERP_ERR_TIMEOUT)."""

    def __init__(self, context: str = ""):
        super().__init__(-8, context)


def check(code: int, context: str) -> int:
    """Raises DerpError (Timeout for DERP_ERR_TIMEOUT) for a negative code; returns it otherwise."""
    if code < 0:
        if code == -8:
            raise Timeout(context)
        raise DerpError(code, context)
    return code
