"""Password hashing: slow on purpose, so an adapter runs it off the event loop."""

from __future__ import annotations

import abc


class PasswordHasher(abc.ABC):
    @abc.abstractmethod
    async def hash(self, password: str) -> str:
        """A self-describing hash of ``password`` (algorithm, parameters and salt in the
        string), e.g. argon2id's PHC format."""

    @abc.abstractmethod
    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``; False (never an exception) for
        a wrong password or a malformed hash. Takes as long either way."""

    @abc.abstractmethod
    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with weaker parameters than today's."""
