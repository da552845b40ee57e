from __future__ import annotations

import abc
from datetime import datetime


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
