"""Prefixed, URL-safe identifiers that sort by creation time.

An id is ``<prefix>_<26 chars>``: 10 Crockford base32 characters of milliseconds since the
epoch followed by 16 of randomness (80 bits), like a ULID. Sorting ids sorts objects by
creation time, which is what cursor pagination relies on.
"""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")

ORGANIZATION = "org"
PROJECT = "prj"
USER = "usr"
USAGE = "use"
EGRESS = "eg"
INGRESS = "ig"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """A fresh id with ``prefix``; ``now_ms`` lets a controlled clock stamp it."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{prefix}_{_encode(ms, 10)}{_encode(secrets.randbits(80), 16)}"


def is_valid_id(value: str, prefix: str) -> bool:
    """Whether ``value`` is shaped like an id of ``prefix`` (cheap, before any lookup)."""
    head, sep, body = value.partition("_")
    return sep == "_" and head == prefix and _BODY.fullmatch(body) is not None
