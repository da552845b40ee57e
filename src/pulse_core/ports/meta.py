"""A few named values a deployment keeps about itself, beside its data.

Today one: the check value of the API key pepper (:mod:`pulse_core.services.pepper`), so
that starting on a database with another pepper than the one it was created with is
refused with the reason, instead of every stored API secret failing with 401.
"""

from __future__ import annotations

import abc


class MetaRepository(abc.ABC):
    @abc.abstractmethod
    async def get(self, name: str) -> str | None:
        """The value stored under ``name``, or None when there is none. A backend that
        is down raises ``Unavailable``."""

    @abc.abstractmethod
    async def put_if_absent(self, name: str, value: str) -> str:
        """Store ``value`` under ``name`` unless a value is stored already; return the
        value stored afterwards (``value``, or the earlier one, left unchanged).

        Atomic across every process sharing the backend: of two first writers, one wins
        and both get the winner's value. A backend that is down raises ``Unavailable``."""
