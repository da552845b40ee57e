"""The API key pepper's check value: a changed pepper is found at start-up.

Stored secrets are HMAC-SHA256(pepper, secret); with another pepper every one of them
fails, with a 401 that cannot say why. So the first start stores HMAC-SHA256(pepper,
:data:`CHECK_MESSAGE`) (which reveals nothing of the pepper) through the
:class:`~pulse_core.ports.meta.MetaRepository`, and every later start compares.
"""

from __future__ import annotations

import hashlib
import hmac

from pulse_core.errors import Conflict
from pulse_core.ports.meta import MetaRepository

#: The meta record's name, and the message whose HMAC is the check value.
CHECK_NAME = "api_key_pepper_check"
CHECK_MESSAGE = b"pulse pepper check"


def pepper_check_value(pepper: bytes) -> str:
    """``hmac-sha256:<hex>`` of :data:`CHECK_MESSAGE` under ``pepper``."""
    return "hmac-sha256:" + hmac.new(pepper, CHECK_MESSAGE, hashlib.sha256).hexdigest()


async def verify_pepper(meta: MetaRepository, pepper: bytes) -> None:
    """Store ``pepper``'s check value on first use; afterwards raise ``Conflict``
    (``code="pepper_changed"``) when ``pepper`` is not the one stored. ``Unavailable``
    when the backend is down."""
    expected = pepper_check_value(pepper)
    stored = await meta.put_if_absent(CHECK_NAME, expected)
    if not hmac.compare_digest(stored, expected):
        raise Conflict(
            "the API key pepper differs from the one this database was created with:"
            " every existing API key would fail with 401",
            code="pepper_changed",
        )
