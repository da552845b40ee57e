"""The Locks contract, run against every adapter; then what only Redis can show (two
replicas, leases, an outage).

Nothing here measures time: waits are generous bounds that a working lock never comes
near, and ordering is arranged with events and explicit enter/exit, never with sleeps
that must be long enough. The short sleeps below only give another task the chance to
misbehave; the assertions hold whether or not it ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from pulse_adapters.memory import InMemoryLocks
from pulse_adapters.redis import RedisLocks, create_redis_client
from pulse_core.errors import Unavailable
from pulse_core.ports.locks import Locks
from tests.support.redis_server import RedisServer

LOCK_BACKENDS = ["memory", "redis"]

# Far beyond anything a correct lock needs on a loaded machine.
LONG = 30.0


@pytest.fixture
def memory_locks() -> Locks:
    return InMemoryLocks()


@pytest.fixture
def redis_locks(redis_client: redis.asyncio.Redis) -> Locks:
    return RedisLocks(redis_client, timeout_seconds=2.0)


@pytest.fixture(params=LOCK_BACKENDS)
def locks(request: pytest.FixtureRequest) -> Locks:
    chosen: Locks = request.getfixturevalue(f"{request.param}_locks")
    return chosen


async def _is_busy(locks: Locks, name: str) -> bool:
    """Whether ``name`` is held by someone (asking without waiting)."""
    try:
        async with locks.hold(name, lease_seconds=LONG, wait_seconds=0):
            return False
    except Unavailable:
        return True


# -- the contract, on every backend --------------------------------------------------------


async def test_concurrent_holders_never_overlap_and_lose_no_update(locks: Locks) -> None:
    counter = 0
    inside = 0
    most_inside = 0

    async def increment() -> None:
        nonlocal counter, inside, most_inside
        async with locks.hold("counter", lease_seconds=LONG, wait_seconds=LONG):
            inside += 1
            most_inside = max(most_inside, inside)
            seen = counter
            await asyncio.sleep(0.001)  # another task runs here if it can get in
            counter = seen + 1
            inside -= 1

    await asyncio.gather(*(increment() for _ in range(25)))

    assert counter == 25
    assert most_inside == 1


async def test_a_waiter_gets_in_once_the_holder_leaves(locks: Locks) -> None:
    entered = asyncio.Event()

    async def waiter() -> None:
        async with locks.hold("x", lease_seconds=LONG, wait_seconds=LONG):
            entered.set()

    async with locks.hold("x", lease_seconds=LONG, wait_seconds=0):
        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.05)
        assert not entered.is_set()  # still held: the waiter is waiting, not inside
    await asyncio.wait_for(task, LONG)
    assert entered.is_set()
    assert not await _is_busy(locks, "x")


async def test_a_held_name_is_unavailable_after_wait_seconds(locks: Locks) -> None:
    async with locks.hold("x", lease_seconds=LONG, wait_seconds=0):
        with pytest.raises(Unavailable):
            async with locks.hold("x", lease_seconds=LONG, wait_seconds=0.2):
                pytest.fail("entered a held lock")
        with pytest.raises(Unavailable):
            async with locks.hold("x", lease_seconds=LONG, wait_seconds=0):
                pytest.fail("entered a held lock")
    # The failed attempts took nothing: the name is free once its holder leaves.
    assert not await _is_busy(locks, "x")


async def test_different_names_do_not_exclude_each_other(locks: Locks) -> None:
    async with (
        locks.hold("org_a", lease_seconds=LONG, wait_seconds=0),
        locks.hold("org_b", lease_seconds=LONG, wait_seconds=0),
    ):
        assert await _is_busy(locks, "org_a")
        assert await _is_busy(locks, "org_b")
        assert not await _is_busy(locks, "org_c")
    assert not await _is_busy(locks, "org_a")
    assert not await _is_busy(locks, "org_b")


async def test_an_exception_in_the_block_releases_the_lock_and_propagates(locks: Locks) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with locks.hold("x", lease_seconds=LONG, wait_seconds=0):
            raise Boom
    assert not await _is_busy(locks, "x")


async def test_a_cancelled_holder_and_a_cancelled_waiter_release_everything(
    locks: Locks,
) -> None:
    holding = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("x", lease_seconds=LONG, wait_seconds=0):
            holding.set()
            await asyncio.Event().wait()  # until cancelled

    async def waiter() -> None:
        async with locks.hold("x", lease_seconds=LONG, wait_seconds=LONG):
            pytest.fail("entered a held lock")

    held = asyncio.create_task(holder())
    await asyncio.wait_for(holding.wait(), LONG)
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.05)
    waiting.cancel()
    held.cancel()
    for task in (waiting, held):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not await _is_busy(locks, "x")


async def test_bad_arguments_are_refused(locks: Locks) -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        async with locks.hold("x", lease_seconds=0, wait_seconds=1):
            pass
    with pytest.raises(ValueError, match="wait_seconds"):
        async with locks.hold("x", lease_seconds=1, wait_seconds=-1):
            pass


# -- memory: the table holds only names in use ---------------------------------------------


async def test_memory_locks_forget_names_nobody_holds_or_waits_for() -> None:
    locks = InMemoryLocks()
    for i in range(100):
        async with locks.hold(f"org_{i}", lease_seconds=1, wait_seconds=0):
            assert len(locks) == 1
    assert len(locks) == 0

    async with locks.hold("x", lease_seconds=1, wait_seconds=0):
        with pytest.raises(Unavailable):
            async with locks.hold("x", lease_seconds=1, wait_seconds=0.01):
                pass
        assert len(locks) == 1
    with pytest.raises(RuntimeError):
        async with locks.hold("y", lease_seconds=1, wait_seconds=0):
            raise RuntimeError
    assert len(locks) == 0


# -- redis: replicas, leases, outages -----------------------------------------------------


@pytest.fixture
async def second_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of its own, as another replica would have."""
    client = create_redis_client(redis_url, timeout_seconds=2.0)
    try:
        yield client
    finally:
        await client.aclose()


