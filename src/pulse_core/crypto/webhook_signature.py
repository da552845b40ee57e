"""Standard Webhooks signatures (https://www.standardwebhooks.com/): what Pulse sends in
``webhook-signature``, and the ``whsec_`` secrets that make it.

Hand-written on the delivery path (a few HMACs per delivery); the ``standardwebhooks``
library is the oracle the tests check every byte against.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
_SECRET_BYTES = 32


def generate_webhook_secret() -> str:
    """A fresh ``whsec_<base64 of 32 random bytes>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")>``."""
    message = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    digest = hmac.new(_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(live_secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per live secret, space-separated
    (during a rotation's grace period, the new secret's and the old one's)."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in live_secrets)
