"""Exceptions for libderp's error codes, one class per entry of the C library's one error table
(include/derp/common.h, DERP_ERRNO_MAP), generated at import from what the loaded library says about each code
(derp_err_name, derp_strerror): no code or name is written down twice.

    try:
        client.recv(timeout=5)
    except derp.Timeout: ...          # DERP_ERR_TIMEOUT (also a builtin TimeoutError)
    except derp.NotConnected: ...     # DERP_ERR_NOT_CONNECTED
    except derp.DerpError as e: ...   # any other: e.code, e.name ("QUEUE_FULL"), e.reason

Class names are the table's names in CamelCase: INVALID_ARGUMENT -> InvalidArgument, QUEUE_FULL -> QueueFull,
TLS_PIN_MISMATCH -> TlsPinMismatch. `CODES` maps a name to its value, `ERROR_CLASSES` a value to its class.
"""
from __future__ import annotations

from typing import Dict, Type

from ._lib import lib

# The table's values are negative and grouped per module with gaps (common.h); every one so far is above -200.
# The scan reaches far below that so a new module's codes are found too; tests/test_layout.py checks that what it
# finds is exactly the header's table.
_SCAN_LOWEST = -4096


class DerpError(Exception):
    """A libderp call failed. `code` is the negative DERP_ERR_* value, `name` its name (e.g. "KEY_HEX"), and the
    message is the library's own sentence, prefixed by what was being done. Each code has its own subclass
    (derp.Timeout, derp.QueueFull, ...); error_for() picks it."""

    def __init__(self, code: int, context: str = ""):
        self.code = code
        self.name = (lib.derp_err_name(code) or b"UNKNOWN").decode()
        self.reason = (lib.derp_strerror(code) or b"unknown error").decode()
        self.context = context
        text = f"{self.reason} (DERP_ERR_{self.name}, {code})"
        super().__init__(f"{context}: {text}" if context else text)

    def __reduce__(self):
        return (error_for, (self.code, self.context))


class _CodedError(DerpError):
    """Base of the generated classes: the code is the class's, so only the context is given."""

    code: int

    def __init__(self, context: str = ""):
        super().__init__(type(self).code, context)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# Extra builtin bases where Python has the same idea, so `except TimeoutError` also catches derp.Timeout.
_BUILTIN_ALSO = {"TIMEOUT": TimeoutError}

CODES: Dict[str, int] = {}
ERROR_CLASSES: Dict[int, Type[DerpError]] = {}
for _code in range(-1, _SCAN_LOWEST - 1, -1):
    _name = lib.derp_err_name(_code).decode()
    if _name == "UNKNOWN":
        continue
    _bases = (_CodedError,) + ((_BUILTIN_ALSO[_name],) if _name in _BUILTIN_ALSO else ())
    _cls = type(_camel(_name), _bases, {
        "code": _code, "__module__": __name__,
        "__doc__": f"DERP_ERR_{_name} ({_code}): {lib.derp_strerror(_code).decode()}."})
    CODES[_name] = _code
    ERROR_CLASSES[_code] = _cls
    globals()[_cls.__name__] = _cls
del _code, _name, _bases, _cls

__all__ = ["DerpError", "CODES", "ERROR_CLASSES", "error_for", "check"] + [c.__name__ for c in ERROR_CLASSES.values()]


def error_for(code: int, context: str = "") -> DerpError:
    """The exception for a negative libderp code: its generated subclass, or DerpError for a code the table lacks."""
    cls = ERROR_CLASSES.get(code)
    return cls(context) if cls is not None else DerpError(code, context)


def check(code: int, context: str) -> int:
    """Raises error_for(code) for a negative code; returns the code otherwise."""
    if code < 0:
        raise error_for(code, context)
    return code
