"""Input rules shared by the services, so embedders get the same checks as HTTP callers.

Each helper returns the normalized value or raises :class:`InvalidInput` naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from datetime import datetime
from typing import Final
from urllib.parse import SplitResult, urlsplit

from pulse_core.errors import InvalidInput

# Local part and domain kept deliberately simple (RFC 5322 allows far more, no mail
# system a customer uses does); the point is to catch typos and garbage, not to parse.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
MAX_NAME = 200
MAX_EMAIL = 254
MAX_URL = 2048


def has_control(value: str) -> bool:
    """Whether ``value`` holds a control character (NUL included) or a lone surrogate."""
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


#: Characters that change how the text around them shows without showing themselves:
#: the bidirectional embeddings, overrides and isolates (a name can read backwards in
#: the dashboard, the audit log or a customer's UI) and the zero-width spaces and
#: joiners that make two names look the same. The zero-width (non-)joiner stay: Persian,
#: Indic scripts and emoji sequences need them.
INVISIBLE: Final = frozenset(
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # isolates
    "\u200b\u2060\ufeff\u180e"  # zero-width space, word joiner, BOM, Mongolian separator
)


def text(value: str, field: str, *, max_length: int, allow_empty: bool = False) -> str:
    """Free text shown to people (names, descriptions): stripped, bounded, with no control
    character (NUL included) and nothing of :data:`INVISIBLE`."""
    value = value.strip()
    if not value and not allow_empty:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters", field=field)
    if has_control(value):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    if not INVISIBLE.isdisjoint(value):
        raise InvalidInput(
            f"{field} must not contain invisible or text-direction characters", field=field
        )
    return value


def name(value: str, field: str = "name") -> str:
    return text(value, field, max_length=MAX_NAME)


def email(value: str, field: str = "email") -> str:
    """A plausible address, lower-cased so uniqueness is case-insensitive."""
    value = value.strip()
    if len(value) > MAX_EMAIL or _EMAIL.fullmatch(value) is None:
        raise InvalidInput(f"{field} must be a valid email address", field=field)
    return value.lower()


def url(value: object, field: str, *, schemes: Collection[str], max_length: int = MAX_URL) -> str:
    """An absolute URL with one of ``schemes`` and a host, bounded, with no spaces or
    control characters (webhooks, RTMP outputs, pulled streams, web egress pages)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{field} is required", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters", field=field)
    if has_control(value) or any(ch.isspace() for ch in value):
        raise InvalidInput(f"{field} must not contain spaces or control characters", field=field)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise InvalidInput(f"{field} is not a valid URL", field=field) from None
    if parts.scheme.lower() not in schemes or not host:
        allowed = " or ".join(f"{scheme}://" for scheme in schemes)
        raise InvalidInput(f"{field} must be an absolute {allowed} URL with a host", field=field)
    if not _valid_port(parts):
        raise InvalidInput(f"{field} must have a port from 1 to 65535 (or none)", field=field)
    return value


def _valid_port(parts: SplitResult) -> bool:
    """Whether the port of ``parts`` is absent or ASCII digits naming 1..65535 (urllib
    raises ValueError past 65535 or for a sign, and takes ``:0``, ``:+80`` or ``:٨٠``)."""
    host_port = parts.netloc.rpartition("@")[2]
    if host_port.startswith("["):  # an IP literal: "[::1]" or "[::1]:8080", nothing else
        rest = host_port.partition("]")[2]
        if rest and not rest.startswith(":"):
            return False
        digits = rest[1:]
    else:
        digits = host_port.rpartition(":")[2] if ":" in host_port else ""
    if not digits:
        return True  # no port, or "host:": the scheme's default port (RFC 3986)
    if not (digits.isascii() and digits.isdigit()):
        return False
    try:
        port = parts.port
    except ValueError:
        return False
    return port is not None and 1 <= port <= 65535


def http_url(value: str, field: str) -> str:
    """An absolute http(s) URL with a host (surrounding whitespace dropped)."""
    return url(value.strip(), field, schemes=("http", "https"))


def webhook_url(value: str, field: str, *, schemes: Collection[str] = ("http", "https")) -> str:
    """A URL Pulse posts webhooks to: :func:`url` (surrounding whitespace dropped), with
    no user name or password in it. Senders never turn those into an ``Authorization``
    header, so the receiver would not get what the URL seems to promise, and every
    listing of the endpoint would show them."""
    checked = url(value.strip() if isinstance(value, str) else value, field, schemes=schemes)
    if "@" in urlsplit(checked).netloc:
        raise InvalidInput(
            f"{field} must not hold a user name or password: check the signature instead",
            field=field,
        )
    return checked


def int_range(value: int, field: str, *, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidInput(f"{field} must be between {low} and {high}", field=field)
    return value


def aware(moment: datetime, field: str) -> datetime:
    """``moment`` if it says which time zone it is in: a naive time is no instant, and
    comparing one with Pulse's UTC times fails."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{field} must carry a time zone (Z for UTC)", field=field)
    return moment
