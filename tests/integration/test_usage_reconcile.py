"""Reconciliation of open connections against LiveKit (API.md, "Usage and quotas"):
participant minutes whose leave event never came are closed once LiveKit no longer has
the connection, or the whole room.

Real parts: the real ``livekit-api`` SDK inside :class:`LiveKitRoomEngine` (built on a
:class:`LiveKitMediaEngine`, as the container builds it) over HTTP against the LiveKit
Twirp test server (``narrow_grants=True``: every RPC carries only the grant it needs),
and the usage and connection repositories of the embedded default (SQLite) and the
in-memory ones. Connections are opened by ``UsageMeter.participant_joined`` as the
webhook path opens them; people are on the server through its ``add_participant`` hook
and leave it through the room engine (a removal whose leave webhook was lost).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from livekit.protocol import models as lk_models
from livekit.protocol import room as lk_room

from pulse_adapters.clock import ManualClock
from pulse_adapters.livekit import LiveKitMediaEngine, LiveKitRoomEngine
from pulse_core import rooms
from pulse_core.livekit_webhooks.protocol import Int64, Participant
from pulse_core.models.usage import UsageRecord
from pulse_core.services import metering
from pulse_core.services.metering import UsageMeter
from tests.support.livekit_twirp_server import LiveKitTwirpServer
from tests.support.repositories import RepoFactory, RepoSet

KEY = "APIpulseUsageKey"
SECRET = "pulse-usage-secret-0123456789abcdefghijklmn"
T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
PROJECT = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9W"
OTHER = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9X"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def twirp() -> Iterator[LiveKitTwirpServer]:
    with LiveKitTwirpServer(KEY, SECRET, narrow_grants=True) as server:
        yield server


@pytest.fixture
async def engine(twirp: LiveKitTwirpServer) -> AsyncIterator[LiveKitRoomEngine]:
    media = LiveKitMediaEngine(twirp.url, KEY, SECRET, timeout_seconds=5.0)
    await media.start()
    try:
        yield LiveKitRoomEngine(media)
    finally:
        await media.aclose()


@pytest.fixture(params=["sqlite_repos_factory", "memory_repos_factory"])
async def repos(request: pytest.FixtureRequest) -> AsyncIterator[RepoSet]:
    factory: RepoFactory = request.getfixturevalue(request.param)
    made = await factory()
    try:
        yield made
    finally:
        await made.aclose()


class Meter:
    """A :class:`UsageMeter` on ``repos`` and a manual clock, keeping every record it
    stored (its ``on_recorded`` hook) so that each closed connection's minutes show."""

    def __init__(self, repos: RepoSet) -> None:
        self.clock = ManualClock(T0)
        self.repos = repos
        self.recorded: list[UsageRecord] = []
        self.meter = UsageMeter(repos.usage, repos.connections, self.clock, on_recorded=self._on)

    async def _on(self, records: Sequence[UsageRecord]) -> None:
        self.recorded += records

    async def joined(self, project_id: str, livekit_room: str, sid: str, seconds: float) -> None:
        """``participant_joined`` as the webhook path calls it, at ``T0 + seconds``."""
        ms = int(at(seconds).timestamp() * 1000)
        who = Participant(sid=sid, identity=f"id-{sid}", joined_at_ms=Int64(ms), state="ACTIVE")
        await self.meter.participant_joined(project_id, livekit_room, who, at(seconds))

    async def open_sids(self, project_id: str, livekit_room: str) -> set[str]:
        return {
            c.participant_sid
            for c in await self.repos.connections.list_room(project_id, livekit_room)
        }

    async def minutes(self, project_id: str) -> int:
        totals = await self.repos.usage.totals(
            [project_id],
            granularity="day",
            since=at(-86_400),
            until=at(86_400),
            metrics=["participant_minutes"],
        )
        return sum(t.quantity for t in totals)


@pytest.fixture
def meter(repos: RepoSet) -> Meter:
    return Meter(repos)


def on_server(twirp: LiveKitTwirpServer, livekit_room: str, identity: str) -> str:
    """Put ``identity`` in ``livekit_room`` on the LiveKit double; its connection's sid."""
    info: lk_models.ParticipantInfo = twirp.add_participant(livekit_room, identity)
    return info.sid


def asked_about(twirp: LiveKitTwirpServer, since: int) -> list[str]:
    """The rooms whose participants were listed, in order, from call ``since`` on."""
    found = []
    for call in twirp.state.calls[since:]:
        if call.method == "ListParticipants":
            assert isinstance(call.request, lk_room.ListParticipantsRequest)
            found.append(call.request.room)
    return found


# -- tests ------------------------------------------------------------------------------


