"""A lock port: mutual exclusion by name across every process that shares the backend.

Quota checks that count and then create (the concurrent egresses of an organization)
hold one so that two requests at the limit, on two replicas, cannot both pass.
"""

from __future__ import annotations

import abc
from contextlib import AbstractAsyncContextManager


class Locks(abc.ABC):
    @abc.abstractmethod
    def hold(
        self, name: str, *, lease_seconds: float, wait_seconds: float
    ) -> AbstractAsyncContextManager[None]:
        """A context manager that holds the lock ``name`` inside its block.

        At most one holder per name at a time, across processes. Entering waits up to
        ``wait_seconds`` for the current holder, then raises ``Unavailable``. A holder
        that dies keeps the lock at most ``lease_seconds`` (then anyone may take it), so
        the block must finish within its lease; leaving releases the lock only if this
        holder still owns it (never another holder's after a lease ran out). A backend
        that is down raises ``Unavailable``."""
