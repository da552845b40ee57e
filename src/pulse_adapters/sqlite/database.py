"""One SQLite file as Pulse's embedded database.

:class:`SqliteDatabase` owns a single ``sqlite3`` connection confined to one dedicated
worker thread. Every call from the event loop is shipped to that thread, so:

- the event loop never blocks on disk I/O or on a lock held by another process;
- calls of one process are serialized, and each write runs inside a ``BEGIN IMMEDIATE``
  transaction, so a uniqueness check and its write can never interleave;
- several processes (or several ``SqliteDatabase`` objects) may share the file: WAL lets
  readers run alongside the single writer, and the busy timeout makes writers queue.

The calls made during one event-loop iteration travel to the thread together (and while
a batch is on the thread, all those made until it comes back), and the consecutive
writes among them commit together (group commit): what a caller sees is what its own
transaction would give, at a fraction of the cost when a worker has several jobs in
flight (``bench/README.md``, "Webhooks").

Driver errors are translated at this boundary (:mod:`pulse_adapters.sqlite.errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar

from pulse_adapters.sqlite.errors import translate as _translate
from pulse_adapters.sqlite.migrate import migrate, read_user_version
from pulse_adapters.sqlite.schema import SCHEMA_VERSION
from pulse_core.errors import Unavailable
from pulse_core.ports.telemetry import NO_TELEMETRY, Telemetry

# SCHEMA_VERSION is re-exported: callers (the tests) read it here, beside the database
# that migrates to it on connect.
__all__ = ["SCHEMA_VERSION", "SqliteDatabase"]

T = TypeVar("T")

#: The busy timeout is set in steps of this many milliseconds (rounded down).
_BUSY_STEP_MS = 50

# -- the database ----------------------------------------------------------------------


class SqliteDatabase:
    """The SQLite file at ``path``, shared by the Sqlite*Repository adapters.

    ``connect()`` creates the parent directory and the file when missing and brings the
    schema up to :data:`SCHEMA_VERSION` (idempotent; safe when several processes start at
    once). Every operation raises :class:`~pulse_core.errors.Unavailable` within about
    ``timeout_seconds`` when it cannot run (file locked by another writer, disk error,
    queue too long), never hangs; before ``connect()`` and after ``close()`` it raises
    ``Unavailable`` at once. ``close()`` is idempotent, and ``connect()`` may follow it.
    Each call is reported to ``telemetry`` (``sqlite``, ``read`` or ``write``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_seconds: float = 5.0,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self._path = Path(path)
        self._timeout = timeout_seconds
        self._telemetry = telemetry
        self._executor: ThreadPoolExecutor | None = None
        # Touched only on the worker thread (sqlite3's check_same_thread enforces it).
        self._conn: sqlite3.Connection | None = None
        self._deadline = math.inf
        self._busy_ms = 0  # the connection's busy timeout, as last set
        # Calls made by each event loop (there is one but in tests) and not sent yet: those
        # of the current iteration, or, while a batch of that loop is on the worker
        # thread, every call made since it left.
        self._pending: dict[asyncio.AbstractEventLoop, list[_Call[Any]]] = {}
        # The loops with a batch on the worker thread.
        self._in_flight: set[asyncio.AbstractEventLoop] = set()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def timeout_seconds(self) -> float:
        return self._timeout

    async def ensure_indexes(self, *, timeout_seconds: float | None = None) -> list[str]:
        """Apply pending schema migrations (indexes included) and say so; the SQLite side
        of ``pulse db create-indexes``. ``timeout_seconds`` is accepted for the same call
        as :class:`~pulse_adapters.mongo.MongoDatabase`'s; migrations are local and quick."""
        await self.connect()
        return [f"sqlite schema up to date at {self._path}"]

    async def connect(self) -> None:
        """Open the file (creating it and its directory) and migrate the schema.

        A no-op when already connected. ``Unavailable`` if the file cannot be opened or
        was written by a newer Pulse (its schema version is higher than ours).
        """
        if self._executor is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pulse-sqlite")
        # Set before awaiting: a call racing with connect() queues behind _open on the
        # one worker thread instead of being refused.
        self._executor = executor
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._open)
        except BaseException:
            self._executor = None
            executor.shutdown(wait=False)
            raise

    async def close(self) -> None:
        """Finish queued calls, close the connection and stop the worker. Idempotent."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._close_connection)
        finally:
            # The worker is idle now (its queue was FIFO), so this returns at once.
            executor.shutdown(wait=True)

    async def ping(self) -> None:
        """Return if the database answers a read, else raise ``Unavailable``."""
        await self.read(read_user_version)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` on the worker thread, outside any transaction.

        For the adapters of this package. A single SELECT is atomic on its own; ``work``
        must not write and must not touch the event loop.
        """
        return await self._submit(work, write=False)

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` on the worker thread in a ``BEGIN IMMEDIATE``
        transaction: committed if it returns, rolled back if it raises. The transaction
        may hold other writes made alongside: this one returns only once committed, and
        its failure fails it alone (the others run again without it). So ``work`` may
        run more than once, each run but the last rolled back: it must do nothing but
        its SQL and pure computation.

        IMMEDIATE takes the file's write lock up front, so checks made by ``work`` still
        hold when it writes, even against other processes, and a lock conflict surfaces
        as a wait (then ``Unavailable``) rather than as a failed upgrade mid-transaction.
        """
        return await self._submit(work, write=True)

    # -- event-loop side ---------------------------------------------------------------

    async def _submit(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        if self._executor is None:
            raise Unavailable(
                f"SQLite database {self._path} is not connected "
                "(call connect() first, and not after close())"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            if loop not in self._in_flight:
                # After every callback already scheduled: the calls made in this iteration.
                # (With a batch in flight, they leave when it comes back: _settled.)
                loop.call_soon(self._send, loop)
            # A loop closed before its batch left or came back (a test's) keeps nothing
            # alive.
            for stale in [
                other for other in {*self._pending, *self._in_flight} if other.is_closed()
            ]:
                self._pending.pop(stale, None)
                self._in_flight.discard(stale)
        # The deadline starts now, so time spent queued behind other calls counts too.
        pending.append(_Call(work, time.monotonic() + self._timeout, write, future))
        with self._telemetry.call("sqlite", "write" if write else "read"):
            return await future

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand the calls waiting to the worker thread in one hop: a hop (a thread wake-up
        there, a loop wake-up and future chaining back here) costs as much as a small
        query, and a worker with several jobs in flight makes several calls per
        iteration. One batch per loop is on the thread at a time: calls made meanwhile
        would only have queued behind it, so they wait here and leave together when it
        comes back, one hop and one commit for all of them. They still run one by one,
        in the order made, each with its own deadline and outcome (:meth:`_together` for
        the writes)."""
        batch = self._pending.pop(loop, None)
        if not batch:
            return
        executor = self._executor
        if executor is None:  # closed in between
            for call in batch:
                _settle(call.future, None, Unavailable(f"SQLite database {self._path} is closed"))
            return
        self._in_flight.add(loop)
        try:
            executor.submit(self._run_batch, batch, loop)
        except BaseException:  # shut down meanwhile: nothing is on the thread
            self._in_flight.discard(loop)
            raise

    def _settled(self, loop: asyncio.AbstractEventLoop, outcomes: list[_Outcome]) -> None:
        """On the loop, when a batch comes back: answer its callers, then send what waited.
        The send is scheduled after the callbacks of the callers just answered, so the
        calls they make at once go in the same batch."""
        self._in_flight.discard(loop)
        _settle_all(outcomes)
        if self._pending.get(loop):
            loop.call_soon(self._send, loop)

    # -- worker-thread side ------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Unavailable(f"cannot create the directory of {self._path}: {exc}") from exc
        try:
            # isolation_level=None: no implicit transactions; write() delimits them.
            conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open SQLite database {self._path}: {exc}") from exc
        self._busy_ms = 0  # a new connection: set before its first statement
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable against a crash of the process; WAL keeps it consistent
            # across a power loss too, losing at most the last transactions.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, self._path)
            # Long statements are interrupted once the call's deadline has passed.
            conn.set_progress_handler(self._past_deadline, 1000)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                translated = _translate(exc)
                if translated is not exc:
                    raise translated from exc
            raise
        self._conn = conn

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _past_deadline(self) -> bool:
        return time.monotonic() > self._deadline

    def _run_batch(self, batch: list[_Call[Any]], loop: asyncio.AbstractEventLoop) -> None:
        live = [call for call in batch if not call.future.cancelled()]  # callers that wait
        outcomes: list[_Outcome] = []
        start = 0
        try:
            while start < len(live):
                end = start + 1
                while end < len(live) and live[start].write and live[end].write:
                    end += 1
                outcomes += self._together(live[start:end])
                start = end
        except BaseException as exc:  # a bug here must not leave a caller waiting
            answered = {id(call) for call, _, _ in outcomes}
            outcomes += [(call, None, exc) for call in live if id(call) not in answered]
        # One wake-up of the loop for the whole batch.
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(self._settled, loop, outcomes)

    def _alone(self, call: _Call[Any]) -> _Outcome:
        try:
            return call, self._run(call.work, call.deadline, call.write), None
        except BaseException as exc:  # the caller's to see, as run_in_executor did
            return call, None, exc

    def _together(self, calls: list[_Call[Any]]) -> list[_Outcome]:
        """Consecutive writes as one transaction (group commit): one commit instead of one
        per write is most of what a small write costs. Each runs under its own deadline;
        results are given only once the whole is committed, and the outcome is always what
        separate transactions would give:

        - a write that raises undoes the group; the writes before it run again together,
          it runs alone (and fails alone), and the writes after it go on together. This
          costs a failing write a rerun of its group, where a savepoint per write (the
          other way to fail alone) costs every write two statements, a fifth of its cost;
        - should the group itself fail (its BEGIN or its COMMIT), nothing of it was
          written, and each write runs again on its own.
        """
        if len(calls) < 2:
            return [self._alone(call) for call in calls]
        conn = self._conn
        now = time.monotonic()
        if conn is None or any(call.deadline <= now for call in calls):
            return [self._alone(call) for call in calls]  # as _run refuses them
        done: list[_Outcome] = []
        try:
            self._wait_at_most(conn, min(call.deadline for call in calls) - now)
            conn.execute("BEGIN IMMEDIATE")
            for call in calls:
                self._deadline = call.deadline
                try:
                    result = call.work(conn)
                except BaseException:
                    break  # outcomes below, once the group is undone
                done.append((call, result, None))
            self._deadline = math.inf
            if len(done) == len(calls):
                conn.execute("COMMIT")
                return done
            if conn.in_transaction:  # SQLite may have rolled back by itself (I/O error)
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            return [self._alone(call) for call in calls]
        finally:
            self._deadline = math.inf
        failed = len(done)
        return [
            *self._together(calls[:failed]),
            self._alone(calls[failed]),
            *self._together(calls[failed + 1 :]),
        ]

    def _wait_at_most(self, conn: sqlite3.Connection, seconds: float) -> None:
        """Let another process's lock on the file keep the next statements waiting, but no
        longer than ``seconds``: the deadline of the calls they serve. Rounded down to a
        step, the setting rarely changes between calls, so that its PRAGMA, a statement
        of its own, is mostly skipped."""
        millis = max(1, int(seconds * 1000))
        if millis > _BUSY_STEP_MS:
            millis -= millis % _BUSY_STEP_MS
        if millis != self._busy_ms:
            conn.execute(f"PRAGMA busy_timeout = {millis}")
            self._busy_ms = millis

    def _run(self, work: Callable[[sqlite3.Connection], T], deadline: float, write: bool) -> T:
        conn = self._conn
        if conn is None:
            raise Unavailable(f"SQLite database {self._path} is not connected")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            # Refused before touching the file: the caller's Unavailable means nothing
            # was written.
            raise Unavailable(f"SQLite database {self._path} is overloaded: call timed out")
        self._deadline = deadline
        try:
            self._wait_at_most(conn, remaining)
            if not write:
                return work(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back by itself (e.g. on an I/O error).
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result
        except sqlite3.Error as exc:
            translated = _translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            self._deadline = math.inf


class _Call(Generic[T]):
    """One read or write waiting for its hop to the worker thread."""

    __slots__ = ("deadline", "future", "work", "write")

    def __init__(
        self,
        work: Callable[[sqlite3.Connection], T],
        deadline: float,
        write: bool,
        future: asyncio.Future[T],
    ) -> None:
        self.work = work
        self.deadline = deadline
        self.write = write
        self.future = future


#: A call, and what it returned or raised.
_Outcome = tuple[_Call[Any], object, BaseException | None]


def _settle(future: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if future.done():  # cancelled by its caller while it ran
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _settle_all(outcomes: list[_Outcome]) -> None:
    for call, result, error in outcomes:
        _settle(call.future, result, error)
