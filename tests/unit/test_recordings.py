"""Deleting a recording (``Recordings.delete``): the file goes from storage, the audit log
says who deleted it, and a failure part way loses neither the file silently nor the
record. On the in-memory storage and on S3 over HTTP (moto server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryLocks, InMemoryObjectStorage
from pulse_adapters.memory.audit import InMemoryAuditRepository
from pulse_adapters.s3 import S3ObjectStorage
from pulse_core.errors import NotFound, Unavailable
from pulse_core.models.audit import Actor, Caller
from pulse_core.ports.storage import ObjectStorage
from pulse_core.recordings import recording_id, recordings_prefix
from pulse_core.services.recordings import Recordings
from tests.contract.test_object_storage import s3_config
from tests.support.builders import org, project
from tests.support.moto_server import MotoS3

KEY_CALLER = Caller(actor=Actor(type="key", id="key_1"))
FILE = "rooms/demo/eg_1.mp4"


async def _deleted(storage: ObjectStorage, clock: ManualClock) -> None:
    """Two projects with a file at the same path: one deletes its own, twice; the other's
    stays, and it cannot delete the first's."""
    mine, theirs = project(org().id), project(org().id)
    for owner in (mine, theirs):
        await storage.put(recordings_prefix(owner.id) + FILE, b"mp4")
    audit = InMemoryAuditRepository()
    recordings = Recordings(storage, clock, audit=audit)
    rec = recording_id(FILE)

    await recordings.delete(mine, rec, by=KEY_CALLER)
    assert await storage.stat(recordings_prefix(mine.id) + FILE) is None
    assert (await recordings.list(mine)).items == []
    with pytest.raises(NotFound):
        await recordings.url(mine, rec)
    with pytest.raises(NotFound):
        await recordings.delete(mine, rec, by=KEY_CALLER)
    (listed,) = (await recordings.list(theirs)).items
    assert listed.id == rec

    (record,) = await audit.list_page(mine.org_id, limit=10)
    assert (record.action, record.resource_type, record.resource_id) == (
        "recording.deleted",
        "recording",
        rec,
    )
    assert record.actor == KEY_CALLER.actor
    assert await audit.list_page(theirs.org_id, limit=10) == []


async def test_delete_in_memory(clock: ManualClock) -> None:
    await _deleted(InMemoryObjectStorage(clock), clock)


async def test_delete_on_s3(moto_s3: MotoS3, clock: ManualClock) -> None:
    storage = S3ObjectStorage(s3_config(moto_s3, prefix="pulse/"))
    try:
        await _deleted(storage, clock)
    finally:
        await storage.aclose()


async def test_a_failed_deletion_keeps_the_file_and_the_record_and_a_retry_finishes(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = InMemoryObjectStorage(clock)
    mine = project(org().id)
    key = recordings_prefix(mine.id) + FILE
    await storage.put(key, b"mp4")
    audit = InMemoryAuditRepository()
    recordings = Recordings(storage, clock, audit=audit)
    delete = storage.delete

    async def down(_key: str) -> Any:
        raise Unavailable("storage is down")

    monkeypatch.setattr(storage, "delete", down)
    with pytest.raises(Unavailable):
        await recordings.delete(mine, recording_id(FILE), by=KEY_CALLER)
    assert await storage.stat(key) is not None  # still there, still listed
    assert len(await audit.list_page(mine.org_id, limit=10)) == 1  # the attempt

    monkeypatch.setattr(storage, "delete", delete)
    await recordings.delete(mine, recording_id(FILE), by=KEY_CALLER)
    assert await storage.stat(key) is None
    assert len(await audit.list_page(mine.org_id, limit=10)) == 2

    # And when the audit log cannot take the record, nothing is deleted.
    await storage.put(key, b"mp4")

    async def no_audit(_record: Any) -> None:
        raise Unavailable("database is down")

    monkeypatch.setattr(audit, "add", no_audit)
    with pytest.raises(Unavailable):
        await recordings.delete(mine, recording_id(FILE), by=KEY_CALLER)
    assert await storage.stat(key) is not None


async def test_without_an_audit_log_a_deletion_is_only_a_deletion(clock: ManualClock) -> None:
    storage = InMemoryObjectStorage(clock)
    mine = project(org().id)
    await storage.put(recordings_prefix(mine.id) + FILE, b"mp4")
    await Recordings(storage, clock).delete(mine, recording_id(FILE), by=KEY_CALLER)
    assert await storage.stat(recordings_prefix(mine.id) + FILE) is None


async def test_two_deletions_at_once_delete_once_and_the_other_is_a_404(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both found the file before either deleted it: two 204s and two audit records
    for one deletion. With the locks they take turns."""
    storage = InMemoryObjectStorage(clock)
    mine = project(org().id)
    await storage.put(recordings_prefix(mine.id) + FILE, b"mp4")
    audit = InMemoryAuditRepository()
    recordings = Recordings(storage, clock, audit=audit, locks=InMemoryLocks())
    delete, deleting, go_on = storage.delete, asyncio.Event(), asyncio.Event()

    async def slow(key: str) -> Any:
        deleting.set()
        await go_on.wait()
        return await delete(key)

    monkeypatch.setattr(storage, "delete", slow)
    first = asyncio.create_task(recordings.delete(mine, recording_id(FILE), by=KEY_CALLER))
    await deleting.wait()
    second = asyncio.create_task(recordings.delete(mine, recording_id(FILE), by=KEY_CALLER))
    for _ in range(10):  # the second gets every chance to overtake the first
        await asyncio.sleep(0)
    go_on.set()
    outcomes = await asyncio.gather(first, second, return_exceptions=True)
    assert outcomes[0] is None and isinstance(outcomes[1], NotFound), outcomes
    assert len(await audit.list_page(mine.org_id, limit=10)) == 1
