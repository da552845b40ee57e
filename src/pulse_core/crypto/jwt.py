"""HS256 JSON Web Tokens (RFC 7519), encoded and verified without third-party code.

Both the management JWTs and the LiveKit access tokens Pulse mints are HS256. Minting a
LiveKit token is Pulse's hot path, so :class:`HS256Signer` keeps the HMAC key schedule
ready (both pads hashed once) and only copies it per token. Verification accepts exactly
``alg: HS256``: ``none`` and every other algorithm are refused before the signature is
looked at.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from typing import Any

import msgspec

_json_encode = msgspec.json.Encoder().encode
_json_decode_object = msgspec.json.Decoder(dict[str, Any]).decode
# base64url without padding (RFC 7515 section 2) straight on binascii: the base64 module's
# wrappers add two Python calls per segment, and a token has two segments to encode.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_b2a = binascii.b2a_base64
_sha256 = hashlib.sha256
_BLOCK = 64  # SHA-256 block size, for the HMAC pads


def _b64encode(data: bytes) -> bytes:
    return _b2a(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def _b64decode(segment: str) -> bytes:
    """Strict base64url: characters outside the alphabet are an error, not skipped."""
    padded = segment.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(segment) % 4)
    return binascii.a2b_base64(padded, strict_mode=True)


_HEADER = _b64encode(b'{"alg":"HS256","typ":"JWT"}')
_HEADER_DOT = _HEADER + b"."
# RFC 2104 pads as translation tables: key.translate(_IPAD) is key XOR 0x36 bytewise.
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class _KeyedSha256:
    """HMAC-SHA256 (RFC 2104) with both pads hashed once, at construction.

    ``hmac.HMAC.copy()`` builds a Python object per call; copying the two pre-keyed
    ``hashlib`` states is pure C and halves the cost of a MAC on a token-sized message.
    Thread-safe: the keyed states are only ever copied, never updated.
    """

    __slots__ = ("inner", "outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = _sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self.inner = _sha256(key.translate(_IPAD))
        self.outer = _sha256(key.translate(_OPAD))

    def digest(self, message: bytes) -> bytes:
        inner = self.inner.copy()
        inner.update(message)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()


#: Public name for the other HMAC-SHA256 users of ``pulse_core.crypto`` (secret hashing).
KeyedSha256 = _KeyedSha256


def _key_bytes(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        # Anyone can sign with an empty key: a verifier with one accepts forgeries.
        raise ValueError("an HS256 key must not be empty")
    return key


class TokenError(Exception):
    """A token that cannot be accepted; ``reason`` is a stable code:
    ``malformed``, ``unsupported_algorithm``, ``bad_signature``, ``expired``,
    ``not_yet_valid``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HS256Signer:
    """Signs claims with one key. Thread-safe: each call works on its own HMAC copy."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: str | bytes) -> None:
        mac = _KeyedSha256(_key_bytes(secret))
        self._inner = mac.inner
        self._outer = mac.outer

    def sign(self, claims: Any) -> str:
        """``claims`` is anything msgspec can encode as a JSON object (dict or Struct)."""
        # _KeyedSha256.digest and _b64encode inlined: this runs once per token minted, and
        # the three Python calls they cost are a tenth of the whole signature.
        signing_input = _HEADER_DOT + _b2a(_json_encode(claims), newline=False).translate(
            _TO_URLSAFE
        ).rstrip(b"=")
        inner = self._inner.copy()
        inner.update(signing_input)
        outer = self._outer.copy()
        outer.update(inner.digest())
        signature = _b2a(outer.digest(), newline=False).translate(_TO_URLSAFE).rstrip(b"=")
        return (signing_input + b"." + signature).decode("ascii")


class HS256Verifier:
    """Checks signature, ``exp`` and ``nbf`` of HS256 tokens signed with one key."""

    __slots__ = ("_mac",)

    def __init__(self, secret: str | bytes) -> None:
        self._mac = _KeyedSha256(_key_bytes(secret))

    def decode(self, token: str, *, now: float, leeway: float = 0.0) -> dict[str, Any]:
        """The verified claims of ``token`` at time ``now``; :class:`TokenError` otherwise.

        ``exp`` and ``nbf`` are honoured when present; requiring them is the caller's job.
        The signature must be the canonical base64url of the MAC: a segment whose unused
        trailing bits differ (same bytes, different text) is a ``bad_signature``, so a
        token has exactly one valid spelling.
        """
        if not isinstance(token, str) or not token.isascii():
            raise TokenError("malformed")
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("malformed")
        header_b64, payload_b64, signature_b64 = parts
        try:
            header = _json_decode_object(_b64decode(header_b64))
        except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
            raise TokenError("malformed") from exc
        _check_header(header)
        signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
        expected = _b64encode(self._mac.digest(signing_input))
        if not hmac.compare_digest(expected, signature_b64.encode("ascii")):
            raise TokenError("bad_signature")
        try:
            claims = _json_decode_object(_b64decode(payload_b64))
        except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
            raise TokenError("malformed") from exc
        exp = claims.get("exp")
        if exp is not None:
            if not _is_number(exp):
                raise TokenError("malformed")
            if now > exp + leeway:
                raise TokenError("expired")
        nbf = claims.get("nbf")
        if nbf is not None:
            if not _is_number(nbf):
                raise TokenError("malformed")
            if now + leeway < nbf:
                raise TokenError("not_yet_valid")
        return claims


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_header(header: dict[str, Any]) -> None:
    if header.get("alg") != "HS256":
        raise TokenError("unsupported_algorithm")
    if "crit" in header:
        # Extensions the token says must be understood; this verifier knows none
        # (RFC 7515, 4.1.11), so it may not accept the token by ignoring them.
        raise TokenError("malformed")


class _Duplicate(Exception):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _Duplicate
    return members


def has_duplicate_members(token: str) -> bool:
    """Whether the header or the claims of ``token`` (a well-formed JWT: call after
    :meth:`HS256Verifier.decode`) name a member twice, at any depth. RFC 7519 lets a
    parser keep the last one, as :meth:`HS256Verifier.decode` does; LiveKit's (Go) merges
    two objects of one name instead, so a token judged by one would not be the token
    the other honours. Not on :meth:`~HS256Verifier.decode`'s path: it costs a second
    parse, paid only where that judgement is asked for (token validation)."""
    header_b64, payload_b64, _ = token.split(".")
    try:
        for segment in (header_b64, payload_b64):
            json.loads(_b64decode(segment), object_pairs_hook=_unique_members)
    except _Duplicate:
        return True
    return False
