"""Node keys: a private Key (what a client or server is) and its PublicKey (what others address packets to).

Text forms are Tailscale's: "privkey:<64 hex>" and "nodekey:<64 hex>". Key files use derper's JSON form
{"PrivateKey":"privkey:<hex>"}.
"""
from __future__ import annotations

import ctypes
import os
from typing import Union

from ._lib import KeyBytes, lib
from .errors import check

_TEXT_CAP = 80


def _key_bytes(raw: bytes) -> KeyBytes:
    if len(raw) != 32:
        raise ValueError(f"a key is 32 bytes, got {len(raw)}")
    return KeyBytes.from_buffer_copy(raw)


def _text(fn, key: KeyBytes, what: str) -> str:
    buf = ctypes.create_string_buffer(_TEXT_CAP)
    check(fn(key, buf, _TEXT_CAP), what)
    return buf.value.decode()


class PublicKey:
    """A node's public key. Immutable, hashable, compares by value; str() gives "nodekey:<hex>"."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes):
        if len(raw) != 32:
            raise ValueError(f"a public key is 32 bytes, got {len(raw)}")
        self._raw = bytes(raw)

    @classmethod
    def from_text(cls, text: str) -> "PublicKey":
        """Parses "nodekey:<64 hex>"; raises DerpError (KEY_PREFIX, KEY_LENGTH, KEY_HEX) otherwise."""
        out = KeyBytes()
        check(lib.derp_key_parse_public(text.encode(), out), f"parsing public key {text!r}")
        return cls(bytes(out))

    def __bytes__(self) -> bytes:
        return self._raw

    @property
    def raw(self) -> bytes:
        return self._raw

    def short(self) -> str:
        """The short form Tailscale logs use: "[" + 5 base64 characters + "]"."""
        return _text(lib.derp_key_short, _key_bytes(self._raw), "formatting key")

    def __str__(self) -> str:
        return _text(lib.derp_key_format_public, _key_bytes(self._raw), "formatting key")

    def __repr__(self) -> str:
        return f"PublicKey({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)


class Key:
    """A node's private key. str() deliberately does not show it: use .text() when you mean to."""

    __slots__ = ("_raw", "_public")

    def __init__(self, raw: bytes):
        if len(raw) != 32:
            raise ValueError(f"a private key is 32 bytes, got {len(raw)}")
        self._raw = bytes(raw)
        pub = KeyBytes()
        check(lib.derp_key_public_from_private(_key_bytes(self._raw), pub), "deriving the public key")
        self._public = PublicKey(bytes(pub))

    @classmethod
    def generate(cls) -> "Key":
        """A new random key (libsodium's CSPRNG)."""
        out = KeyBytes()
        check(lib.derp_key_generate(out), "generating a key")
        return cls(bytes(out))

    @classmethod
    def from_text(cls, text: str) -> "Key":
        """Parses "privkey:<64 hex>"."""
        out = KeyBytes()
        check(lib.derp_key_parse_private(text.encode(), out), "parsing private key")
        return cls(bytes(out))

    @classmethod
    def from_file_text(cls, text: Union[str, bytes]) -> "Key":
        """Reads derper's key-file JSON {"PrivateKey":"privkey:<hex>"}."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        out = KeyBytes()
        check(lib.derp_key_file_decode(data, len(data), out), "reading key file")
        return cls(bytes(out))

    @classmethod
    def load_or_create(cls, path: Union[str, os.PathLike]) -> "Key":
        """The key in a derper-style key file, creating the file (mode 0600) with a new key when it is missing."""
        try:
            with open(path, "rb") as f:
                return cls.from_file_text(f.read())
        except FileNotFoundError:
            key = cls.generate()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key.file_text())
            return key

    @property
    def public(self) -> PublicKey:
        return self._public

    @property
    def raw(self) -> bytes:
        return self._raw

    def text(self) -> str:
        """"privkey:<64 hex>" — secret."""
        return _text(lib.derp_key_format_private, _key_bytes(self._raw), "formatting key")

    def file_text(self) -> str:
        """derper's key-file JSON for this key — secret."""
        buf = ctypes.create_string_buffer(256)
        check(lib.derp_key_file_encode(_key_bytes(self._raw), buf, 256), "encoding key file")
        return buf.value.decode()

    def __repr__(self) -> str:
        return f"Key(public={str(self._public)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)
