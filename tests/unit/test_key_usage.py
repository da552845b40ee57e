"""KeyUsage: each use noted in process, the latest times written in batches, to the
repository of each kind of key (named keys: ``touch``; a project's own pair:
``touch_keys``), and whatever a failed write could not store kept for the next flush."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryApiKeyRepository, InMemoryProjectRepository
from pulse_core.errors import Unavailable
from pulse_core.models.keys import PRIMARY_KEY_ID
from pulse_core.services.keys import KeyUsage
from tests.support import builders


class Keys(InMemoryApiKeyRepository):
    """Records each batch; fails with ``failure`` while it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[dict[str, datetime]] = []
        self.failure: BaseException | None = None

    async def touch(self, last_used: Mapping[str, datetime]) -> None:
        if self.failure is not None:
            raise self.failure
        self.batches.append(dict(last_used))
        await super().touch(last_used)


class Projects(InMemoryProjectRepository):
    """Records each batch; fails with ``failure`` while it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[dict[str, datetime]] = []
        self.failure: BaseException | None = None

    async def touch_keys(self, used: Mapping[str, datetime]) -> None:
        if self.failure is not None:
            raise self.failure
        self.batches.append(dict(used))
        await super().touch_keys(used)


@pytest.fixture
async def setup(clock: ManualClock) -> tuple[KeyUsage, Keys, Projects]:
    keys, projects = Keys(), Projects()
    return KeyUsage(keys, projects, clock), keys, projects


async def test_primary_and_named_uses_are_flushed_to_their_own_repository(
    setup: tuple[KeyUsage, Keys, Projects], clock: ManualClock
) -> None:
    usage, keys, projects = setup
    project, idle = builders.project("org_a"), builders.project("org_a")
    key = builders.api_key(project.id, "org_a")
    await projects.add(project)
    await projects.add(idle)
    await keys.add(key)
    first = clock.now()

    usage.used(PRIMARY_KEY_ID, project.id)
    usage.used(key.id, project.id)
    clock.advance(5)
    usage.used(PRIMARY_KEY_ID, project.id)  # the latest use is the one kept
    # Noting is all a request does: nothing is written until the flush.
    assert keys.batches == [] and projects.batches == []

    assert await usage.flush() == 2
    assert projects.batches == [{project.id: clock.now()}]
    assert keys.batches == [{key.id: first}]  # "primary" never reaches the key repository
    stored = await projects.get(project.id)
    assert stored is not None and stored.key_last_used_at == clock.now()
    stored_key = await keys.get(project.id, key.id)
    assert stored_key is not None and stored_key.last_used_at == first
    untouched = await projects.get(idle.id)
    assert untouched is not None and untouched.key_last_used_at is None

    # Nothing new: no write at all.
    assert await usage.flush() == 0
    assert len(projects.batches) == 1 and len(keys.batches) == 1


async def test_a_failed_flush_keeps_both_kinds_for_the_next_one(
    setup: tuple[KeyUsage, Keys, Projects], clock: ManualClock
) -> None:
    usage, keys, projects = setup
    t0 = clock.now()
    usage.used(PRIMARY_KEY_ID, "prj_a")
    usage.used("key_a", "prj_a")
    keys.failure = projects.failure = Unavailable("database down")
    with pytest.raises(Unavailable):
        await usage.flush()

    clock.advance(3)
    usage.used(PRIMARY_KEY_ID, "prj_b")  # used meanwhile: noted beside what was kept
    keys.failure = projects.failure = None
    assert await usage.flush() == 3
    assert keys.batches == [{"key_a": t0}]
    assert projects.batches == [{"prj_a": t0, "prj_b": t0 + timedelta(seconds=3)}]


async def test_one_failed_write_does_not_hold_back_the_other(
    setup: tuple[KeyUsage, Keys, Projects], clock: ManualClock
) -> None:
    usage, keys, projects = setup
    t0 = clock.now()
    usage.used(PRIMARY_KEY_ID, "prj_a")
    usage.used("key_a", "prj_a")
    keys.failure = Unavailable("api_keys locked")
    with pytest.raises(Unavailable):
        await usage.flush()
    assert projects.batches == [{"prj_a": t0}]  # written all the same

    # The kept time does not hide a later use noted before the retry.
    clock.advance(2)
    usage.used("key_a", "prj_a")
    keys.failure = None
    assert await usage.flush() == 1
    assert keys.batches == [{"key_a": t0 + timedelta(seconds=2)}]
    assert len(projects.batches) == 1  # the project's time is not written twice

    # The other way round.
    usage.used(PRIMARY_KEY_ID, "prj_a")
    usage.used("key_a", "prj_a")
    projects.failure = Unavailable("projects locked")
    with pytest.raises(Unavailable):
        await usage.flush()
    assert len(keys.batches) == 2
    projects.failure = None
    assert await usage.flush() == 1
    assert projects.batches[-1] == {"prj_a": t0 + timedelta(seconds=2)}


async def test_cancelled_flush_keeps_everything_for_the_stop_flush(
    setup: tuple[KeyUsage, Keys, Projects], clock: ManualClock
) -> None:
    usage, keys, projects = setup
    usage.used(PRIMARY_KEY_ID, "prj_a")
    usage.used("key_a", "prj_a")
    keys.failure = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        await usage.flush()
    assert projects.batches == []  # cancelled: nothing more is attempted then
    keys.failure = None
    assert await usage.flush() == 2
    assert keys.batches == [{"key_a": clock.now()}]
    assert projects.batches == [{"prj_a": clock.now()}]
