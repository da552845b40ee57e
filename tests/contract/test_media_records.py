"""The media-record contract (egress and ingress ownership), on every backend.

The shared suite sees only the two ports; each backend joins by a fixture returning a
fresh, empty :class:`Records`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import pytest

from pulse_adapters.memory import InMemoryEgressRecordRepository, InMemoryIngressRecordRepository
from pulse_adapters.sqlite import (
    SqliteDatabase,
    SqliteEgressRecordRepository,
    SqliteIngressRecordRepository,
)
from pulse_adapters.sqlite import media_records as sqlite_queries
from pulse_core import ids, rooms
from pulse_core.errors import Conflict, NotFound
from pulse_core.models.media import (
    ENDED_EGRESS_STATUSES,
    ENDED_INGRESS_STATUSES,
    Egress,
    FileOutput,
    HlsOutput,
    Ingress,
    RtmpOutput,
)
from pulse_core.ports.media_records import EgressRecordRepository, IngressRecordRepository

if TYPE_CHECKING:
    from tests.support.mongo import MongoTestServer

# Whole milliseconds: MongoDB keeps no more, and the suite compares records exactly.
T0 = datetime(2030, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)


@dataclass
class Records:
    egress: EgressRecordRepository
    ingress: IngressRecordRepository
    aclose: Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


RecordsFactory = Callable[[], Awaitable[Records]]


# Backend fixtures are synchronous and return an async factory: pytest-asyncio cannot
# resolve an async fixture through getfixturevalue inside another async fixture.
@pytest.fixture
def memory_records() -> RecordsFactory:
    async def make() -> Records:
        return Records(
            InMemoryEgressRecordRepository(), InMemoryIngressRecordRepository(), _nothing
        )

    return make


@pytest.fixture
def sqlite_records(tmp_path: Path) -> RecordsFactory:
    async def make() -> Records:
        db = SqliteDatabase(tmp_path / "media.sqlite3")
        await db.connect()
        return Records(
            SqliteEgressRecordRepository(db), SqliteIngressRecordRepository(db), db.close
        )

    return make


@pytest.fixture
def mongo_records(mongo_server: MongoTestServer) -> RecordsFactory:
    from pulse_adapters.mongo import MongoDatabase
    from pulse_adapters.mongo.media_records import (
        MongoEgressRecordRepository,
        MongoIngressRecordRepository,
    )

    async def make() -> Records:
        db = MongoDatabase(mongo_server.uri, mongo_server.new_db_name(), timeout_seconds=5.0)
        await db.connect()  # creates every index of the plan, media records' included

        async def aclose() -> None:
            try:
                await db.database.client.drop_database(db.database.name)
            finally:
                await db.close()

        return Records(MongoEgressRecordRepository(db), MongoIngressRecordRepository(db), aclose)

    return make


@pytest.fixture(params=["memory_records", "sqlite_records", "mongo_records"])
def records_factory(request: pytest.FixtureRequest) -> RecordsFactory:
    factory: RecordsFactory = request.getfixturevalue(request.param)
    return factory


@pytest.fixture
async def records(records_factory: RecordsFactory) -> AsyncIterator[Records]:
    backend = await records_factory()
    try:
        yield backend
    finally:
        await backend.aclose()


def project_id() -> str:
    return ids.new_id(ids.PROJECT, now_ms=ids.ms_of(T0))


def egress(project: str, *, room: str | None = "demo", at: datetime = T0) -> Egress:
    egress_id = ids.new_id(ids.EGRESS, now_ms=int(at.timestamp() * 1000))
    return Egress(
        id=egress_id,
        project_id=project,
        engine_id="EG_" + egress_id[-12:],
        kind="room_composite" if room is not None else "web",
        room=room,
        livekit_room=None if room is None else rooms.to_livekit(project, room),
        status="starting",
        outputs=[
            FileOutput(filepath=f"{egress_id}.mp4", recording_id="rec_abc"),
            HlsOutput(playlist="hls/index.m3u8", recording_id="rec_def", segment_duration=6),
            RtmpOutput(urls=["rtmp://live.example.com/app/***"]),
        ],
        started_at=at,
        updated_at=at,
    )


def ingress(project: str, *, room: str = "demo", at: datetime = T0) -> Ingress:
    ingress_id = ids.new_id(ids.INGRESS, now_ms=int(at.timestamp() * 1000))
    return Ingress(
        id=ingress_id,
        project_id=project,
        engine_id="IN_" + ingress_id[-12:],
        type="rtmp",
        room=room,
        livekit_room=rooms.to_livekit(project, room),
        url="rtmp://127.0.0.1/live",
        stream_key="k3yk3yk3yk3y",
        participant_identity="camera-1",
        created_at=at,
        updated_at=at,
    )


# -- egress ------------------------------------------------------------------------------


async def test_egress_round_trips_and_is_invisible_to_other_projects(records: Records) -> None:
    mine, theirs = project_id(), project_id()
    web = egress(mine, room=None)
    room = egress(mine)
    await records.egress.add(web)
    await records.egress.add(room)

    assert await records.egress.get(mine, web.id) == web
    assert await records.egress.get(mine, room.id) == room
    assert await records.egress.get(theirs, room.id) is None
    assert await records.egress.get(mine, ids.new_id(ids.EGRESS, now_ms=ids.ms_of(T0))) is None
    assert await records.egress.list_page(theirs, room=None, after=None, limit=10) == []


async def test_egress_add_refuses_a_taken_id_or_engine_id(records: Records) -> None:
    mine = project_id()
    first = egress(mine)
    await records.egress.add(first)
    with pytest.raises(Conflict):
        await records.egress.add(msgspec.structs.replace(first, engine_id="EG_other"))
    with pytest.raises(Conflict):
        await records.egress.add(
            msgspec.structs.replace(egress(project_id()), engine_id=first.engine_id)
        )
    assert await records.egress.list_page(mine, room=None, after=None, limit=10) == [first]


async def test_egress_list_pages_in_id_order_with_room_filter(records: Records) -> None:
    mine, theirs = project_id(), project_id()
    made = [
        egress(mine, room="a" if i % 2 else "b", at=T0 + timedelta(seconds=i)) for i in range(5)
    ]
    for item in reversed(made):
        await records.egress.add(item)
    await records.egress.add(egress(theirs, room="a"))

    everything = await records.egress.list_page(mine, room=None, after=None, limit=10)
    assert [e.id for e in everything] == [e.id for e in made]
    first = await records.egress.list_page(mine, room=None, after=None, limit=2)
    rest = await records.egress.list_page(mine, room=None, after=first[-1].id, limit=10)
    assert first + rest == made
    room_a = await records.egress.list_page(mine, room="a", after=None, limit=10)
    assert room_a == [e for e in made if e.room == "a"]
    assert await records.egress.list_page(mine, room="a", after=room_a[-1].id, limit=10) == []
    assert await records.egress.list_page(mine, room="nope", after=None, limit=10) == []
    assert await records.egress.list_page(mine, room=None, after=None, limit=0) == []


async def test_egress_update_replaces_only_the_owners_record(records: Records) -> None:
    mine, theirs = project_id(), project_id()
    item = egress(mine)
    await records.egress.add(item)
    ended = msgspec.structs.replace(
        item,
        status="complete",
        ended_at=T0 + timedelta(minutes=5),
        error="stopped at the time limit",
        updated_at=T0 + timedelta(minutes=5),
    )
    await records.egress.update(ended)
    assert await records.egress.get(mine, item.id) == ended

    with pytest.raises(NotFound):
        await records.egress.update(msgspec.structs.replace(ended, project_id=theirs))
    with pytest.raises(NotFound):
        await records.egress.update(egress(mine))
    assert await records.egress.get(mine, item.id) == ended
    assert await records.egress.get(theirs, item.id) is None


async def test_egress_change_is_one_step_scoped_by_project(records: Records) -> None:
    mine, theirs = project_id(), project_id()
    item = egress(mine)
    await records.egress.add(item)
    calls: list[Egress] = []

    def ending(stored: Egress) -> Egress:
        calls.append(stored)
        return msgspec.structs.replace(stored, status="ending")

    assert await records.egress.change(theirs, item.id, ending) is None
    assert await records.egress.change(mine, egress(mine).id, ending) is None
    assert calls == []
    changed = await records.egress.change(mine, item.id, ending)
    assert changed == msgspec.structs.replace(item, status="ending")
    assert await records.egress.get(mine, item.id) == changed
    assert await records.egress.get_by_engine_id(item.engine_id) == changed


@pytest.mark.parametrize("field", ["id", "project_id", "engine_id"])
async def test_egress_change_must_keep_its_identity(records: Records, field: str) -> None:
    mine = project_id()
    item, other = egress(mine), egress(project_id())
    await records.egress.add(item)
    with pytest.raises(ValueError, match="keep the egress's id, project and engine id"):
        await records.egress.change(
            mine, item.id, lambda s: msgspec.structs.replace(s, **{field: getattr(other, field)})
        )
    assert await records.egress.get(mine, item.id) == item


async def test_concurrent_egress_changes_all_land(records: Records) -> None:
    mine = project_id()
    item = msgspec.structs.replace(egress(mine), error="")
    await records.egress.add(item)

    def appending(letter: str) -> Callable[[Egress], Egress]:
        return lambda s: msgspec.structs.replace(s, error=(s.error or "") + letter)

    await asyncio.gather(*(records.egress.change(mine, item.id, appending(c)) for c in "abcde"))
    stored = await records.egress.get(mine, item.id)
    assert stored is not None and sorted(stored.error or "") == list("abcde")


# -- ingress -----------------------------------------------------------------------------


async def test_ingress_round_trips_lists_and_updates(records: Records) -> None:
    mine, theirs = project_id(), project_id()
    made = [ingress(mine, room=r, at=T0 + timedelta(seconds=i)) for i, r in enumerate("aba")]
    pull = msgspec.structs.replace(
        ingress(mine, at=T0 + timedelta(seconds=9)),
        type="url",
        url="https://cdn.example.com/live.m3u8",
        stream_key=None,
        participant_name="Camera",
    )
    for item in [*made, pull]:
        await records.ingress.add(item)
    await records.ingress.add(ingress(theirs, room="a"))

    assert await records.ingress.get(mine, pull.id) == pull
    assert await records.ingress.get(theirs, pull.id) is None
    listed = await records.ingress.list_page(mine, room=None, after=None, limit=10)
    assert listed == [*made, pull]
    room_a = await records.ingress.list_page(mine, room="a", after=None, limit=10)
    assert room_a == [made[0], made[2]]
    assert await records.ingress.list_page(mine, room="a", after=made[0].id, limit=1) == [made[2]]

    publishing = msgspec.structs.replace(made[1], status="publishing")
    await records.ingress.update(publishing)
    assert await records.ingress.get(mine, made[1].id) == publishing
    with pytest.raises(NotFound):
        await records.ingress.update(msgspec.structs.replace(publishing, project_id=theirs))
    with pytest.raises(Conflict):
        other_id = ids.new_id(ids.INGRESS, now_ms=ids.ms_of(T0))
        await records.ingress.add(msgspec.structs.replace(pull, id=other_id))


async def test_ingress_change_is_one_step_scoped_by_project(records: Records) -> None:
    mine, theirs = project_id(), project_id()
    item = ingress(mine)
    await records.ingress.add(item)
    calls: list[Ingress] = []

    def publishing(stored: Ingress) -> Ingress:
        calls.append(stored)
        return msgspec.structs.replace(stored, status="publishing")

    assert await records.ingress.change(theirs, item.id, publishing) is None
    assert calls == []
    changed = await records.ingress.change(mine, item.id, publishing)
    assert changed == msgspec.structs.replace(item, status="publishing")
    assert await records.ingress.get(mine, item.id) == changed
    with pytest.raises(ValueError, match="keep the ingress's id, project and engine id"):
        await records.ingress.change(
            mine, item.id, lambda s: msgspec.structs.replace(s, engine_id="IN_other")
        )
    assert await records.ingress.delete(mine, item.id) is True
    assert await records.ingress.change(mine, item.id, publishing) is None
    assert len(calls) == 1


async def test_ingress_delete_only_deletes_the_owners_record(records: Records) -> None:
    mine, theirs = project_id(), project_id()
    item = ingress(mine)
    await records.ingress.add(item)

    assert await records.ingress.delete(theirs, item.id) is False
    assert await records.ingress.get(mine, item.id) == item
    assert await records.ingress.delete(mine, item.id) is True
    assert await records.ingress.get(mine, item.id) is None
    assert await records.ingress.delete(mine, item.id) is False
    assert await records.ingress.list_page(mine, room=None, after=None, limit=10) == []


async def test_records_are_found_by_the_engine_id_whichever_project_owns_them(
    records: Records,
) -> None:
    mine, theirs = project_id(), project_id()
    my_egress, their_egress = egress(mine), egress(theirs)
    my_ingress = ingress(mine)
    for record in (my_egress, their_egress):
        await records.egress.add(record)
    await records.ingress.add(my_ingress)
    assert await records.egress.get_by_engine_id(my_egress.engine_id) == my_egress
    assert await records.egress.get_by_engine_id(their_egress.engine_id) == their_egress
    assert await records.egress.get_by_engine_id("EG_unknown") is None
    assert await records.ingress.get_by_engine_id(my_ingress.engine_id) == my_ingress
    assert await records.ingress.get_by_engine_id(my_egress.engine_id) is None


# -- counting what is active ---------------------------------------------------------------


async def test_egress_count_active_counts_the_given_projects_until_they_end(
    records: Records,
) -> None:
    mine, also_mine, theirs = project_id(), project_id(), project_id()
    running = [egress(mine), egress(mine, room=None), egress(also_mine)]
    ended = [
        msgspec.structs.replace(egress(mine), status=status, ended_at=T0)
        for status in sorted(ENDED_EGRESS_STATUSES)
    ]
    for item in [*running, *ended, egress(theirs)]:
        await records.egress.add(item)
    await records.egress.add(msgspec.structs.replace(egress(theirs), status="active"))

    assert await records.egress.count_active([mine, also_mine]) == 3
    assert await records.egress.count_active([mine]) == 2
    assert await records.egress.count_active([also_mine, mine, mine]) == 3  # a set, in effect
    assert await records.egress.count_active([theirs]) == 2
    assert await records.egress.count_active([project_id()]) == 0
    assert await records.egress.count_active([]) == 0

    # Every status that is not an ended one counts, whatever its stage.
    for status in ("active", "ending"):
        await records.egress.update(msgspec.structs.replace(running[0], status=status))
        assert await records.egress.count_active([mine, also_mine]) == 3
    await records.egress.update(msgspec.structs.replace(running[0], status="complete", ended_at=T0))
    assert await records.egress.count_active([mine, also_mine]) == 2
    assert await records.egress.count_active([mine]) == 1


async def test_ingress_count_active_counts_the_given_projects_until_they_end(
    records: Records,
) -> None:
    mine, also_mine, theirs = project_id(), project_id(), project_id()
    idle = ingress(mine)  # "inactive": created, not publishing yet, still counts
    publishing = msgspec.structs.replace(ingress(also_mine), status="publishing")
    ended = [
        msgspec.structs.replace(ingress(mine), status=status)
        for status in sorted(ENDED_INGRESS_STATUSES)
    ]
    for item in [idle, publishing, *ended, ingress(theirs)]:
        await records.ingress.add(item)

    assert not idle.ended
    assert await records.ingress.count_active([mine, also_mine]) == 2
    assert await records.ingress.count_active([mine]) == 1
    assert await records.ingress.count_active([theirs]) == 1
    assert await records.ingress.count_active([]) == 0

    await records.ingress.update(msgspec.structs.replace(publishing, status="complete"))
    assert await records.ingress.count_active([mine, also_mine]) == 1
    # An RTMP or WHIP endpoint may publish again: then it is active again.
    await records.ingress.update(msgspec.structs.replace(publishing, status="buffering"))
    assert await records.ingress.count_active([mine, also_mine]) == 2
    assert await records.ingress.delete(mine, idle.id)
    assert await records.ingress.count_active([mine, also_mine]) == 1


@pytest.mark.parametrize(
    ("table", "sql", "ended"),
    [
        ("egress_records", sqlite_queries.EGRESS_COUNT_ACTIVE, sqlite_queries.ENDED_EGRESS_JSON),
        ("ingress_records", sqlite_queries.INGRESS_COUNT_ACTIVE, sqlite_queries.ENDED_INGRESS_JSON),
    ],
    ids=["egress", "ingress"],
)
async def test_sqlite_count_active_searches_the_project_index(
    tmp_path: Path, table: str, sql: str, ended: str
) -> None:
    db = SqliteDatabase(tmp_path / "plan.sqlite3")
    await db.connect()
    try:
        params = ('["prj_a", "prj_b"]', ended)
        plan = await db.read(
            lambda c: [row[3] for row in c.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        )
    finally:
        await db.close()
    # Either project index serves `project_id IN (...)`; which one is the planner's call.
    assert plan[0].startswith(f"SEARCH {table} USING INDEX {table}_project"), plan
    assert "(project_id=?)" in plan[0], plan
    assert not any(step.startswith(f"SCAN {table}") or "TEMP B-TREE" in step for step in plan)
