"""An egress and an ingress that LiveKit carried out after Pulse had given up on the call
(slower than the engine's timeout: Pulse answered 503 and wrote no record) are stopped
by the second orphan sweep, through the real livekit-api SDK over HTTP against the Twirp
double; what the project owns keeps running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from pulse_adapters.clock import ManualClock
from pulse_adapters.livekit import LiveKitMediaEngine
from pulse_adapters.memory import InMemoryObjectStorage
from pulse_adapters.memory.media_records import (
    InMemoryEgressRecordRepository,
    InMemoryIngressRecordRepository,
)
from pulse_core.errors import Unavailable
from pulse_core.models.media import CreateIngress, StartEgress
from pulse_core.ports.media import MediaEngine
from pulse_core.services.media import MediaService
from pulse_core.services.media_orphans import OrphanedMedia
from tests.contract.test_media_engine import KEY, SECRET
from tests.support.builders import org, project
from tests.support.livekit_twirp_server import LiveKitTwirpServer
from tests.support.urls import url_guard_for_tests

TIMEOUT = 0.5
PATIENCE = 30.0


@pytest.fixture
def twirp() -> Iterator[LiveKitTwirpServer]:
    with LiveKitTwirpServer(KEY, SECRET) as server:
        yield server


@pytest.fixture
async def engine(twirp: LiveKitTwirpServer) -> AsyncIterator[LiveKitMediaEngine]:
    engine = LiveKitMediaEngine(twirp.url, KEY, SECRET, timeout_seconds=TIMEOUT)
    await engine.start()
    yield engine
    await engine.aclose()


async def listed(engine: MediaEngine, count: int) -> None:
    """Wait until LiveKit has ``count`` egresses and ``count`` ingresses (a delayed call
    takes effect once its delay is over)."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if len(await engine.list_egress()) >= count and len(await engine.list_ingress()) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"LiveKit never had {count} egresses and ingresses")


async def test_what_livekit_started_after_pulse_gave_up_is_stopped_by_the_second_sweep(
    twirp: LiveKitTwirpServer,
    engine: LiveKitMediaEngine,
    clock: ManualClock,
) -> None:
    egress, ingress = InMemoryEgressRecordRepository(), InMemoryIngressRecordRepository()
    media = MediaService(
        engine,
        egress,
        ingress,
        InMemoryObjectStorage(clock),
        clock,
        url_guard=url_guard_for_tests(),
    )
    mine = project(org().id)
    owned_egress = await media.start_egress(mine, StartEgress(room="demo"))
    wanted = CreateIngress(room="stage", type="rtmp", participant_identity="obs")
    owned_ingress = await media.create_ingress(mine, wanted)

    twirp.set_delay(TIMEOUT * 4)
    try:
        with pytest.raises(Unavailable):
            await media.start_egress(mine, StartEgress(room="demo"))
        with pytest.raises(Unavailable):
            await media.create_ingress(mine, wanted)
    finally:
        twirp.set_delay(0)
    await listed(engine, 2)

    orphans = OrphanedMedia(engine, egress, ingress)
    assert await orphans.sweep() == 0
    assert await orphans.sweep() == 2
    running = [e for e in await engine.list_egress() if e.status in ("starting", "active")]
    assert [e.egress_id for e in running] == [owned_egress.engine_id]
    assert [i.ingress_id for i in await engine.list_ingress()] == [owned_ingress.engine_id]
    assert await orphans.sweep() == 0
