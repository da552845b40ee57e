"""Metering LiveKit's reports: whole minutes per connection, egress and ingress session,
counted once whichever path closes them and in whatever order events come."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import (
    InMemoryConnectionRepository,
    InMemoryRoomEngine,
    InMemoryUsageJournal,
    InMemoryUsageRepository,
)
from pulse_core import ids
from pulse_core.livekit_webhooks.protocol import IngressState, Int64, Participant
from pulse_core.models.media import Egress, EgressFile, EgressStatus, Ingress
from pulse_core.models.usage import Metric
from pulse_core.services.metering import UsageMeter, whole_minutes
from pulse_core.services.usage_counter import UsageCounter

T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
PROJECT = "prj_01HZZZZZZZZZZZZZZZZZZZZZZZ"
ROOM = f"{PROJECT}_standup"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def person(sid: str, joined: float, *, kind: str = "STANDARD") -> Participant:
    ms = int(at(joined).timestamp() * 1000)
    return Participant(sid=sid, identity=f"id-{sid}", joined_at_ms=Int64(ms), kind=kind)


def egress(
    *, kind: str = "room_composite", status: EgressStatus, ended: float | None = None, size: int = 0
) -> Egress:
    return Egress(
        id=ids.new_id(ids.EGRESS, now_ms=ids.ms_of(T0)),
        project_id=PROJECT,
        engine_id="EG_test",
        kind=kind,  # type: ignore[arg-type]
        room="standup",
        livekit_room=ROOM,
        status=status,
        outputs=[],
        started_at=at(0),
        ended_at=None if ended is None else at(ended),
        files=[EgressFile(path="a.mp4", recording_id=None, size=size)] if size else [],
        updated_at=at(0),
    )


def ingress() -> Ingress:
    return Ingress(
        id=ids.new_id(ids.INGRESS, now_ms=ids.ms_of(T0)),
        project_id=PROJECT,
        engine_id="IN_test",
        type="rtmp",
        room="standup",
        livekit_room=ROOM,
        url="rtmp://127.0.0.1/live",
        stream_key="k3y",
        participant_identity="camera",
        created_at=T0,
        updated_at=T0,
    )


def make_meter() -> tuple[UsageMeter, InMemoryUsageRepository, ManualClock]:
    clock = ManualClock(T0)
    usage = InMemoryUsageRepository()
    return UsageMeter(usage, InMemoryConnectionRepository(), clock), usage, clock


async def total(usage: InMemoryUsageRepository, metric: Metric, project: str = PROJECT) -> int:
    rows = await usage.totals(
        [project], granularity="day", since=at(-86400 * 40), until=at(86400 * 40), metrics=[metric]
    )
    return sum(r.quantity for r in rows)


def test_whole_minutes_round_up_per_connection() -> None:
    assert whole_minutes(at(0), at(0)) == 0
    assert whole_minutes(at(0), at(0.001)) == 1
    assert whole_minutes(at(0), at(60)) == 1
    assert whole_minutes(at(0), at(60.001)) == 2
    # To the millisecond, as every store keeps times (Mongo holds no more).
    assert whole_minutes(at(0), at(60.000999)) == 1
    assert whole_minutes(at(0.0005), at(60.0009)) == 1
    assert whole_minutes(at(10), at(0)) == 0


async def test_a_join_and_its_leave_are_the_minutes_between_rounded_up() -> None:
    meter, usage, _ = make_meter()
    await meter.participant_joined(PROJECT, ROOM, person("PA_a", 0), at(0))
    await meter.participant_left(PROJECT, person("PA_a", 0), at(121))
    assert await total(usage, "participant_minutes") == 3
    # LiveKit sends again, and a connection both left and aborted is one connection.
    await meter.participant_left(PROJECT, person("PA_a", 0), at(121))
    await meter.participant_left(PROJECT, person("PA_a", 0), at(130))
    await meter.room_finished(PROJECT, ROOM, at(600))
    assert await total(usage, "participant_minutes") == 3


async def test_a_leave_before_its_join_still_counts_once() -> None:
    meter, usage, _ = make_meter()
    await meter.participant_left(PROJECT, person("PA_a", 0), at(61))
    await meter.participant_joined(PROJECT, ROOM, person("PA_a", 0), at(0))
    await meter.room_finished(PROJECT, ROOM, at(3600))
    assert await total(usage, "participant_minutes") == 2


async def test_the_rooms_end_closes_connections_whose_leave_never_came() -> None:
    meter, usage, _ = make_meter()
    await meter.participant_joined(PROJECT, ROOM, person("PA_a", 0), at(0))
    await meter.participant_joined(PROJECT, ROOM, person("PA_b", 30), at(30))
    await meter.participant_joined(PROJECT, f"{PROJECT}_other", person("PA_c", 0), at(0))
    await meter.room_finished(PROJECT, ROOM, at(90))
    assert await total(usage, "participant_minutes") == 2 + 1


async def test_a_late_or_repeated_end_of_an_earlier_room_of_the_name_closes_nothing_later() -> None:
    # LiveKit reuses room names: the end of the room of 0-60 s arrives after someone
    # joined the next room of that name at 100 s, and again (a retry) at 400 s.
    meter, usage, _ = make_meter()
    await meter.participant_joined(PROJECT, ROOM, person("PA_old", 0), at(0))
    await meter.participant_joined(PROJECT, ROOM, person("PA_new", 100), at(100))
    await meter.room_finished(PROJECT, ROOM, at(60))
    assert await total(usage, "participant_minutes") == 1  # PA_old only
    await meter.room_finished(PROJECT, ROOM, at(60))
    await meter.participant_left(PROJECT, person("PA_new", 100), at(700))
    assert await total(usage, "participant_minutes") == 1 + 10


async def test_the_media_servers_own_participants_are_not_participant_minutes() -> None:
    meter, usage, _ = make_meter()
    for kind in ("EGRESS", "INGRESS"):
        await meter.participant_joined(PROJECT, ROOM, person("PA_x", 0, kind=kind), at(0))
        await meter.participant_left(PROJECT, person("PA_x", 0, kind=kind), at(600))
    await meter.participant_left(PROJECT, person("PA_agent", 0, kind="AGENT"), at(60))
    assert await total(usage, "participant_minutes") == 1


async def test_reconciliation_closes_connections_the_media_server_no_longer_has() -> None:
    meter, usage, clock = make_meter()
    engine = InMemoryRoomEngine(clock)
    here = engine.simulate_join(ROOM, "still-here")
    await meter.participant_joined(PROJECT, ROOM, person(here.sid, 0), at(0))
    await meter.participant_joined(PROJECT, ROOM, person("PA_lost", 0), at(0))
    await meter.participant_joined(PROJECT, f"{PROJECT}_gone", person("PA_gone", 0), at(0))
    clock.set(at(150))
    assert await meter.reconcile(engine) == 2
    assert await total(usage, "participant_minutes") == 3 + 3
    assert await meter.reconcile(engine) == 0
    # The one still connected is counted when it leaves, from its join.
    await meter.participant_left(PROJECT, person(here.sid, 0), at(600))
    assert await total(usage, "participant_minutes") == 6 + 10


async def test_an_ended_egress_is_metered_once_by_kind_with_its_bytes() -> None:
    meter, usage, _ = make_meter()
    ended = egress(kind="track", ended=59, status="complete", size=2048)
    await meter.egress_ended(ended)
    await meter.egress_ended(ended)
    rows = await usage.totals(
        [PROJECT], granularity="hour", since=at(-3600), until=at(3600), metrics=["egress_minutes"]
    )
    assert [(r.kind, r.quantity) for r in rows] == [("track", 1)]
    assert await total(usage, "recording_bytes") == 2048
    await meter.egress_ended(egress(status="active"))
    assert await total(usage, "egress_minutes") == 1


async def test_each_publishing_session_of_an_ingress_is_metered() -> None:
    meter, usage, _ = make_meter()
    endpoint = ingress()

    def session(start: float, end: float) -> IngressState:
        return IngressState(
            status="ENDPOINT_INACTIVE",
            started_at=Int64(int(at(start).timestamp() * 1e9)),
            ended_at=Int64(int(at(end).timestamp() * 1e9)),
        )

    await meter.ingress_ended(endpoint, session(0, 300), at(300))
    await meter.ingress_ended(endpoint, session(0, 300), at(300))
    await meter.ingress_ended(endpoint, session(1000, 1001), at(1001))
    await meter.ingress_ended(endpoint, IngressState(), at(2000))  # never started
    assert await total(usage, "ingress_minutes") == 5 + 1


async def test_counts_are_flushed_per_hour_and_kept_when_the_flush_fails() -> None:
    clock = ManualClock(T0)
    usage = InMemoryUsageRepository()
    counter = UsageCounter(usage, clock, InMemoryUsageJournal())
    counter.count(PROJECT, "tokens_created")
    counter.count(PROJECT, "tokens_created", 2)
    clock.set(at(3600))
    counter.count(PROJECT, "tokens_created")
    assert counter.pending == 4
    assert await counter.flush() == 2
    rows = await usage.totals(
        [PROJECT], granularity="hour", since=at(0), until=at(7200), metrics=["tokens_created"]
    )
    assert [(r.period_start, r.quantity) for r in rows] == [(at(0), 3), (at(3600), 1)]
    assert counter.pending == 0
    assert await counter.flush() == 0


# -- any order, any duplicates ----------------------------------------------------------

_CONNECTIONS = st.lists(
    st.tuples(st.integers(0, 7200), st.integers(0, 7200)), min_size=1, max_size=6
)


@settings(deadline=None)
@given(data=st.data(), connections=_CONNECTIONS)
async def test_joins_and_leaves_in_any_order_and_repetition_count_each_connection_once(
    data: st.DataObject, connections: list[tuple[int, int]]
) -> None:
    meter, usage, _ = make_meter()
    expected = 0
    events = []
    for i, (joined, length) in enumerate(connections):
        sid = f"PA_{i}"
        expected += whole_minutes(at(joined), at(joined + length))
        events.append(("join", sid, joined, joined))
        events.append(("leave", sid, joined, joined + length))
    shuffled = data.draw(st.permutations(events))
    repeated = shuffled + data.draw(st.lists(st.sampled_from(events), max_size=6))
    for kind, sid, joined, when in repeated:
        if kind == "join":
            await meter.participant_joined(PROJECT, ROOM, person(sid, joined), at(when))
        else:
            await meter.participant_left(PROJECT, person(sid, joined), at(when))
    await meter.room_finished(PROJECT, ROOM, at(10**6))
    assert await total(usage, "participant_minutes") == expected
