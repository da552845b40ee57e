"""argon2id through argon2-cffi, off the event loop.

The default parameters are argon2-cffi's (RFC 9106's low-memory profile: 64 MiB, three
passes), tens of milliseconds of one core per hash: each sign-in and invitation accepted
pays that on a worker thread, so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pulse_core.ports.passwords import PasswordHasher


class Argon2PasswordHasher(PasswordHasher):
    """``time_cost`` / ``memory_cost`` (KiB) / ``parallelism`` default to argon2-cffi's;
    tests may lower them (a hash then proves nothing about strength, only correctness)."""

    def __init__(
        self,
        *,
        time_cost: int | None = None,
        memory_cost: int | None = None,
        parallelism: int | None = None,
    ) -> None:
        defaults = Argon2()
        self._argon2 = Argon2(
            time_cost=time_cost or defaults.time_cost,
            memory_cost=memory_cost or defaults.memory_cost,
            parallelism=parallelism or defaults.parallelism,
        )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
