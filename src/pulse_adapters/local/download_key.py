"""The key that signs local-storage download URLs, derived from ``JWT_SECRET``.

Derived rather than configured: every replica that knows ``JWT_SECRET`` signs and checks
the same URLs with nothing more to set, and the fixed label keeps the key independent of
the JWT key (neither can forge the other's signatures). Changing ``JWT_SECRET`` voids
every outstanding download URL (docs/configuration.md says so).
"""

from __future__ import annotations

import hashlib
import hmac

#: HKDF ``info`` of the key that signs local-storage download URLs. Changing it voids
#: every outstanding download URL.
DOWNLOAD_KEY_INFO = b"pulse local-storage download URLs v1"


def download_signing_key(jwt_secret: str) -> bytes:
    """The ``signing_key`` of :class:`~pulse_adapters.local.LocalObjectStorage`:
    HKDF-SHA256 (RFC 5869) of ``jwt_secret`` with an empty salt and
    :data:`DOWNLOAD_KEY_INFO`, 32 bytes (one output block)."""
    # Extract: an empty salt is HashLen zero bytes (RFC 5869, 2.2).
    prk = hmac.new(b"\0" * hashlib.sha256().digest_size, jwt_secret.encode(), hashlib.sha256)
    # Expand, first block only: T(1) = HMAC(PRK, info || 0x01).
    return hmac.new(prk.digest(), DOWNLOAD_KEY_INFO + b"\x01", hashlib.sha256).digest()


__all__ = ["DOWNLOAD_KEY_INFO", "download_signing_key"]