async def test_redis_locks_of_two_replicas_exclude_each_other(
    redis_client: redis.asyncio.Redis, second_client: redis.asyncio.Redis
) -> None:
    replicas = [RedisLocks(redis_client), RedisLocks(second_client)]
    counter = 0
    inside = 0
    most_inside = 0

    async def increment(locks: Locks) -> None:
        nonlocal counter, inside, most_inside
        async with locks.hold("counter", lease_seconds=LONG, wait_seconds=LONG):
            inside += 1
            most_inside = max(most_inside, inside)
            seen = counter
            await asyncio.sleep(0.001)
            counter = seen + 1
            inside -= 1

    await asyncio.gather(*(increment(replicas[i % 2]) for i in range(20)))
    assert counter == 20
    assert most_inside == 1

    async with replicas[0].hold("x", lease_seconds=LONG, wait_seconds=0):
        assert await _is_busy(replicas[1], "x")
    assert not await _is_busy(replicas[1], "x")


async def test_redis_an_expired_lease_lets_another_in_and_its_exit_keeps_theirs(
    redis_client: redis.asyncio.Redis, second_client: redis.asyncio.Redis
) -> None:
    old, new = RedisLocks(redis_client), RedisLocks(second_client)
    # The old holder outlives its short lease (as a holder stuck or dead would).
    old_hold = old.hold("x", lease_seconds=0.2, wait_seconds=0)
    await old_hold.__aenter__()
    async with new.hold("x", lease_seconds=LONG, wait_seconds=LONG):  # in once it expired
        await old_hold.__aexit__(None, None, None)  # must not delete the new holder's key
        assert await redis_client.get(new.key("x")) is not None
        assert await _is_busy(old, "x")
    assert await redis_client.exists(new.key("x")) == 0
    assert not await _is_busy(old, "x")


async def test_redis_keys_are_namespaced_and_carry_the_lease(
    redis_client: redis.asyncio.Redis,
) -> None:
    locks = RedisLocks(redis_client)
    assert locks.key("org_a") == "pulse:lock:org_a"
    async with locks.hold("org_a", lease_seconds=LONG, wait_seconds=0):
        ttl_ms = await redis_client.pttl("pulse:lock:org_a")
        assert 0 < ttl_ms <= LONG * 1000
    assert await redis_client.exists("pulse:lock:org_a") == 0
    other = RedisLocks(redis_client, key_prefix="t:")
    async with other.hold("org_a", lease_seconds=LONG, wait_seconds=0):
        assert await redis_client.exists("t:org_a") == 1
        assert not await _is_busy(locks, "org_a")  # another prefix, another name


async def test_redis_down_raises_unavailable_without_waiting_out_the_wait(
    disposable_redis: RedisServer,
) -> None:
    client = create_redis_client(disposable_redis.url, timeout_seconds=0.5)
    try:
        locks = RedisLocks(client, timeout_seconds=0.5)
        async with locks.hold("x", lease_seconds=LONG, wait_seconds=0):
            pass  # the pool now holds a live connection

        disposable_redis.stop()
        for _ in range(3):  # the stale pooled connection, then fresh connection attempts
            with pytest.raises(Unavailable) as caught:
                # Far beyond the test's own timeout: an outage must not be waited out.
                await asyncio.wait_for(_enter(locks, wait_seconds=3600), LONG)
            assert caught.value.__cause__ is not None  # raised from the driver's error

        disposable_redis.start()
        async with locks.hold("x", lease_seconds=LONG, wait_seconds=LONG):
            pass
    finally:
        await client.aclose()


async def test_redis_going_down_inside_the_block_does_not_fail_the_block(
    disposable_redis: RedisServer,
) -> None:
    client = create_redis_client(disposable_redis.url, timeout_seconds=0.5)
    try:
        locks = RedisLocks(client, timeout_seconds=0.5)
        done = False
        async with locks.hold("x", lease_seconds=LONG, wait_seconds=0):
            disposable_redis.stop()
            done = True
        # The release failed quietly: the work is done, and the lease frees the name.
        assert done
    finally:
        await client.aclose()


async def _enter(locks: Locks, *, wait_seconds: float) -> None:
    async with locks.hold("x", lease_seconds=LONG, wait_seconds=wait_seconds):
        pass
