"""Ending what a deleted project left running (pulse_core.services.media_teardown)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory.media_records import (
    InMemoryEgressRecordRepository,
    InMemoryIngressRecordRepository,
)
from pulse_adapters.memory.queue import InMemoryJobQueue
from pulse_adapters.memory.room_engine import InMemoryRoomEngine
from pulse_core import ids, rooms
from pulse_core.errors import Conflict, NotFound, Unavailable
from pulse_core.models.jobs import QUEUE, EndProjectMedia, decode_job, encode_job
from pulse_core.models.media import Egress, EgressStatus, Ingress
from pulse_core.ports.media import MediaEngine
from pulse_core.ports.queue import JobQueue
from pulse_core.ports.rooms import RoomRequest
from pulse_core.services.jobs import JobRunner, PoisonJob
from pulse_core.services.media_teardown import MediaTeardown

T0 = datetime(2026, 12, 1, tzinfo=UTC)
PROJECT = "prj_01J0000000000000000000000A"
OTHER = "prj_01J0000000000000000000000B"


class Engine:
    """Answers as the media server does: stopped ids and deleted ids remembered, each
    egress id answering as scripted."""

    def __init__(self, answers: dict[str, type[Exception] | None]) -> None:
        self.answers = answers
        self.stopped: list[str] = []
        self.deleted: list[str] = []

    async def stop_egress(self, engine_id: str) -> None:
        self.stopped.append(engine_id)
        answer = self.answers.get(engine_id)
        if answer is not None:
            raise answer("scripted")

    async def delete_ingress(self, engine_id: str) -> None:
        self.deleted.append(engine_id)
        if engine_id == "IN_gone":
            raise NotFound("no such ingress")


def _egress(project_id: str, engine_id: str, status: EgressStatus) -> Egress:
    return Egress(
        id=ids.new_id(ids.EGRESS, now_ms=ids.ms_of(T0)),
        project_id=project_id,
        engine_id=engine_id,
        kind="room_composite",
        room="demo",
        livekit_room=f"{project_id}_demo",
        status=status,
        outputs=[],
        started_at=T0,
        updated_at=T0,
    )


def _ingress(project_id: str, engine_id: str) -> Ingress:
    return Ingress(
        id=ids.new_id(ids.INGRESS, now_ms=ids.ms_of(T0)),
        project_id=project_id,
        engine_id=engine_id,
        type="rtmp",
        room="stage",
        livekit_room=f"{project_id}_stage",
        url="rtmp://127.0.0.1/live",
        stream_key="k3y",
        participant_identity="obs",
        created_at=T0,
        updated_at=T0,
    )


async def test_running_egresses_are_stopped_and_ingresses_deleted_once_each_project() -> None:
    egress, ingress = InMemoryEgressRecordRepository(), InMemoryIngressRecordRepository()
    for record in (
        _egress(PROJECT, "EG_active", "active"),
        _egress(PROJECT, "EG_starting", "starting"),
        _egress(PROJECT, "EG_raced", "active"),  # stopped meanwhile: Conflict
        _egress(PROJECT, "EG_lost", "active"),  # unknown to the engine: NotFound
        _egress(PROJECT, "EG_ending", "ending"),
        _egress(PROJECT, "EG_done", "complete"),
        _egress(OTHER, "EG_other", "active"),
    ):
        await egress.add(record)
    for each in (_ingress(PROJECT, "IN_a"), _ingress(PROJECT, "IN_gone"), _ingress(OTHER, "IN_b")):
        await ingress.add(each)
    engine = Engine({"EG_raced": Conflict, "EG_lost": NotFound})
    teardown = MediaTeardown(
        cast(MediaEngine, engine), egress, ingress, InMemoryJobQueue(ManualClock(T0))
    )
    await teardown.end(PROJECT)
    assert sorted(engine.stopped) == ["EG_active", "EG_lost", "EG_raced", "EG_starting"]
    assert sorted(engine.deleted) == ["IN_a", "IN_gone"]
    # The records stay: the engine's reports end them, and they are the usage's history.
    assert len(await egress.list_page(PROJECT, room=None, after=None, limit=50)) == 6


async def test_the_projects_rooms_are_ended_and_no_one_elses() -> None:
    clock = ManualClock(T0)
    engine = InMemoryRoomEngine(clock)
    names = [
        rooms.to_livekit(PROJECT, "demo"),
        rooms.to_livekit(PROJECT, "stage"),
        rooms.to_livekit(OTHER, "demo"),
        "not-a-pulse-room",
    ]
    for name in names:
        await engine.create_room(RoomRequest(name=name))
    records = (InMemoryEgressRecordRepository(), InMemoryIngressRecordRepository())
    queue = InMemoryJobQueue(clock)
    teardown = MediaTeardown(cast(MediaEngine, Engine({})), *records, queue, rooms=engine)
    await teardown.end(PROJECT)
    assert [room.name for room in await engine.list_rooms()] == sorted(names[2:])
    await teardown.end(PROJECT)  # again (the job handed out twice): nothing left to do
    await teardown.end_room(names[0])  # ended already: done
    # Without a room engine (an embedder's setup), rooms are left alone.
    await MediaTeardown(cast(MediaEngine, Engine({})), *records, queue).end(OTHER)
    assert len(await engine.list_rooms()) == 2


async def test_an_engine_that_cannot_answer_fails_the_job_so_that_it_runs_again() -> None:
    egress = InMemoryEgressRecordRepository()
    await egress.add(_egress(PROJECT, "EG_active", "active"))
    engine = Engine({"EG_active": Unavailable})
    teardown = MediaTeardown(
        cast(MediaEngine, engine),
        egress,
        InMemoryIngressRecordRepository(),
        InMemoryJobQueue(ManualClock(T0)),
    )
    runner = JobRunner(cast(Any, None), cast(Any, None), cast(Any, None), teardown=teardown)
    job = encode_job(EndProjectMedia(project_ids=(PROJECT,)))
    with pytest.raises(Unavailable):  # the worker queues it again, later
        await runner.run(job)
    engine.answers.clear()
    assert await runner.run(job) is None
    assert engine.stopped == ["EG_active", "EG_active"]
    # A worker built without a teardown cannot run it: a poison job, not a crash loop.
    with pytest.raises(PoisonJob):
        await JobRunner(cast(Any, None), cast(Any, None), cast(Any, None)).run(job)


class DownQueue:
    async def enqueue(self, queue: str, payload: bytes, *, delay_seconds: float = 0) -> str:
        raise Unavailable("job queue backend (redis) is unavailable")


async def test_scheduling_queues_one_job_and_a_down_queue_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(T0)
    queue = InMemoryJobQueue(clock)
    records = (InMemoryEgressRecordRepository(), InMemoryIngressRecordRepository())
    teardown = MediaTeardown(cast(MediaEngine, Engine({})), *records, queue)
    await teardown.schedule([])
    await teardown.schedule([PROJECT, OTHER])
    reserved = await queue.reserve(QUEUE, "test", max_jobs=10, wait_seconds=0)
    assert [decode_job(job.payload) for job in reserved] == [
        EndProjectMedia(project_ids=(PROJECT, OTHER))
    ]
    down = MediaTeardown(cast(MediaEngine, Engine({})), *records, cast(JobQueue, DownQueue()))
    with caplog.at_level(logging.ERROR, logger="pulse.media_teardown"):
        await down.schedule([PROJECT])
    assert PROJECT in caplog.text and "left running" in caplog.text