async def test_reconcile_closes_exactly_the_connections_livekit_lost(
    twirp: LiveKitTwirpServer, engine: LiveKitRoomEngine, meter: Meter
) -> None:
    standup = rooms.to_livekit(PROJECT, "standup")
    gone = rooms.to_livekit(PROJECT, "retro")
    elsewhere = rooms.to_livekit(OTHER, "standup")  # another project, same room name

    # standup: alice stays; bob was removed (his leave webhook was lost); carol
    # reconnected (LiveKit gave her a new sid, her first connection's leave was lost).
    alice = on_server(twirp, standup, "alice")
    bob = on_server(twirp, standup, "bob")
    carol_first = on_server(twirp, standup, "carol")
    await meter.joined(PROJECT, standup, alice, 0)
    await meter.joined(PROJECT, standup, bob, 30)
    await meter.joined(PROJECT, standup, carol_first, 300)
    await engine.remove_participant(standup, "bob")
    carol_again = on_server(twirp, standup, "carol")
    await meter.joined(PROJECT, standup, carol_again, 400)
    # retro: the whole room is gone from LiveKit (its room_finished was lost too).
    dave = on_server(twirp, gone, "dave")
    erin = on_server(twirp, gone, "erin")
    await meter.joined(PROJECT, gone, dave, 0)
    await meter.joined(PROJECT, gone, erin, 61)
    await engine.delete_room(gone)
    # The other project's room: its one participant is still there.
    frank = on_server(twirp, elsewhere, "frank")
    await meter.joined(OTHER, elsewhere, frank, 0)
    assert carol_again != carol_first
    assert meter.recorded == []

    meter.clock.set(at(601))
    calls = len(twirp.state.calls)
    assert await meter.meter.reconcile(engine) == 4

    assert sorted(asked_about(twirp, calls)) == sorted([standup, gone, elsewhere])
    assert await meter.open_sids(PROJECT, standup) == {alice, carol_again}
    assert await meter.open_sids(PROJECT, gone) == set()
    assert await meter.open_sids(OTHER, elsewhere) == {frank}
    # Closed at "now" (601 s), each rounded up to the whole minute from its own join:
    # bob 571 s -> 10, carol's first connection 301 s -> 6, dave 601 s -> 11,
    # erin 540 s -> exactly 9.
    assert {r.project_id for r in meter.recorded} == {PROJECT}
    assert {r.metric for r in meter.recorded} == {"participant_minutes"}
    assert {r.timestamp for r in meter.recorded} == {at(601)}
    assert sorted(r.quantity for r in meter.recorded) == [6, 9, 10, 11]
    assert await meter.minutes(PROJECT) == 36
    assert await meter.minutes(OTHER) == 0

    # A second pass (later) closes nothing and meters nothing more.
    meter.clock.set(at(1200))
    assert await meter.meter.reconcile(engine) == 0
    assert len(meter.recorded) == 4
    assert await meter.minutes(PROJECT) == 36
    assert await meter.open_sids(PROJECT, standup) == {alice, carol_again}

    # Bob's leave webhook arriving late after all changes nothing: the first close counted.
    late = Participant(sid=bob, identity="bob", joined_at_ms=Int64(int(at(30).timestamp() * 1e3)))
    await meter.meter.participant_left(PROJECT, late, at(1300))
    assert await meter.minutes(PROJECT) == 36

    # The one still there is metered from its own join once LiveKit no longer has it.
    await engine.remove_participant(standup, "alice")
    meter.clock.set(at(1201))
    assert await meter.meter.reconcile(engine) == 1
    assert meter.recorded[-1].quantity == 21  # 1201 s from its join at 0
    assert await meter.open_sids(PROJECT, standup) == {carol_again}
    assert await meter.minutes(PROJECT) == 36 + 21


async def test_reconcile_pages_through_every_room(
    twirp: LiveKitTwirpServer,
    engine: LiveKitRoomEngine,
    meter: Meter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More rooms than one pass covers: each pass goes on where the last one stopped,
    then starts over. Every room keeps a connection that LiveKit still has (so it stays
    listed) and one it lost, so a pass that started over each time would never close
    the lost ones of the later rooms."""
    monkeypatch.setattr(metering, "RECONCILE_ROOMS", 3)
    lost: dict[tuple[str, str], str] = {}
    kept: dict[tuple[str, str], str] = {}
    for i in range(8):
        project_id = PROJECT if i % 2 else OTHER
        livekit_room = rooms.to_livekit(project_id, f"room-{i}")
        kept[(project_id, livekit_room)] = on_server(twirp, livekit_room, "here")
        await meter.joined(project_id, livekit_room, kept[(project_id, livekit_room)], 0)
        lost_sid = on_server(twirp, livekit_room, "lost")
        await meter.joined(project_id, livekit_room, lost_sid, 0)
        await engine.remove_participant(livekit_room, "lost")
        lost[(project_id, livekit_room)] = lost_sid
    order = sorted(lost)  # the order the connection repository lists rooms in

    meter.clock.set(at(90))
    reached: list[tuple[str, str]] = []
    for pass_number, page in enumerate([order[0:3], order[3:6], order[6:8]], start=1):
        calls = len(twirp.state.calls)
        closed = await meter.meter.reconcile(engine)
        assert asked_about(twirp, calls) == [room for _, room in page], f"pass {pass_number}"
        assert closed == len(page)
        reached += page
        for key in order:
            expected = {kept[key]} if key in reached else {kept[key], lost[key]}
            assert await meter.open_sids(*key) == expected, (pass_number, key)
    assert reached == order
    assert [r.quantity for r in meter.recorded] == [2] * 8  # 90 s each

    # The next pass starts over from the first room; nothing is left to close.
    calls = len(twirp.state.calls)
    assert await meter.meter.reconcile(engine) == 0
    assert asked_about(twirp, calls) == [room for _, room in order[0:3]]
    assert len(meter.recorded) == 8
