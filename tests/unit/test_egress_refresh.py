"""An egress refreshed from the engine on a read that is older than the record: what the
media server's webhook wrote meanwhile (the end, its files) stays, whatever the engine
said to the read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryEgressRecordRepository, InMemoryMediaEngine
from pulse_core import ids
from pulse_core.models.media import Egress, EgressFile, FileOutput
from pulse_core.ports.media import EgressInfo
from pulse_core.services.egress_refresh import ENGINE_GONE, EgressRefresh
from tests.support.builders import org, project

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


async def _started(records: InMemoryEgressRecordRepository) -> Egress:
    owner = project(org().id)
    egress_id = ids.new_id(ids.EGRESS, now_ms=ids.ms_of(T0))
    egress = Egress(
        id=egress_id,
        project_id=owner.id,
        engine_id="EG_" + egress_id[-12:],
        kind="room_composite",
        room="demo",
        livekit_room=f"{owner.id}_demo",
        status="active",
        outputs=[FileOutput(filepath="a.mp4", recording_id="rec_a")],
        started_at=T0,
        updated_at=T0,
    )
    await records.add(egress)
    return egress


async def _ended_by_the_webhook(records: InMemoryEgressRecordRepository, read: Egress) -> Egress:
    ended = msgspec.structs.replace(
        read,
        status="complete",
        ended_at=T0 + timedelta(minutes=5),
        files=[EgressFile(path="a.mp4", size=1000, recording_id="rec_a")],
        updated_at=T0 + timedelta(minutes=5),
    )
    stored = await records.change(read.project_id, read.id, lambda _: ended)
    assert stored == ended
    return ended


async def test_a_stale_read_keeps_the_webhooks_end_and_files() -> None:
    clock = ManualClock(T0 + timedelta(minutes=6))
    records = InMemoryEgressRecordRepository()
    refresh = EgressRefresh(InMemoryMediaEngine(clock), records, clock)
    read = await _started(records)
    ended = await _ended_by_the_webhook(records, read)
    still_running = EgressInfo(
        egress_id=read.engine_id,
        kind="room_composite",
        room_name=read.livekit_room,
        status="ending",
    )
    assert await refresh.apply(read, still_running) == ended
    assert await records.get(read.project_id, read.id) == ended


async def test_an_egress_the_engine_forgot_keeps_the_webhooks_end() -> None:
    clock = ManualClock(T0 + timedelta(minutes=6))
    records = InMemoryEgressRecordRepository()
    refresh = EgressRefresh(InMemoryMediaEngine(clock), records, clock)
    read = await _started(records)
    ended = await _ended_by_the_webhook(records, read)
    assert await refresh.gone(read) == ended
    # Without the webhook's end, the same read aborts it.
    other = await _started(records)
    aborted = await refresh.gone(other)
    assert (aborted.status, aborted.error, aborted.ended_at) == (
        "aborted",
        ENGINE_GONE,
        clock.now(),
    )
    assert await records.get(other.project_id, other.id) == aborted
