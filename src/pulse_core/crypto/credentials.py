"""Project API credentials: ``pulse_key_…`` and ``pulse_secret_…``.

Format: prefix + random base62 body + 6-character base62 CRC-32 of prefix and body. The
checksum lets Pulse reject a mistyped or made-up credential before any database lookup
(every single-character change breaks it: CRC-32 catches every error confined to 32
bits, and a changed checksum character changes the number it encodes). It is not a
secret and not a signature; the secret's strength is its body's entropy:

- key: 24 base62 characters, 142 bits (it identifies, it is not secret);
- secret: 40 base62 characters, 238 bits; stored only as HMAC-SHA256(pepper, secret).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib

from pulse_core.crypto.jwt import KeyedSha256

KEY_PREFIX = "pulse_key_"
SECRET_PREFIX = "pulse_secret_"  # noqa: S105 - a format prefix, not a secret
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KEY_BODY = 24
_SECRET_BODY = 40
_CHECKSUM = 6


# Every pair of base62 digits, in order: a CRC-32 (below 62**6) is written as three pairs,
# two divmods and three look-ups instead of six divmods (this runs on every request).
_PAIRS = tuple(high + low for high in _BASE62 for low in _BASE62)
_PAIR = 62 * 62


def _checksum(text: str) -> str:
    """The CRC-32 of ``text`` as 6 base62 digits, most significant first."""
    high, low = divmod(zlib.crc32(text.encode("ascii")), _PAIR)
    top, middle = divmod(high, _PAIR)
    return _PAIRS[top] + _PAIRS[middle] + _PAIRS[low]


def _generate(prefix: str, body_length: int) -> str:
    body = "".join(secrets.choice(_BASE62) for _ in range(body_length))
    return f"{prefix}{body}{_checksum(prefix + body)}"


def _well_formed(value: str, prefix: str, body_length: int) -> bool:
    if len(value) != len(prefix) + body_length + _CHECKSUM or not value.startswith(prefix):
        return False
    rest = value[len(prefix) :]
    # ASCII and alphanumeric is exactly the base62 alphabet (isascii() is O(1)).
    if not (rest.isascii() and rest.isalnum()):
        return False
    signed = len(prefix) + body_length
    return hmac.compare_digest(_checksum(value[:signed]), value[signed:])


def generate_api_key() -> str:
    return _generate(KEY_PREFIX, _KEY_BODY)


def generate_api_secret() -> str:
    return _generate(SECRET_PREFIX, _SECRET_BODY)


def is_well_formed_key(value: str) -> bool:
    """Prefix, length, alphabet and checksum of an API key; no lookup."""
    return _well_formed(value, KEY_PREFIX, _KEY_BODY)


def is_well_formed_secret(value: str) -> bool:
    """Prefix, length, alphabet and checksum of an API secret; no lookup."""
    return _well_formed(value, SECRET_PREFIX, _SECRET_BODY)


def hash_secret(secret: str, pepper: bytes) -> str:
    """What is stored for ``secret``: hex HMAC-SHA256 keyed with the server's pepper, so a
    leaked database alone cannot be used to check guesses."""
    return hmac.new(pepper, secret.encode("utf-8"), hashlib.sha256).hexdigest()


def secret_matches(secret: str, pepper: bytes, stored_hash: str) -> bool:
    """Constant-time check of ``secret`` against a stored hash."""
    return hmac.compare_digest(hash_secret(secret, pepper), stored_hash)


class SecretHasher:
    """:func:`hash_secret` and :func:`secret_matches` for one pepper, with the HMAC key
    schedule done once (each check then costs two hash-state copies, about a third of
    ``hmac.new``): for the authenticator, which checks a secret on every request."""

    __slots__ = ("_mac",)

    def __init__(self, pepper: bytes) -> None:
        self._mac = KeyedSha256(pepper)

    def hash(self, secret: str) -> str:
        # surrogatepass: any str hashes (to something no real secret hashes to) instead
        # of raising, since the format check no longer runs first on a cache hit.
        return self._mac.digest(secret.encode("utf-8", "surrogatepass")).hex()

    def matches(self, secret: str, stored_hash: str) -> bool:
        """Constant-time check of ``secret`` against a stored hash."""
        return hmac.compare_digest(self.hash(secret), stored_hash)
