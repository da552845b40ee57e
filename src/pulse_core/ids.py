"""Prefixed, URL-safe identifiers that sort by creation time.

An id is ``<prefix>_<26 chars>``: 10 Crockford base32 characters of milliseconds since the
epoch followed by 16 of randomness (80 bits), like a ULID. Sorting ids sorts objects by
creation time, which is what cursor pagination relies on.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

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


_TIME_BITS, _RANDOM_BITS = 50, 80
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Ids are made on every event and delivery a worker handles. Two characters (10 bits) per
# lookup takes half the time of the standard library's base32, which is Python code on
# 3.11; tests/unit/test_ids.py checks the result against the plain definition.
_PAIRS = tuple(first + second for first in _ALPHABET for second in _ALPHABET)
_PAIR_SHIFTS = tuple(range(_TIME_BITS + _RANDOM_BITS - 10, -1, -10))


def _body(now_ms: int, random: int) -> str:
    """26 characters: ``now_ms``'s low 50 bits, then ``random``'s 80, most significant
    first, 5 bits a character."""
    value = ((now_ms & ((1 << _TIME_BITS) - 1)) << _RANDOM_BITS) | random
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def new_id(prefix: str, *, now_ms: int) -> str:
    """A fresh id with ``prefix``, stamped with ``now_ms`` (milliseconds since the epoch).

    The time is required, not read here: it comes from the caller's ``Clock``, so that an
    id's order agrees with the times stored beside it, under a test's clock too.
    """
    return f"{prefix}_{_body(now_ms, secrets.randbits(_RANDOM_BITS))}"


def derived_id(prefix: str, *, now_ms: int, seed: str) -> str:
    """An id like :func:`new_id` whose 80 random bits are a hash of ``seed`` instead: the
    same seed and time give the same id, so work that may run twice (a LiveKit webhook
    sent again, a job handed out again) writes the same object, never a second one."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big")
    return f"{prefix}_{_body(now_ms, digest)}"


def first_at(prefix: str, *, now_ms: int) -> str:
    """The lowest id of ``prefix`` stamped ``now_ms``: every id made earlier sorts below
    it, every id made then or later does not (how "older than" becomes an id range)."""
    return f"{prefix}_{_body(now_ms, 0)}"


def moment_of(value: str) -> datetime:
    """When the id was stamped (its ``now_ms``), in UTC, to the millisecond; the id must
    be valid (:func:`is_valid_id`) and stamped before year 10000."""
    stamp = 0
    for char in value.partition("_")[2][:10]:  # 10 characters of 5 bits: the 50 time bits
        stamp = stamp << 5 | _ALPHABET.index(char)
    return _EPOCH + timedelta(milliseconds=stamp)


def ms_of(moment: datetime) -> int:
    """``moment`` as the milliseconds since the epoch that :func:`new_id` takes."""
    return int(moment.timestamp() * 1000)


def is_valid_id(value: str, prefix: str) -> bool:
    """Whether ``value`` is shaped like an id of ``prefix`` (cheap, before any lookup)."""
    head, sep, body = value.partition("_")
    return sep == "_" and head == prefix and _BODY.fullmatch(body) is not None
