"""The event-log, webhook-endpoint and delivery contract (pulse_core.ports.events), on
every backend.

The shared suite sees only the three ports; each backend joins by a fixture returning a
factory of a fresh, empty :class:`Stores`. A few backend-specific checks (SQLite's query
plans and batched deletes, the Mongo document layout) come last, outside the shared suite.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse_adapters.memory import (
    InMemoryDeliveryRepository,
    InMemoryEventRepository,
    InMemoryWebhookEndpointRepository,
)
from pulse_adapters.sqlite import (
    SqliteDatabase,
    SqliteDeliveryRepository,
    SqliteEventRepository,
    SqliteWebhookEndpointRepository,
)
from pulse_core import ids
from pulse_core.errors import Conflict, NotFound
from pulse_core.models.events import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventType,
    WebhookEndpoint,
)
from pulse_core.ports.events import (
    DeliveryRepository,
    EventRepository,
    WebhookEndpointRepository,
)
from pulse_core.services.event_log import delivery_id_of

if TYPE_CHECKING:
    from tests.support.mongo import MongoTestServer

# Whole milliseconds (MongoDB keeps no more, and the suite compares objects exactly), and
# in the future, so that a real MongoDB's TTL monitor never expires the suite's events.
T0 = datetime(2030, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
UNICODE = "café ☕ 会议室 🎥 \u00e9\u0301 \U0001f600"


@dataclass
class Stores:
    events: EventRepository
    endpoints: WebhookEndpointRepository
    deliveries: DeliveryRepository
    aclose: Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


StoresFactory = Callable[[], Awaitable[Stores]]


# Backend fixtures are synchronous and return an async factory: pytest-asyncio cannot
# resolve an async fixture through getfixturevalue inside another async fixture, and the
# hypothesis property needs a fresh backend per example.
@pytest.fixture
def memory_stores() -> StoresFactory:
    async def make() -> Stores:
        return Stores(
            InMemoryEventRepository(),
            InMemoryWebhookEndpointRepository(),
            InMemoryDeliveryRepository(),
            _nothing,
        )

    return make


@pytest.fixture
def sqlite_stores(tmp_path: Path) -> StoresFactory:
    counter = itertools.count()

    async def make() -> Stores:
        db = SqliteDatabase(tmp_path / f"events-{next(counter)}.sqlite3")
        await db.connect()
        return Stores(
            SqliteEventRepository(db),
            SqliteWebhookEndpointRepository(db),
            SqliteDeliveryRepository(db),
            db.close,
        )

    return make


@pytest.fixture
def mongo_stores(mongo_server: MongoTestServer) -> StoresFactory:
    from pulse_adapters.mongo import (
        MongoDatabase,
        MongoDeliveryRepository,
        MongoEventRepository,
        MongoWebhookEndpointRepository,
    )

    async def make() -> Stores:
        db = MongoDatabase(mongo_server.uri, mongo_server.new_db_name(), timeout_seconds=5.0)
        await db.connect()  # creates every index of the plan, these collections' included

        async def aclose() -> None:
            try:
                await db.database.client.drop_database(db.database.name)
            finally:
                await db.close()

        return Stores(
            MongoEventRepository(db),
            MongoWebhookEndpointRepository(db),
            MongoDeliveryRepository(db),
            aclose,
        )

    return make


@pytest.fixture(params=["memory_stores", "sqlite_stores", "mongo_stores"])
def stores_factory(request: pytest.FixtureRequest) -> StoresFactory:
    factory: StoresFactory = request.getfixturevalue(request.param)
    return factory


@pytest.fixture
async def stores(stores_factory: StoresFactory) -> AsyncIterator[Stores]:
    backend = await stores_factory()
    try:
        yield backend
    finally:
        await backend.aclose()


# -- builders ----------------------------------------------------------------------------

# One more millisecond per object built, so that no two ids share a time. Ids still sort
# by time only to the millisecond, so expectations sort by id, as the contract does.
_built = itertools.count()


def _stamp(at: datetime) -> int:
    return ids.ms_of(at) + next(_built)


def project_id() -> str:
    return ids.new_id(ids.PROJECT, now_ms=_stamp(T0))


def event(
    project: str,
    *,
    type: EventType = "room.started",
    at: datetime = T0,
    data: dict[str, Any] | None = None,
) -> Event:
    return Event(
        id=ids.new_id(ids.EVENT, now_ms=_stamp(at)),
        project_id=project,
        type=type,
        timestamp=at,
        data={"room": "demo"} if data is None else data,
    )


def endpoint(project: str, *, at: datetime = T0, **fields: Any) -> WebhookEndpoint:
    endpoint_id = ids.new_id(ids.WEBHOOK_ENDPOINT, now_ms=_stamp(at))
    return WebhookEndpoint(
        **{
            "id": endpoint_id,
            "project_id": project,
            "url": f"https://hooks.example.com/{endpoint_id}",
            "secret": "whsec_" + "A" * 32,
            "created_at": at,
            "updated_at": at,
            **fields,
        }
    )


def delivery(
    project: str,
    endpoint_id: str,
    source: Event,
    *,
    status: DeliveryStatus = "pending",
    at: datetime = T0,
    **fields: Any,
) -> Delivery:
    return Delivery(
        **{
            "id": ids.new_id(ids.DELIVERY, now_ms=_stamp(at)),
            "project_id": project,
            "endpoint_id": endpoint_id,
            "event_id": source.id,
            "event_type": source.type,
            "status": status,
            "created_at": at,
            "updated_at": at,
            **fields,
        }
    )


def newest_first(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda item: item.id, reverse=True)


def assert_utc(moment: datetime | None) -> None:
    assert moment is not None
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


# -- events ------------------------------------------------------------------------------


async def test_event_round_trips_json_data_and_is_invisible_elsewhere(stores: Stores) -> None:
    mine, theirs = project_id(), project_id()
    data = {
        "room": UNICODE,
        UNICODE: "a key of its own",
        "participant": {"identity": "ada", "attributes": {"seat": "12", "empty": {}}},
        "tracks": [1, 2.5, -7, 2**53, True, False, None, "x", [], [UNICODE]],
        "duration_ms": 0.1,
        "nothing": None,
    }
    made = event(mine, type="participant.joined", data=data)
    assert await stores.events.add(made) is True

    got = await stores.events.get(mine, made.id)
    assert got == made
    assert got is not None and got.data == data
    assert_utc(got.timestamp)
    assert await stores.events.get(theirs, made.id) is None
    assert await stores.events.get(mine, event(mine).id) is None
    assert await stores.events.list_page(theirs, limit=10) == []


async def test_event_added_twice_returns_false_and_keeps_the_first(stores: Stores) -> None:
    mine, theirs = project_id(), project_id()
    first = event(mine, data={"attempt": 1})
    assert await stores.events.add(first) is True
    again = msgspec.structs.replace(first, type="room.finished", data={"attempt": 2})
    assert await stores.events.add(again) is False
    # The id is taken whichever project asks: nothing is written for the other one.
    assert await stores.events.add(msgspec.structs.replace(first, project_id=theirs)) is False
    assert await stores.events.get(mine, first.id) == first
    assert await stores.events.get(theirs, first.id) is None
    assert await stores.events.list_page(mine, limit=10) == [first]


async def test_concurrent_adds_of_one_event_store_it_once(stores: Stores) -> None:
    made = event(project_id())
    answers = await asyncio.gather(*(stores.events.add(made) for _ in range(8)))
    assert sorted(answers) == [False] * 7 + [True]
    assert await stores.events.list_page(made.project_id, limit=10) == [made]


async def test_events_list_newest_first_by_before_cursor(stores: Stores) -> None:
    mine, theirs = project_id(), project_id()
    made = [event(mine, at=T0 + timedelta(seconds=i)) for i in range(5)]
    for item in [made[2], made[0], made[4], made[1], made[3]]:
        await stores.events.add(item)
    await stores.events.add(event(theirs, at=T0 + timedelta(seconds=2)))
    expected = newest_first(made)

    assert await stores.events.list_page(mine, limit=10) == expected
    first = await stores.events.list_page(mine, limit=2)
    second = await stores.events.list_page(mine, before=first[-1].id, limit=2)
    third = await stores.events.list_page(mine, before=second[-1].id, limit=2)
    assert [first, second, third] == [expected[:2], expected[2:4], expected[4:]]
    assert await stores.events.list_page(mine, before=third[-1].id, limit=2) == []
    assert await stores.events.list_page(mine, limit=0) == []
    assert await stores.events.list_page(mine, limit=-1) == []


async def test_events_filter_by_types(stores: Stores) -> None:
    mine, theirs = project_id(), project_id()
    kinds: list[EventType] = ["room.started", "participant.joined", "room.finished"]
    made = [event(mine, type=kinds[i % 3], at=T0 + timedelta(seconds=i)) for i in range(9)]
    for item in made:
        await stores.events.add(item)
    await stores.events.add(event(theirs, type="room.started"))

    def of(*types: str) -> list[Event]:
        return newest_first([e for e in made if e.type in types])

    started = await stores.events.list_page(mine, types=["room.started"], limit=10)
    assert started == of("room.started")
    two = ["room.started", "room.finished"]
    assert await stores.events.list_page(mine, types=two, limit=10) == of(*two)
    # Several types page like one: the cursor cuts across all of them.
    page = await stores.events.list_page(mine, types=two, limit=4)
    rest = await stores.events.list_page(mine, types=two, before=page[-1].id, limit=10)
    assert page + rest == of(*two)
    assert len(page) == 4
    repeated = ["room.finished", "room.finished"]
    assert await stores.events.list_page(mine, types=repeated, limit=10) == of("room.finished")
    assert await stores.events.list_page(mine, types=["egress.ended"], limit=10) == []
    assert await stores.events.list_page(mine, types=(), limit=10) == newest_first(made)


async def test_events_filter_by_time_window(stores: Stores) -> None:
    mine = project_id()
    made = [
        event(mine, type="room.started" if i % 2 else "room.finished", at=T0 + timedelta(hours=i))
        for i in range(6)
    ]
    for item in made:
        await stores.events.add(item)
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=4)

    window = await stores.events.list_page(mine, since=since, until=until, limit=10)
    assert window == newest_first(made[1:4])  # since inclusive, until exclusive
    assert await stores.events.list_page(mine, since=since, limit=10) == newest_first(made[1:])
    assert await stores.events.list_page(mine, until=until, limit=10) == newest_first(made[:4])
    for kind, in_window in (("room.started", [1, 3]), ("room.finished", [2])):
        typed = await stores.events.list_page(
            mine, types=[kind], since=since, until=until, limit=10
        )
        assert typed == newest_first([made[i] for i in in_window])
    paged = await stores.events.list_page(mine, since=since, until=until, limit=2)
    rest = await stores.events.list_page(
        mine, since=since, until=until, before=paged[-1].id, limit=10
    )
    assert paged + rest == window
    # A window in another offset is the same instants.
    plus_two = (T0 + timedelta(hours=3)).astimezone(timezone(timedelta(hours=2)))
    assert await stores.events.list_page(mine, since=plus_two, limit=10) == newest_first(made[3:])


async def test_purge_before_deletes_only_older_events_of_every_project(stores: Stores) -> None:
    mine, theirs = project_id(), project_id()
    cut = T0 - timedelta(days=30)
    old = [
        event(mine, at=cut - timedelta(days=1)),
        event(theirs, at=cut - timedelta(milliseconds=1)),
    ]
    kept = [event(mine, at=cut), event(theirs, at=T0), event(mine, at=T0)]
    for item in [*old, *kept]:
        await stores.events.add(item)

    assert await stores.events.purge_before(cut) == 2
    assert await stores.events.purge_before(cut) == 0
    for item in old:
        assert await stores.events.get(item.project_id, item.id) is None
    assert await stores.events.list_page(mine, limit=10) == newest_first([kept[0], kept[2]])
    assert await stores.events.list_page(theirs, limit=10) == [kept[1]]
    # A purged id may be stored again (the log keeps no tombstones).
    assert await stores.events.add(old[0]) is True


# The factory hands out a fresh, empty backend per example.
_EVENT_TYPES: list[EventType] = ["room.started", "participant.joined", "egress.ended"]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 5), st.booleans()), min_size=0, max_size=14
    ),
    page_size=st.integers(1, 5),
    type_filter=st.sets(st.sampled_from(_EVENT_TYPES), max_size=2),
    window=st.tuples(st.none() | st.integers(0, 5), st.none() | st.integers(0, 6)),
)
def test_pages_of_events_concatenate_to_every_match_newest_first(
    stores_factory: StoresFactory,
    shape: list[tuple[int, int, bool]],
    page_size: int,
    type_filter: set[EventType],
    window: tuple[int | None, int | None],
) -> None:
    """Walking the cursor from the newest page to the end yields every matching event of
    the project once, id descending, whatever the order of insertion."""
    since = None if window[0] is None else T0 + timedelta(minutes=window[0])
    until = None if window[1] is None else T0 + timedelta(minutes=window[1])

    async def scenario() -> None:
        backend = await stores_factory()
        try:
            mine, theirs = project_id(), project_id()
            made = [
                event(
                    mine if is_mine else theirs,
                    type=_EVENT_TYPES[kind],
                    at=T0 + timedelta(minutes=minute),
                )
                for kind, minute, is_mine in shape
            ]
            for item in reversed(made):
                await backend.events.add(item)
            expected = newest_first(
                [
                    e
                    for e in made
                    if e.project_id == mine
                    and (not type_filter or e.type in type_filter)
                    and (since is None or e.timestamp >= since)
                    and (until is None or e.timestamp < until)
                ]
            )
            walked: list[Event] = []
            before = None
            for _ in range(len(made) + 2):  # bounded: a broken cursor fails, never hangs
                page = await backend.events.list_page(
                    mine,
                    types=sorted(type_filter),
                    since=since,
                    until=until,
                    before=before,
                    limit=page_size,
                )
                assert len(page) <= page_size
                walked.extend(page)
                if len(page) < page_size:
                    break
                before = page[-1].id
            assert walked == expected
            assert len({e.id for e in walked}) == len(walked)
        finally:
            await backend.aclose()

    asyncio.run(scenario())


# -- endpoints ---------------------------------------------------------------------------


async def test_endpoint_round_trip_and_taken_id(stores: Stores) -> None:
    mine = project_id()
    bare = endpoint(mine)
    full = endpoint(
        mine,
        description=UNICODE,
        event_types=("room.started", "recording.ready"),
        enabled=False,
        disabled_reason="410 Gone",
        previous_secret="whsec_" + "B" * 32,
        previous_secret_expires_at=T0 + timedelta(days=1),
        last_success_at=T0 - timedelta(hours=1),
        failing_since=T0 - timedelta(minutes=5),
    )
    await stores.endpoints.add(bare)
    await stores.endpoints.add(full)

    assert await stores.endpoints.get(mine, bare.id) == bare
    got = await stores.endpoints.get(mine, full.id)
    assert got == full
    assert got is not None
    for moment in (got.created_at, got.previous_secret_expires_at, got.failing_since):
        assert_utc(moment)
    with pytest.raises(Conflict) as caught:
        await stores.endpoints.add(msgspec.structs.replace(full, url="https://other.example"))
    assert caught.value.field == "id"
    assert await stores.endpoints.get(mine, full.id) == full


async def test_endpoint_update_delete_and_list_orders(stores: Stores) -> None:
    mine = project_id()
    made = [endpoint(mine, at=T0 + timedelta(seconds=i)) for i in range(4)]
    for item in [made[2], made[0], made[3], made[1]]:
        await stores.endpoints.add(item)

    oldest_first = sorted(made, key=lambda e: e.id)
    assert await stores.endpoints.list_all(mine) == oldest_first
    assert await stores.endpoints.list_page(mine, limit=10) == newest_first(made)
    page = await stores.endpoints.list_page(mine, limit=3)
    rest = await stores.endpoints.list_page(mine, before=page[-1].id, limit=3)
    assert page + rest == newest_first(made)
    assert await stores.endpoints.list_page(mine, limit=0) == []

    changed = msgspec.structs.replace(
        made[1],
        url="https://hooks.example.com/v2",
        event_types=("egress.ended",),
        enabled=False,
        disabled_reason="no success for 120 hours",
        updated_at=T0 + timedelta(hours=1),
    )
    await stores.endpoints.update(changed)
    assert await stores.endpoints.get(mine, made[1].id) == changed
    healed = msgspec.structs.replace(changed, enabled=True, disabled_reason=None)
    await stores.endpoints.update(healed)  # None replaces a value
    assert await stores.endpoints.get(mine, made[1].id) == healed
    with pytest.raises(NotFound):
        await stores.endpoints.update(endpoint(mine))

    assert await stores.endpoints.delete(mine, made[0].id) is True
    assert await stores.endpoints.delete(mine, made[0].id) is False
    assert await stores.endpoints.get(mine, made[0].id) is None
    remaining = [healed if e.id == healed.id else e for e in oldest_first if e.id != made[0].id]
    assert await stores.endpoints.list_all(mine) == remaining


# -- deliveries --------------------------------------------------------------------------


async def test_delivery_round_trip_with_attempts(stores: Stores) -> None:
    mine = project_id()
    source = event(mine, type="recording.ready")
    attempts = (
        DeliveryAttempt(
            at=T0 + timedelta(seconds=1),
            status_code=500,
            duration_ms=120,
            response_excerpt=f"oops {UNICODE}",
        ),
        DeliveryAttempt(at=T0 + timedelta(seconds=6), duration_ms=15000, error="timed out"),
        DeliveryAttempt(at=T0 + timedelta(seconds=306)),
    )
    made = delivery(
        mine,
        "whe_x",
        source,
        status="failed",
        attempts=attempts,
        next_attempt_at=T0 + timedelta(minutes=35),
    )
    bare = delivery(mine, "whe_x", source)
    assert await stores.deliveries.add(made) is True
    assert await stores.deliveries.add(bare) is True

    got = await stores.deliveries.get(mine, made.id)
    assert got == made
    assert got is not None
    assert got.attempts[1].status_code is None and got.attempts[1].response_excerpt is None
    assert got.attempts[2] == DeliveryAttempt(at=T0 + timedelta(seconds=306))
    assert got.last_status_code is None
    for moment in (got.next_attempt_at, got.created_at, *(a.at for a in got.attempts)):
        assert_utc(moment)
    assert await stores.deliveries.get(mine, bare.id) == bare


async def test_delivery_added_twice_returns_false_and_keeps_the_first(stores: Stores) -> None:
    mine = project_id()
    first = delivery(mine, "whe_x", event(mine))
    assert await stores.deliveries.add(first) is True
    assert await stores.deliveries.add(msgspec.structs.replace(first, status="dead")) is False
    assert await stores.deliveries.get(mine, first.id) == first
    answers = await asyncio.gather(
        *(stores.deliveries.add(msgspec.structs.replace(first, status="dead")) for _ in range(5))
    )
    assert answers == [False] * 5
    assert await stores.deliveries.list_page(mine, status="dead", limit=10) == []


async def test_delivery_update_replaces_status_and_attempts(stores: Stores) -> None:
    mine = project_id()
    made = delivery(mine, "whe_x", event(mine))
    await stores.deliveries.add(made)
    done = msgspec.structs.replace(
        made,
        status="succeeded",
        attempts=(DeliveryAttempt(at=T0, status_code=204, duration_ms=42),),
        updated_at=T0 + timedelta(seconds=1),
    )
    await stores.deliveries.update(done)
    assert await stores.deliveries.get(mine, made.id) == done
    assert await stores.deliveries.list_page(mine, status="succeeded", limit=10) == [done]
    assert await stores.deliveries.list_page(mine, status="pending", limit=10) == []
    with pytest.raises(NotFound):
        await stores.deliveries.update(delivery(mine, "whe_x", event(mine)))


async def test_delivery_change_writes_what_the_function_answers_for_its_project_only(
    stores: Stores,
) -> None:
    mine, theirs = project_id(), project_id()
    made = delivery(mine, "whe_x", event(mine))
    await stores.deliveries.add(made)
    seen: list[Delivery] = []
    attempt = DeliveryAttempt(at=T0, status_code=500, duration_ms=7, error=UNICODE)

    def failed(stored: Delivery) -> Delivery:
        seen.append(stored)
        return msgspec.structs.replace(
            stored, status="failed", attempts=(*stored.attempts, attempt), updated_at=T0
        )

    changed = await stores.deliveries.change(mine, made.id, failed)
    assert seen == [made]
    assert changed is not None and changed.status == "failed"
    assert changed.attempts == (attempt,)
    assert await stores.deliveries.get(mine, made.id) == changed
    # Found by its new status, no longer by its old one.
    assert await stores.deliveries.list_page(mine, status="failed", limit=10) == [changed]
    assert await stores.deliveries.list_page(mine, status="pending", limit=10) == []
    # Another project's id, or no delivery at all: the function is never called.
    assert await stores.deliveries.change(theirs, made.id, failed) is None
    assert await stores.deliveries.change(mine, "whd_missing", failed) is None
    assert len(seen) == 1
    assert await stores.deliveries.get(mine, made.id) == changed
    # Answering the stored delivery itself changes nothing.
    assert await stores.deliveries.change(mine, made.id, lambda stored: stored) == changed


async def test_delivery_change_refuses_to_make_it_another_delivery(stores: Stores) -> None:
    mine = project_id()
    made = delivery(mine, "whe_x", event(mine))
    await stores.deliveries.add(made)
    for changes in (
        {"project_id": project_id()},
        {"id": "whd_other"},
        {"endpoint_id": "whe_other"},
        {"event_id": "evt_other"},
    ):
        with pytest.raises(ValueError, match="keep the delivery's id, project, endpoint and"):
            await stores.deliveries.change(
                mine, made.id, lambda stored, c=changes: msgspec.structs.replace(stored, **c)
            )
    assert await stores.deliveries.get(mine, made.id) == made


async def test_concurrent_delivery_changes_all_land(stores: Stores) -> None:
    # What two runs of one job recording their attempts at once need: neither outcome is
    # lost to the other's read-then-write.
    mine = project_id()
    made = delivery(mine, "whe_x", event(mine))
    await stores.deliveries.add(made)

    def appending(n: int) -> Callable[[Delivery], Delivery]:
        def change(stored: Delivery) -> Delivery:
            at = T0 + timedelta(seconds=n)
            attempts = (*stored.attempts, DeliveryAttempt(at=at, status_code=200 + n))
            return msgspec.structs.replace(stored, attempts=attempts, updated_at=at)

        return change

    await asyncio.gather(*(stores.deliveries.change(mine, made.id, appending(n)) for n in range(8)))
    stored = await stores.deliveries.get(mine, made.id)
    assert stored is not None
    assert sorted(a.status_code or 0 for a in stored.attempts) == [200 + n for n in range(8)]


async def test_delivery_filters_and_pages(stores: Stores) -> None:
    mine, theirs = project_id(), project_id()
    events = [event(mine, at=T0 + timedelta(seconds=i)) for i in range(3)]
    statuses: list[DeliveryStatus] = ["pending", "failed", "succeeded", "dead"]
    made = [
        delivery(mine, endpoint_id, source, status=statuses[(i + j) % 4])
        for i, source in enumerate(events)
        for j, endpoint_id in enumerate(["whe_a", "whe_b"])
    ]
    for item in reversed(made):
        await stores.deliveries.add(item)
    await stores.deliveries.add(delivery(theirs, "whe_a", events[0]))

    async def listed(**filters: Any) -> list[Delivery]:
        return await stores.deliveries.list_page(mine, limit=100, **filters)

    def expected(**filters: Any) -> list[Delivery]:
        return newest_first(
            [d for d in made if all(getattr(d, k) == v for k, v in filters.items())]
        )

    assert await listed() == expected()
    assert await listed(endpoint_id="whe_a") == expected(endpoint_id="whe_a")
    assert await listed(event_id=events[1].id) == expected(event_id=events[1].id)
    assert await listed(status="failed") == expected(status="failed")
    both = {"endpoint_id": "whe_b", "status": "failed"}
    assert await listed(**both) == expected(**both)
    all_three = {"endpoint_id": "whe_b", "event_id": events[0].id, "status": "failed"}
    assert await listed(**all_three) == expected(**all_three)
    assert await listed(event_id=events[2].id, endpoint_id="whe_a") == expected(
        event_id=events[2].id, endpoint_id="whe_a"
    )
    assert await listed(endpoint_id="whe_none") == []

    page = await stores.deliveries.list_page(mine, endpoint_id="whe_a", limit=2)
    rest = await stores.deliveries.list_page(mine, endpoint_id="whe_a", before=page[-1].id, limit=2)
    assert page + rest == expected(endpoint_id="whe_a")
    assert await stores.deliveries.list_page(mine, limit=0) == []


async def test_drop_unsent_deletes_only_that_endpoints_deliveries_still_to_attempt(
    stores: Stores,
) -> None:
    mine, theirs = project_id(), project_id()
    source = event(mine)
    doomed = [delivery(mine, "whe_a", event(mine), status=s) for s in ("pending", "failed")]
    logged = [delivery(mine, "whe_a", event(mine), status=s) for s in ("succeeded", "dead")]
    others = [delivery(mine, "whe_b", source), delivery(theirs, "whe_a", source)]
    for item in [*doomed, *logged, *others]:
        await stores.deliveries.add(item)

    assert await stores.deliveries.drop_unsent(theirs, "whe_b") == 0
    assert await stores.deliveries.drop_unsent(mine, "whe_a") == 2
    assert await stores.deliveries.drop_unsent(mine, "whe_a") == 0
    assert await stores.deliveries.list_page(mine, limit=10) == newest_first([*logged, others[0]])
    assert await stores.deliveries.list_page(theirs, limit=10) == [others[1]]


async def test_purge_before_deletes_the_deliveries_of_older_events_of_every_project(
    stores: Stores,
) -> None:
    mine, theirs = project_id(), project_id()
    cut = T0 - timedelta(days=30)

    def of_event_at(project: str, at: datetime, status: DeliveryStatus) -> Delivery:
        # As made by the service: the id carries the event's time, created_at may not.
        source = event(project, at=at)
        made_id = delivery_id_of(source.id, "whe_a", now_ms=ids.ms_of(at))
        return delivery(project, "whe_a", source, status=status, at=T0, id=made_id)

    old = [
        of_event_at(mine, cut - timedelta(days=1), "dead"),
        of_event_at(theirs, cut - timedelta(milliseconds=1), "pending"),
    ]
    kept = [
        of_event_at(mine, cut, "succeeded"),
        of_event_at(theirs, T0, "dead"),
        of_event_at(mine, T0, "failed"),
    ]
    for item in [*old, *kept]:
        await stores.deliveries.add(item)

    assert await stores.deliveries.purge_before(cut) == 2
    assert await stores.deliveries.purge_before(cut) == 0
    for item in old:
        assert await stores.deliveries.get(item.project_id, item.id) is None
    assert await stores.deliveries.list_page(mine, limit=10) == newest_first([kept[0], kept[2]])
    assert await stores.deliveries.list_page(theirs, limit=10) == [kept[1]]


# -- tenancy -----------------------------------------------------------------------------


async def test_projects_never_see_each_others_objects(stores: Stores) -> None:
    mine, theirs = project_id(), project_id()
    source = event(mine)
    hook = endpoint(mine)
    sent = delivery(mine, hook.id, source)
    await stores.events.add(source)
    await stores.endpoints.add(hook)
    await stores.deliveries.add(sent)

    assert await stores.events.get(theirs, source.id) is None
    assert await stores.events.list_page(theirs, limit=10) == []
    assert await stores.events.list_page(theirs, types=[source.type], limit=10) == []

    assert await stores.endpoints.get(theirs, hook.id) is None
    assert await stores.endpoints.list_page(theirs, limit=10) == []
    assert await stores.endpoints.list_all(theirs) == []
    with pytest.raises(NotFound):
        await stores.endpoints.update(msgspec.structs.replace(hook, project_id=theirs))
    assert await stores.endpoints.delete(theirs, hook.id) is False

    assert await stores.deliveries.get(theirs, sent.id) is None
    assert await stores.deliveries.list_page(theirs, limit=10) == []
    for filters in ({"endpoint_id": hook.id}, {"event_id": source.id}, {"status": "pending"}):
        assert await stores.deliveries.list_page(theirs, limit=10, **filters) == []
    with pytest.raises(NotFound):
        await stores.deliveries.update(
            msgspec.structs.replace(sent, project_id=theirs, status="dead")
        )
    assert await stores.deliveries.drop_unsent(theirs, hook.id) == 0

    # Nothing of the owner's changed.
    assert await stores.events.get(mine, source.id) == source
    assert await stores.endpoints.get(mine, hook.id) == hook
    assert await stores.deliveries.get(mine, sent.id) == sent


# -- SQLite specifics --------------------------------------------------------------------


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = SqliteDatabase(tmp_path / "events.sqlite3")
    await db.connect()
    try:
        yield db
    finally:
        await db.close()


def _sqlite_queries() -> list[Any]:
    from pulse_adapters.sqlite import events, webhook_endpoints

    window = {"project_id": "prj_a", "before": "z", "since": 0, "until": None, "limit": 10}
    none: dict[str, Any] = {"endpoint_id": None, "event_id": None, "status": None}
    listing = {"project_id": "prj_a", "before": "z", "limit": 10, **none}
    cases: dict[str, Any] = {
        "EVENT_GET": ("evt_a", "prj_a"),
        "EVENT_LIST": window,
        "EVENT_LIST_OF_TYPE": {**window, "type": "room.started"},
        "EVENT_PURGE": (0, 10),
        "ENDPOINT_GET": ("whe_a", "prj_a"),
        "ENDPOINT_LIST": ("prj_a", "z", 10),
        "ENDPOINT_LIST_ALL": ("prj_a",),
        "ENDPOINT_UPDATE": ("{}", "whe_a", "prj_a"),
        "ENDPOINT_DELETE": ("whe_a", "prj_a"),
        "DELIVERY_GET": ("whd_a", "prj_a"),
        "DELIVERY_UPDATE": ("whe_a", "evt_a", "dead", "{}", "whd_a", "prj_a"),
        "DELIVERY_CHANGE": ("dead", "{}", "whd_a", "prj_a"),
        "DELIVERY_DROP_UNSENT": ("prj_a", "whe_a", "pending", "failed", 10),
        "DELIVERY_PURGE": ("whd_a", 10),
        "DELIVERY_LIST": listing,
        "DELIVERY_LIST_OF_EVENT": {**listing, "event_id": "evt_a", "status": "dead"},
        "DELIVERY_LIST_OF_ENDPOINT": {**listing, "endpoint_id": "whe_a", "status": "dead"},
        "DELIVERY_LIST_OF_STATUS": {**listing, "status": "dead"},
    }
    return [
        pytest.param(
            getattr(events if hasattr(events, name) else webhook_endpoints, name), params, id=name
        )
        for name, params in cases.items()
    ]


@pytest.mark.parametrize(("sql", "params"), _sqlite_queries())
async def test_sqlite_queries_use_an_index_and_no_sort(
    sqlite_db: SqliteDatabase, sql: str, params: Any
) -> None:
    plan = await sqlite_db.read(
        lambda c: [row[3] for row in c.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    )
    steps = [step for step in plan if not step.startswith("LIST SUBQUERY")]
    assert steps and all("USING" in step and "INDEX" in step for step in steps), plan
    assert not any("TEMP B-TREE" in step or step.startswith("SCAN") for step in plan), plan


async def test_sqlite_bulk_deletes_run_in_batches(
    sqlite_db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulse_adapters.sqlite import events as sqlite_events

    monkeypatch.setattr(sqlite_events, "DELETE_BATCH", 3)
    events, deliveries = SqliteEventRepository(sqlite_db), SqliteDeliveryRepository(sqlite_db)
    mine = project_id()
    olds = [event(mine, at=T0 - timedelta(days=40, seconds=i)) for i in range(7)]
    for old in olds:
        await events.add(old)
        await deliveries.add(delivery(mine, "whe_a", old))
    survivor = event(mine)
    await events.add(survivor)

    assert await events.purge_before(T0 - timedelta(days=30)) == 7
    assert await events.list_page(mine, limit=10) == [survivor]
    assert await deliveries.drop_unsent(mine, "whe_a") == 7
    assert await deliveries.list_page(mine, limit=10) == []
    for old in olds:
        await deliveries.add(delivery(mine, "whe_a", old, status="dead", at=old.timestamp))
    assert await deliveries.drop_unsent(mine, "whe_a") == 0
    assert await deliveries.purge_before(T0 - timedelta(days=30)) == 7


async def test_sqlite_two_processes_adding_one_event_store_it_once(tmp_path: Path) -> None:
    # Two SqliteDatabase objects are two connections, as two worker processes would have.
    path = tmp_path / "shared.sqlite3"
    first, second = SqliteDatabase(path), SqliteDatabase(path)
    await first.connect()
    await second.connect()
    try:
        made = event(project_id())
        repos = [SqliteEventRepository(db) for db in (first, second)] * 4
        answers = await asyncio.gather(*(repo.add(made) for repo in repos))
        assert sorted(answers) == [False] * 7 + [True]
    finally:
        await first.close()
        await second.close()


# -- MongoDB specifics -------------------------------------------------------------------


async def test_mongo_documents_keep_data_nested_and_store_no_none(
    mongo_server: MongoTestServer,
) -> None:
    from pulse_adapters.mongo import (
        MongoDatabase,
        MongoDeliveryRepository,
        MongoEventRepository,
        MongoWebhookEndpointRepository,
    )

    db = MongoDatabase(mongo_server.uri, mongo_server.new_db_name(), timeout_seconds=5.0)
    try:
        await db.connect()
        mine = project_id()
        source = event(mine, data={"room": "demo", "nothing": None, "n": [1, {"a": None}]})
        hook = endpoint(mine)
        sent = delivery(mine, hook.id, source, attempts=(DeliveryAttempt(at=T0, error="refused"),))
        await MongoEventRepository(db).add(source)
        await MongoWebhookEndpointRepository(db).add(hook)
        await MongoDeliveryRepository(db).add(sent)

        stored_event = await db.collection("events").find_one({"_id": source.id})
        assert stored_event == {
            "_id": source.id,
            "project_id": mine,
            "type": "room.started",
            "timestamp": T0,
            "data": {"room": "demo", "nothing": None, "n": [1, {"a": None}]},
        }
        stored_hook = await db.collection("webhook_endpoints").find_one({"_id": hook.id})
        assert stored_hook is not None
        assert "disabled_reason" not in stored_hook and "previous_secret" not in stored_hook
        assert stored_hook["event_types"] == [] and stored_hook["enabled"] is True
        stored_delivery = await db.collection("webhook_deliveries").find_one({"_id": sent.id})
        assert stored_delivery is not None
        assert "next_attempt_at" not in stored_delivery
        assert stored_delivery["attempts"] == [{"at": T0, "duration_ms": 0, "error": "refused"}]
        assert stored_delivery["event_id"] == source.id
        assert stored_delivery["status"] == "pending"
    finally:
        await db.database.client.drop_database(db.database.name)
        await db.close()
