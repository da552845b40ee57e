"""Query parameters several routes share.

Times in a query string are ISO 8601 with a time zone (``2026-11-01T00:00:00Z``), parsed
here rather than by Litestar: Litestar's lax conversion would take a number for a Unix
timestamp and a time without a zone for a naive one (which no store can compare with
its own, timezone-aware, times), and it would name a malformed value by the handler's
argument (``since``) rather than the query parameter (``from``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar.params import QueryParameter

from pulse_core.errors import InvalidInput

#: ``?since=`` / ``?until=``: parse with :func:`moment`.
Since = Annotated[str | None, QueryParameter(format="date-time")]
Until = Annotated[str | None, QueryParameter(format="date-time")]
#: ``?from=`` / ``?to=`` (``from`` is a keyword in Python): parse with :func:`moment`.
From = Annotated[str | None, QueryParameter(name="from", format="date-time")]
To = Annotated[str | None, QueryParameter(name="to", format="date-time")]


def moment(value: str | None, name: str) -> datetime | None:
    """``value`` as a timezone-aware datetime, None when absent, or :class:`InvalidInput`
    naming the query parameter ``name``."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO 8601 date and time (e.g. 2026-11-01T00:00:00Z)", field=name
        ) from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{name} must carry a time zone (Z for UTC)", field=name)
    return parsed
