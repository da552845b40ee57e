"""SqliteDatabase sends the calls made during one event-loop iteration to its thread in one
hop, and while a batch is on its thread, the calls made meanwhile in the next hop. What
each caller sees must not change: its own result or error, its own transaction, the
order calls were made in; a caller that gave up is not run; closing answers whoever is
still waiting."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from pulse_adapters.sqlite import SqliteDatabase
from pulse_core.errors import Conflict, Unavailable


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(tmp_path / "pulse.sqlite3")
    await database.connect()
    await database.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
    try:
        yield database
    finally:
        await database.close()


def _hops(db: SqliteDatabase) -> list[int]:
    """Counts the batches handed to the database's thread, and their sizes."""
    executor: Any = db._executor
    sizes: list[int] = []
    submit = executor.submit

    def counting(fn: Callable[..., Any], *args: Any) -> Any:
        if args and isinstance(args[0], list):
            sizes.append(len(args[0]))
        return submit(fn, *args)

    executor.submit = counting
    return sizes


def _insert(key: str, value: int) -> Callable[[sqlite3.Connection], int]:
    def work(conn: sqlite3.Connection) -> int:
        return conn.execute("INSERT INTO t VALUES (?, ?)", (key, value)).rowcount

    return work


def _value(key: str) -> Callable[[sqlite3.Connection], int | None]:
    def work(conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT v FROM t WHERE k = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    return work


async def test_calls_of_one_iteration_share_one_hop_and_keep_their_own_outcomes(
    db: SqliteDatabase,
) -> None:
    hops = _hops(db)

    def failing(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('b', 99)")
        raise RuntimeError("this call's own failure")

    calls = [
        db.write(_insert("a", 1)),
        db.read(_value("a")),  # sees the write made before it
        db.write(failing),
        db.read(_value("b")),  # the failed write was rolled back, alone
        db.write(_insert("a", 2)),  # a conflict of its own (primary key)
        db.write(_insert("c", 3)),
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert hops == [6]
    assert results[:2] == [1, 1]
    assert isinstance(results[2], RuntimeError)
    assert results[3] is None
    assert isinstance(results[4], Conflict)
    assert results[5] == 1
    assert await db.read(_value("c")) == 3
    assert hops == [6, 1]


async def test_calls_made_while_a_batch_runs_go_in_the_next_one(db: SqliteDatabase) -> None:
    hops = _hops(db)
    first = asyncio.gather(*(db.write(_insert(f"k{i}", i)) for i in range(5)))
    await asyncio.sleep(0)  # the first batch has left
    second = asyncio.gather(*(db.read(_value(f"k{i}")) for i in range(5)))
    assert await first == [1] * 5
    assert await second == list(range(5))
    assert hops == [5, 5]


async def test_calls_made_over_several_iterations_while_a_batch_runs_leave_together(
    db: SqliteDatabase,
) -> None:
    """One batch per loop is on the thread at a time: what is asked meanwhile, whatever
    the iteration, waits and then leaves in one hop (one commit for its writes)."""
    hops = _hops(db)
    busy, release = threading.Event(), threading.Event()

    def slow(conn: sqlite3.Connection) -> int:
        busy.set()
        release.wait(timeout=30)
        return conn.execute("INSERT INTO t VALUES ('slow', 0)").rowcount

    first = asyncio.ensure_future(db.write(slow))
    assert await asyncio.to_thread(busy.wait, 30)  # the first batch is on the thread
    later = []
    for i in range(4):  # four iterations of the loop, a call in each
        later.append(asyncio.ensure_future(db.write(_insert(f"k{i}", i))))
        await asyncio.sleep(0)
    reading = asyncio.ensure_future(db.read(_value("k3")))
    await asyncio.sleep(0.05)
    assert hops == [1]  # nothing else left while the first batch ran
    release.set()
    assert await first == 1
    assert await asyncio.gather(*later) == [1, 1, 1, 1]
    assert await reading == 3  # made after them, run after them
    assert hops == [1, 5]


async def test_a_caller_that_gave_up_before_its_batch_ran_is_not_run(
    db: SqliteDatabase,
) -> None:
    kept = asyncio.ensure_future(db.write(_insert("kept", 1)))
    dropped = asyncio.ensure_future(db.write(_insert("dropped", 1)))
    await asyncio.sleep(0)  # both calls are made and waiting for their hop
    dropped.cancel()
    assert await kept == 1
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert await db.read(_value("dropped")) is None


async def test_closing_answers_calls_still_waiting_for_their_hop(db: SqliteDatabase) -> None:
    waiting = asyncio.ensure_future(db.read(_value("a")))
    await asyncio.sleep(0)  # made; its batch leaves at the end of this iteration
    await db.close()
    with pytest.raises(Unavailable):
        await asyncio.wait_for(waiting, timeout=5)


def test_a_batch_from_a_loop_that_closed_does_not_block_the_next_loop(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "pulse.sqlite3")
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(db.connect())
        # A call made on a loop that stops (and closes) before the call's batch leaves.
        first.call_soon(first.stop)
        stranded = first.create_task(db.ping())
        first.run_forever()
        assert not stranded.done()
        stranded.cancel()
    finally:
        first.close()

    async def next_loop() -> None:
        try:
            await asyncio.wait_for(db.ping(), timeout=5)
        finally:
            await db.close()

    asyncio.run(next_loop())


async def _statements(db: SqliteDatabase) -> list[str]:
    """The SQL the database's connection runs from now on (traced on its own thread)."""
    traced: list[str] = []
    await db.read(lambda conn: conn.set_trace_callback(traced.append))
    return traced


async def test_consecutive_writes_share_one_commit(db: SqliteDatabase) -> None:
    traced = await _statements(db)
    results = await asyncio.gather(*(db.write(_insert(k, i)) for i, k in enumerate("abcd")))
    assert results == [1, 1, 1, 1]
    transaction = [s for s in traced if not s.startswith("PRAGMA")]  # busy_timeout's
    assert transaction[0] == "BEGIN IMMEDIATE" and transaction[-1] == "COMMIT"
    assert len(transaction) == 6 and transaction.count("COMMIT") == 1, traced
    assert await db.read(_value("d")) == 3


async def test_a_write_that_fails_in_a_group_fails_alone(db: SqliteDatabase) -> None:
    traced = await _statements(db)

    def half_then_fails(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('half', 0)")
        raise RuntimeError("after writing half of its work")

    results = await asyncio.gather(
        db.write(_insert("a", 1)),
        db.write(_insert("z", 5)),
        db.write(half_then_fails),
        db.write(_insert("a", 9)),  # a conflict of its own
        db.write(_insert("b", 2)),
        db.write(_insert("c", 3)),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[1] == 1 and results[4] == 1 and results[5] == 1
    assert isinstance(results[2], RuntimeError)
    assert isinstance(results[3], Conflict)
    rows = await db.read(lambda c: c.execute("SELECT k, v FROM t ORDER BY k").fetchall())
    # Nothing of the failed write, nothing of the conflict, each of the others once.
    assert rows == [("a", 1), ("b", 2), ("c", 3), ("z", 5)]
    # The writes around the failures still share commits: the two before them, the two
    # after them.
    commits = [s for s in traced if s == "COMMIT"]
    assert len(commits) == 2, traced


async def test_a_group_that_cannot_commit_is_run_again_one_write_at_a_time(
    db: SqliteDatabase,
) -> None:
    # A deferred constraint is checked at COMMIT: the one bad write must not take its
    # group down with it. (Pulse's schema has none; a full disk fails a commit alike.)
    await db.read(  # autocommit: DDL needs no transaction of ours
        lambda c: c.executescript(
            "CREATE TABLE parent (id TEXT PRIMARY KEY);"
            "CREATE TABLE child (parent TEXT REFERENCES parent (id)"
            " DEFERRABLE INITIALLY DEFERRED);"
        )
    )

    def orphan(conn: sqlite3.Connection) -> int:
        return conn.execute("INSERT INTO child VALUES ('nobody')").rowcount

    results = await asyncio.gather(
        db.write(_insert("kept", 1)),
        db.write(orphan),
        db.write(_insert("also", 2)),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert await db.read(_value("kept")) == 1
    assert await db.read(_value("also")) == 2
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM child").fetchone()[0]) == 0
