"""Prefixed, URL-safe identifiers that sort by creation time.

An id is ``<prefix>_<26 chars>``: 10 Crockford base32 characters of milliseconds since the
epoch followed by 16 of randomness (80 bits), like a ULID. Sorting ids sorts objects by
creation time, which is what cursor pagination relies on.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")

ORGANIZATION = "org"
PROJECT = "prj"
USER = "usr"
USAGE = "use"
EGRESS = "eg"
INGRESS = "ig"
EVENT = "evt"
WEBHOOK_ENDPOINT = "whe"
DELIVERY = "whd"
API_KEY = "key"
SESSION = "ses"
AUDIT = "aud"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str, *, now_ms: int) -> str:
    """A fresh id with ``prefix``, stamped with ``now_ms`` (milliseconds since the epoch).

    The time is required, not read here: it comes from the caller's ``Clock``, so that an
    id's order agrees with the times stored beside it, under a test's clock too.
    """
    return f"{prefix}_{_encode(now_ms, 10)}{_encode(secrets.randbits(80), 16)}"


def derived_id(prefix: str, *, now_ms: int, seed: str) -> str:
    """An id like :func:`new_id` whose 80 random bits are a hash of ``seed`` instead: the
    same seed and time give the same id, so work that may run twice (a LiveKit webhook
    sent again, a job handed out again) writes the same object, never a second one."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big")
    return f"{prefix}_{_encode(now_ms, 10)}{_encode(digest, 16)}"


def ms_of(moment: datetime) -> int:
    """``moment`` as the milliseconds since the epoch that :func:`new_id` takes."""
    return int(moment.timestamp() * 1000)


def is_valid_id(value: str, prefix: str) -> bool:
    """Whether ``value`` is shaped like an id of ``prefix`` (cheap, before any lookup)."""
    head, sep, body = value.partition("_")
    return sep == "_" and head == prefix and _BODY.fullmatch(body) is not None
