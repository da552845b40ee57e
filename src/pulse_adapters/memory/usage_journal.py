"""Usage counts held in this process's memory (:class:`pulse_core.ports.usage.UsageJournal`):
a crash loses what was not flushed yet, and no page is ever an orphan. For unit tests and
embedders that accept that; ``pulse serve`` and ``pulse worker`` use
:class:`pulse_adapters.local.LocalUsageJournal`.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from pulse_core.ports.usage import CountPage, UsageJournal
from pulse_core.services.usage_counter import HeldCountPage


class InMemoryUsageJournal(UsageJournal):
    def __init__(self) -> None:
        # Page keys stay unique across journals (and runs): record ids derive from them.
        self._name = secrets.token_hex(8)
        self._opened = 0

    def open(self, hour: datetime) -> CountPage:
        self._opened += 1
        return HeldCountPage(f"{self._name}/{self._opened}", hour)

    def settle(self, page: CountPage) -> None:
        del page  # nothing is kept but the page itself

    def orphans(self) -> list[CountPage]:
        return []

    def close(self) -> None:
        pass
