"""What both webhook senders make of an answer: how much of it is kept, ``Retry-After``,
and the short reasons a failed delivery is given (shown to the customer, so they name
the kind of failure and never the operator's addresses)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Final

#: How much of an answer is read (and kept, as the attempt's excerpt).
MAX_ANSWER_BYTES: Final = 4096
EXCERPT_CHARS: Final = 512

CONNECTION_FAILED: Final = "connection failed"
CLOSED: Final = "the server closed the connection"
MALFORMED: Final = "the answer was malformed"
TLS_FAILED: Final = "TLS handshake failed"


def excerpt(answer: bytes) -> str:
    return answer[:MAX_ANSWER_BYTES].decode("utf-8", "replace")[:EXCERPT_CHARS]


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²" or "٣", which float() refuses
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
