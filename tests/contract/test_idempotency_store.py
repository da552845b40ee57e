"""The IdempotencyStore contract, run against every adapter (memory, SQLite, Mongo,
Redis); then what only some backends can show (expired rows purged, Redis's own expiry,
an outage).

Time is a ManualClock moved by hand: leases and the 24 hours pass without waiting.
Concurrent claims go through two stores on one backend (two SQLite connections to one
file, two Mongo clients, two Redis clients), as two processes would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryIdempotencyStore
from pulse_adapters.mongo import MongoDatabase, MongoIdempotencyStore
from pulse_adapters.redis import RedisIdempotencyStore, create_redis_client
from pulse_adapters.sqlite import SqliteDatabase, SqliteIdempotencyStore
from pulse_adapters.sqlite import idempotency as sqlite_queries
from pulse_core.errors import Unavailable
from pulse_core.ports.idempotency import (
    Claimed,
    IdempotencyStore,
    InProgress,
    Mismatch,
    Replay,
    StoredResponse,
)
from tests.support.mongo import MongoTestServer
from tests.support.ports import free_port

BACKENDS = ["memory", "sqlite", "mongo", "redis"]
DAY = 24 * 3600.0
LEASE = 60.0
CREATED = StoredResponse(
    status=201,
    headers=(("content-type", "application/json"), ("location", "/v1/projects/prj_1")),
    body=b'{"id":"prj_1"}',
)
# Bytes that are not UTF-8 must come back as they went in.
BINARY = StoredResponse(status=200, headers=(), body=bytes(range(256)))

# A store on the test's backend; each call, one more store sharing that backend.
StoreFactory = Callable[[], Awaitable[IdempotencyStore]]


@pytest.fixture
async def memory_stores(clock: ManualClock) -> AsyncIterator[StoreFactory]:
    store = InMemoryIdempotencyStore(clock)

    async def make() -> IdempotencyStore:
        return store  # one process: the same store is the whole backend

    yield make


@pytest.fixture
async def sqlite_stores(tmp_path: Path, clock: ManualClock) -> AsyncIterator[StoreFactory]:
    databases: list[SqliteDatabase] = []

    async def make() -> IdempotencyStore:
        db = SqliteDatabase(tmp_path / "pulse.sqlite3")
        await db.connect()
        databases.append(db)
        return SqliteIdempotencyStore(db, clock)

    yield make
    for db in databases:
        await db.close()


@pytest.fixture
async def mongo_stores(
    mongo_server: MongoTestServer, clock: ManualClock
) -> AsyncIterator[StoreFactory]:
    name = mongo_server.new_db_name()
    databases: list[MongoDatabase] = []

    async def make() -> IdempotencyStore:
        db = MongoDatabase(mongo_server.uri, name, timeout_seconds=5.0)
        await db.connect()
        databases.append(db)
        return MongoIdempotencyStore(db, clock)

    yield make
    if databases:
        await databases[0].database.client.drop_database(name)
    for db in databases:
        await db.close()


@pytest.fixture
async def redis_stores(redis_url: str, clock: ManualClock) -> AsyncIterator[StoreFactory]:
    clients: list[redis.asyncio.Redis] = []

    async def make() -> IdempotencyStore:
        client = create_redis_client(redis_url, timeout_seconds=2.0)
        clients.append(client)
        return RedisIdempotencyStore(client, clock, timeout_seconds=2.0)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest) -> StoreFactory:
    factory: StoreFactory = request.getfixturevalue(f"{request.param}_stores")
    return factory


@pytest.fixture
async def store(stores: StoreFactory) -> IdempotencyStore:
    return await stores()


async def claim(
    store: IdempotencyStore, key: str = "key-1", fingerprint: str = "fp-a", scope: str = "s1"
) -> Claimed | InProgress | Replay | Mismatch:
    return await store.claim(scope, key, fingerprint, ttl_seconds=DAY, lease_seconds=LEASE)


async def claimed(store: IdempotencyStore, key: str = "key-1", **kwargs: str) -> str:
    outcome = await claim(store, key, **kwargs)
    assert isinstance(outcome, Claimed), outcome
    return outcome.token


# -- the contract, on every backend ----------------------------------------------------------


async def test_a_free_key_is_claimed_then_in_progress_then_replayed(
    store: IdempotencyStore,
) -> None:
    token = await claimed(store)
    assert await claim(store) == InProgress()
    assert await store.complete("s1", "key-1", token, CREATED) is True
    assert await claim(store) == Replay(response=CREATED)
    assert await claim(store) == Replay(response=CREATED)  # as often as asked


async def test_the_response_comes_back_byte_for_byte(store: IdempotencyStore) -> None:
    token = await claimed(store)
    assert await store.complete("s1", "key-1", token, BINARY)
    assert await claim(store) == Replay(response=BINARY)


async def test_another_fingerprint_is_a_mismatch_in_progress_and_completed(
    store: IdempotencyStore,
) -> None:
    token = await claimed(store)
    assert await claim(store, fingerprint="fp-b") == Mismatch()
    await store.complete("s1", "key-1", token, CREATED)
    assert await claim(store, fingerprint="fp-b") == Mismatch()
    assert await claim(store) == Replay(response=CREATED)  # the mismatch changed nothing


async def test_scopes_and_keys_are_independent(store: IdempotencyStore) -> None:
    token = await claimed(store, scope="s1")
    await store.complete("s1", "key-1", token, CREATED)
    # The same key in another scope (another caller) is another record.
    other = await claimed(store, scope="s2")
    assert await claim(store, scope="s2") == InProgress()
    await store.release("s2", "key-1", other)
    assert isinstance(await claim(store, key="key-2", scope="s1"), Claimed)
    assert await claim(store, scope="s1") == Replay(response=CREATED)


async def test_scopes_may_hold_any_character(store: IdempotencyStore) -> None:
    # Scopes are the shell's (ids, a JWT subject): newlines and non-ASCII included.
    scope = "management\norg_1\nüser"
    token = await claimed(store, scope=scope, key="c")
    await store.complete(scope, "c", token, CREATED)
    assert await claim(store, scope=scope, key="c") == Replay(response=CREATED)
    assert isinstance(await claim(store, scope="management\norg_1", key="c"), Claimed)


async def test_release_frees_the_key_for_a_new_claim(store: IdempotencyStore) -> None:
    token = await claimed(store)
    await store.release("s1", "key-1", token)
    second = await claimed(store, fingerprint="fp-b")  # free: any request may take it
    assert second != token
    assert await store.complete("s1", "key-1", token, CREATED) is False  # the old holder's
    assert await store.complete("s1", "key-1", second, BINARY) is True
    assert await claim(store, fingerprint="fp-b") == Replay(response=BINARY)


async def test_only_the_holder_completes_or_releases(store: IdempotencyStore) -> None:
    token = await claimed(store)
    await store.release("s1", "key-1", "not-the-token")
    assert await claim(store) == InProgress()
    assert await store.complete("s1", "key-1", "not-the-token", CREATED) is False
    assert await claim(store) == InProgress()
    assert await store.complete("s1", "key-1", token, CREATED) is True


async def test_a_completed_record_is_final(store: IdempotencyStore) -> None:
    token = await claimed(store)
    assert await store.complete("s1", "key-1", token, CREATED) is True
    assert await store.complete("s1", "key-1", token, BINARY) is False
    await store.release("s1", "key-1", token)  # too late to release
    assert await claim(store) == Replay(response=CREATED)


async def test_missing_records_are_neither_completed_nor_released(
    store: IdempotencyStore,
) -> None:
    assert await store.complete("s1", "never", "token", CREATED) is False
    await store.release("s1", "never", "token")
    assert isinstance(await claim(store, key="never"), Claimed)


async def test_an_abandoned_claim_is_taken_over_after_its_lease(
    store: IdempotencyStore, clock: ManualClock
) -> None:
    crashed = await claimed(store)
    clock.advance(LEASE - 1)
    assert await claim(store) == InProgress()
    clock.advance(1)
    successor = await claimed(store)
    assert successor != crashed
    # The first holder, back from the dead, no longer owns the key.
    assert await store.complete("s1", "key-1", crashed, BINARY) is False
    await store.release("s1", "key-1", crashed)
    assert await claim(store) == InProgress()
    assert await store.complete("s1", "key-1", successor, CREATED) is True
    assert await claim(store) == Replay(response=CREATED)


async def test_a_fingerprint_mismatch_holds_past_the_lease(
    store: IdempotencyStore, clock: ManualClock
) -> None:
    await claimed(store)
    clock.advance(LEASE + 1)
    assert await claim(store, fingerprint="fp-b") == Mismatch()


async def test_a_slow_holder_nobody_took_over_still_completes(
    store: IdempotencyStore, clock: ManualClock
) -> None:
    token = await claimed(store)
    clock.advance(LEASE * 3)
    assert await store.complete("s1", "key-1", token, CREATED) is True
    assert await claim(store) == Replay(response=CREATED)


async def test_records_expire_a_day_after_their_claim(
    store: IdempotencyStore, clock: ManualClock
) -> None:
    token = await claimed(store)
    clock.advance(LEASE)
    await store.complete("s1", "key-1", token, CREATED)
    clock.advance(DAY - LEASE - 1)
    assert await claim(store) == Replay(response=CREATED)
    assert await claim(store, fingerprint="fp-b") == Mismatch()
    clock.advance(1)
    # Expired: free for any request, and the new record has a day of its own.
    fresh = await claimed(store, fingerprint="fp-b")
    assert await store.complete("s1", "key-1", fresh, BINARY) is True
    clock.advance(DAY - 1)
    assert await claim(store, fingerprint="fp-b") == Replay(response=BINARY)
    clock.advance(1)
    assert isinstance(await claim(store), Claimed)


async def test_an_expired_claim_no_longer_completes(
    store: IdempotencyStore, clock: ManualClock
) -> None:
    token = await claimed(store)
    clock.advance(DAY)
    assert await store.complete("s1", "key-1", token, CREATED) is False
    assert isinstance(await claim(store), Claimed)


async def test_concurrent_claims_let_exactly_one_in(stores: StoreFactory) -> None:
    first, second = await stores(), await stores()
    outcomes = await asyncio.gather(
        *(claim(store, key="race") for _ in range(10) for store in (first, second))
    )
    winners = [o for o in outcomes if isinstance(o, Claimed)]
    assert len(winners) == 1, outcomes
    assert all(o == InProgress() for o in outcomes if not isinstance(o, Claimed))
    # Whichever store won, the other sees its answer.
    await first.complete("s1", "race", winners[0].token, CREATED)
    assert await claim(second, key="race") == Replay(response=CREATED)


async def test_concurrent_takeovers_of_an_abandoned_claim_let_exactly_one_in(
    stores: StoreFactory, clock: ManualClock
) -> None:
    first, second = await stores(), await stores()
    await claimed(first, key="race")
    clock.advance(LEASE)
    outcomes = await asyncio.gather(
        *(claim(store, key="race") for _ in range(10) for store in (first, second))
    )
    assert sum(isinstance(o, Claimed) for o in outcomes) == 1, outcomes


# -- what only some backends show --------------------------------------------------------------


async def test_sqlite_claims_purge_expired_rows(
    sqlite_stores: StoreFactory, clock: ManualClock
) -> None:
    store = await sqlite_stores()
    for n in range(5):
        await claimed(store, key=f"old-{n}")
    clock.advance(DAY)
    await claimed(store, key="new")
    db: SqliteDatabase = store._db  # type: ignore[attr-defined]
    keys = await db.read(lambda c: [k for (k,) in c.execute("SELECT key FROM idempotency_keys")])
    assert keys == ["new"]


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        (sqlite_queries.IDEMPOTENCY_GET, ("s1", "k")),
        (sqlite_queries.IDEMPOTENCY_COMPLETE, (b"", "s1", "k", "t", 0)),
        (sqlite_queries.IDEMPOTENCY_RELEASE, ("s1", "k", "t")),
        (sqlite_queries.IDEMPOTENCY_PURGE, (0, 100)),
    ],
)
async def test_sqlite_queries_use_an_index(
    sqlite_stores: StoreFactory, sql: str, params: tuple[object, ...]
) -> None:
    store = await sqlite_stores()
    db: SqliteDatabase = store._db  # type: ignore[attr-defined]
    plan = await db.read(
        lambda c: [row[3] for row in c.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    )
    searches = [step for step in plan if "SCAN" in step or "SEARCH" in step]
    assert searches and all("USING" in step for step in searches), plan


async def test_redis_records_expire_by_themselves(
    redis_stores: StoreFactory, redis_client: redis.asyncio.Redis
) -> None:
    store = await redis_stores()
    await claimed(store)
    assert isinstance(store, RedisIdempotencyStore)
    ttl_ms = await redis_client.pttl(store.key("s1", "key-1"))
    assert DAY * 1000 - 60_000 < ttl_ms <= DAY * 1000


async def test_redis_down_is_unavailable(clock: ManualClock) -> None:
    client = create_redis_client(f"redis://127.0.0.1:{free_port()}/0", timeout_seconds=0.5)
    store = RedisIdempotencyStore(client, clock, timeout_seconds=0.5)
    try:
        for operation in (
            claim(store),
            store.complete("s1", "key-1", "t", CREATED),
            store.release("s1", "key-1", "t"),
        ):
            with pytest.raises(Unavailable):
                await operation
    finally:
        await client.aclose()


async def test_sqlite_closed_is_unavailable(tmp_path: Path, clock: ManualClock) -> None:
    store = SqliteIdempotencyStore(SqliteDatabase(tmp_path / "closed.sqlite3"), clock)
    with pytest.raises(Unavailable):
        await claim(store)
