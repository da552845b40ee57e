"""In-process locks by name: the embedded default, where one process is the whole service.

Names are mutually exclusive within this process only: N replicas each using one would
each let a holder in. Use :class:`~pulse_adapters.redis.RedisLocks` when there are
replicas.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pulse_core.errors import Unavailable
from pulse_core.ports.locks import Locks


class _Entry:
    """The lock of one name, and how many callers hold it or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class InMemoryLocks(Locks):
    """One ``asyncio.Lock`` per name, created on first use and dropped when its last
    holder or waiter leaves, so the table holds only names in use. Waiters get the lock
    in arrival order (``asyncio.Lock`` is FIFO).

    ``lease_seconds`` is checked but not enforced: a holder in this process cannot die
    without its block's ``finally`` releasing the lock (a cancelled task unwinds too),
    and a process that dies takes its locks with it. Not reentrant: a task that holds a
    name and asks for it again waits for itself, then gets ``Unavailable``.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        """How many names have a holder or a waiter right now."""
        return len(self._entries)

    @asynccontextmanager
    async def hold(
        self, name: str, *, lease_seconds: float, wait_seconds: float
    ) -> AsyncIterator[None]:
        _check(lease_seconds, wait_seconds)
        entry = self._entries.get(name)
        if entry is None:
            entry = self._entries[name] = _Entry()
        entry.users += 1
        try:
            try:
                # A free lock is taken without suspending, so even wait_seconds=0 (an
                # already-expired timeout) succeeds when nobody holds the name.
                async with asyncio.timeout(wait_seconds):
                    await entry.lock.acquire()
            except TimeoutError as exc:
                raise Unavailable(f"lock {name!r} is held by someone else") from exc
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[name]


def _check(lease_seconds: float, wait_seconds: float) -> None:
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    if wait_seconds < 0:
        raise ValueError("wait_seconds must not be negative")
