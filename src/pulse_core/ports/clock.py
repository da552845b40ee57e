from __future__ import annotations

import abc
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Clock(abc.ABC):
    """Time, behind a port so tests can control it.

    Unlike the I/O ports its methods are synchronous: reading a clock never blocks.
    """

    @abc.abstractmethod
    def now(self) -> datetime:
        """The current time as a timezone-aware UTC datetime."""

    def time(self) -> float:
        """The current time as seconds since the epoch (same instant as :meth:`now`)."""
        return self.now().timestamp()

    def micros(self) -> int:
        """The current time as whole microseconds since the epoch, exactly (same instant
        as :meth:`now`; rate limiting counts in these)."""
        return (self.now() - _EPOCH) // _MICROSECOND
