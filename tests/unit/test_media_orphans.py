"""``OrphanedMedia``: what the media server runs in Pulse's rooms without a record (a
start that outlived its timeout) is stopped at the second sweep that finds it so; what a
project owns, what has ended, what is in a room that is not Pulse's, and what got its
record between two sweeps are left alone."""

from __future__ import annotations

from typing import Any, cast

import pytest

from pulse_adapters.memory.media_records import (
    InMemoryEgressRecordRepository,
    InMemoryIngressRecordRepository,
)
from pulse_core.errors import NotFound, Unavailable
from pulse_core.models.media import EgressStatus, IngressStatus
from pulse_core.ports.media import EgressInfo, IngressInfo, MediaEngine
from pulse_core.services.media_orphans import OrphanedMedia
from tests.unit.test_media_teardown import PROJECT, _egress, _ingress


class Engine:
    """The media server's lists, and the stops and deletions asked of it."""

    def __init__(self) -> None:
        self.egresses: list[EgressInfo] = []
        self.ingresses: list[IngressInfo] = []
        self.stopped: list[str] = []
        self.deleted: list[str] = []
        self.down = False

    def egress(self, engine_id: str, room: str | None, status: EgressStatus = "active") -> None:
        self.egresses.append(
            EgressInfo(egress_id=engine_id, kind="room_composite", room_name=room, status=status)
        )

    def ingress(self, engine_id: str, room: str, status: IngressStatus = "inactive") -> None:
        self.ingresses.append(
            IngressInfo(
                ingress_id=engine_id,
                type="rtmp",
                room_name=room,
                participant_identity="obs",
                participant_name=None,
                url="rtmp://127.0.0.1/live",
                stream_key=None,
                status=status,
            )
        )

    async def list_egress(self, *, room_name: str | None = None) -> list[EgressInfo]:
        if self.down:
            raise Unavailable("media server down")
        return list(self.egresses)

    async def list_ingress(self, *, room_name: str | None = None) -> list[IngressInfo]:
        return list(self.ingresses)

    async def stop_egress(self, engine_id: str) -> Any:
        self.stopped.append(engine_id)
        if engine_id == "EG_gone":
            raise NotFound("no such egress")

    async def delete_ingress(self, engine_id: str) -> Any:
        self.deleted.append(engine_id)


ROOM = f"{PROJECT}_demo"


async def sweeper() -> tuple[OrphanedMedia, Engine, InMemoryEgressRecordRepository]:
    engine = Engine()
    egress, ingress = InMemoryEgressRecordRepository(), InMemoryIngressRecordRepository()
    await egress.add(_egress(PROJECT, "EG_owned", "active"))
    await ingress.add(_ingress(PROJECT, "IN_owned"))
    engine.egress("EG_owned", ROOM)
    engine.ingress("IN_owned", ROOM)
    engine.egress("EG_orphan", ROOM)
    engine.egress("EG_gone", ROOM)
    engine.ingress("IN_orphan", ROOM, "publishing")
    engine.egress("EG_ended", ROOM, "complete")
    engine.ingress("IN_ended", ROOM, "complete")
    engine.egress("EG_not_pulse", "someone-elses-room")
    engine.ingress("IN_not_pulse", "lobby")
    engine.egress("EG_no_room", None)
    orphans = OrphanedMedia(cast(MediaEngine, engine), egress, ingress)
    return orphans, engine, egress


async def test_only_what_two_sweeps_in_a_row_find_unowned_in_a_pulse_room_is_stopped() -> None:
    orphans, engine, _ = await sweeper()
    assert await orphans.sweep() == 0  # the first finds suspects only
    assert engine.stopped == engine.deleted == []
    assert await orphans.sweep() == 3
    assert sorted(engine.stopped) == ["EG_gone", "EG_orphan"]
    assert engine.deleted == ["IN_orphan"]


async def test_a_start_whose_record_lands_between_two_sweeps_is_left_alone() -> None:
    orphans, engine, egress = await sweeper()
    engine.egress("EG_late", ROOM)
    await orphans.sweep()
    await egress.add(_egress(PROJECT, "EG_late", "active"))  # the start's record, written
    await orphans.sweep()
    assert "EG_late" not in engine.stopped


async def test_a_sweep_the_media_server_cannot_answer_stops_nothing_and_forgets_nothing() -> None:
    orphans, engine, _ = await sweeper()
    await orphans.sweep()
    engine.down = True
    with pytest.raises(Unavailable):
        await orphans.sweep()
    assert engine.stopped == []
    engine.down = False
    # Found unowned by the first sweep and again now, two intervals later: orphans.
    assert await orphans.sweep() == 3
    assert sorted(engine.stopped) == ["EG_gone", "EG_orphan"]
