"""The worker loop (``pulse_http.worker.Worker``) on the in-memory queue, with a scripted
runner: how many jobs it holds, what it does with each outcome, and how it stops. Every
wait is for something the test can see (a job started, a job settled), never for a
duration: the few short sleeps only give a faulty worker room to misbehave, and none is
needed to pass. Time in the queue (delays, backoffs) is a manual clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from typing import Any

import pytest
import structlog

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryJobQueue
from pulse_core.errors import Unavailable
from pulse_core.models.jobs import QUEUE
from pulse_core.ports.queue import ReservedJob
from pulse_core.services.jobs import PoisonJob
from pulse_http.worker import MAX_UNEXPECTED_FAILURES, Worker

PATIENCE = 10.0  # seconds; only reached when something is wrong


class ScriptedRunner:
    """Stands in for ``JobRunner``: what a job does is its payload. ``block`` waits for
    :meth:`release`; ``ok`` is done; ``later`` asks to run again in 30 s; ``down`` and
    ``boom`` raise ``Unavailable`` and ``RuntimeError``; ``poison`` is no job."""

    def __init__(self) -> None:
        self.started: list[tuple[bytes, int]] = []
        self.running = 0
        self.most_at_once = 0
        self.released = asyncio.Event()
        self._changed = asyncio.Condition()

    async def run(self, payload: bytes, *, attempts: int = 1) -> float | None:
        self.started.append((payload, attempts))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        await self._notify()
        try:
            if payload == b"block":
                await self.released.wait()
            elif payload == b"later":
                return 30.0
            elif payload == b"down":
                raise Unavailable("the database is down")
            elif payload == b"boom":
                raise RuntimeError("a bug")
            elif payload == b"poison":
                raise PoisonJob("not a Pulse job: garbage")
            return None
        finally:
            self.running -= 1
            await self._notify()

    def release(self) -> None:
        self.released.set()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        await asyncio.wait_for(until(), PATIENCE)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


class RecordingQueue(InMemoryJobQueue):
    """The in-memory queue, noting how the worker settled each job, in order."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock, poll_interval_seconds=0.01)
        self.settled: list[str] = []
        self._changed = asyncio.Condition()

    async def ack(self, queue: str, job_id: str) -> None:
        await super().ack(queue, job_id)
        await self._note("ack")

    async def retry_later(self, queue: str, job_id: str, *, delay_seconds: float) -> None:
        await super().retry_later(queue, job_id, delay_seconds=delay_seconds)
        await self._note(f"retry {delay_seconds:g}")

    async def dead_letter(self, queue: str, job_id: str, *, reason: str) -> None:
        await super().dead_letter(queue, job_id, reason=reason)
        await self._note("dead")

    async def wait_settled(self, count: int) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.settled) >= count)

        await asyncio.wait_for(until(), PATIENCE)

    async def _note(self, what: str) -> None:
        async with self._changed:
            self.settled.append(what)
            self._changed.notify_all()


class Deployment:
    def __init__(self, **options: Any) -> None:
        self.clock = ManualClock()
        self.queue = RecordingQueue(self.clock)
        self.runner = ScriptedRunner()
        options.setdefault("wait_seconds", 0.05)
        self.worker = Worker(self.queue, self.runner, consumer="w1", **options)  # type: ignore[arg-type]
        self.running: asyncio.Task[None] | None = None

    async def start(self, *payloads: bytes) -> None:
        """Queue ``payloads``, then run the worker."""
        for payload in payloads:
            await self.queue.enqueue(QUEUE, payload)
        self.running = asyncio.create_task(self.worker.run())

    async def stopped(self) -> None:
        """Stop the worker and wait (boundedly) for ``run`` to return."""
        self.worker.stop()
        assert self.running is not None
        await asyncio.wait_for(self.running, PATIENCE)


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """The worker's log lines, kept for the tests to read."""
    with structlog.testing.capture_logs() as captured:
        yield captured


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Deployment]]:
    made: list[Deployment] = []

    def build(**options: Any) -> Deployment:
        made.append(Deployment(**options))
        return made[-1]

    yield build
    for deployment in made:  # a test that failed half-way leaves no task behind
        deployment.runner.release()
        if deployment.running is not None and not deployment.running.done():
            await deployment.stopped()


async def test_it_holds_at_most_concurrency_jobs_and_acks_each_when_done(
    make: Callable[..., Deployment],
) -> None:
    deployment = make(concurrency=3)
    await deployment.start(*[b"block"] * 10)
    runner = deployment.runner
    await runner.wait_until(lambda: runner.running == 3)
    await asyncio.sleep(0.05)  # room for a fourth, were the bound not kept
    assert runner.running == 3
    runner.release()
    await deployment.queue.wait_settled(10)
    assert deployment.queue.settled == ["ack"] * 10
    assert runner.most_at_once == 3
    assert (await deployment.queue.stats(QUEUE)).depth == 0
    await deployment.stopped()


async def test_a_job_that_is_no_job_is_dead_lettered_at_once(
    make: Callable[..., Deployment],
) -> None:
    deployment = make()
    await deployment.start(b"poison")
    await deployment.queue.wait_settled(1)
    [dead] = await deployment.queue.dead_letters(QUEUE)
    assert (dead.payload, dead.reason, dead.attempts) == (b"poison", "not a Pulse job: garbage", 1)
    await deployment.stopped()


@pytest.mark.parametrize(
    ("payload", "delay"),
    [(b"down", 2.0), (b"later", 30.0)],
    ids=["backend-down-backs-off", "runner-asks-for-later"],
)
async def test_a_job_comes_back_after_its_delay_and_not_before(
    make: Callable[..., Deployment], payload: bytes, delay: float
) -> None:
    deployment = make()
    await deployment.start(payload)
    await deployment.queue.wait_settled(1)
    assert deployment.queue.settled == [f"retry {delay:g}"]
    deployment.clock.advance(delay - 0.5)
    await asyncio.sleep(0.05)  # several polls of the queue: not due yet
    assert deployment.runner.started == [(payload, 1)]
    deployment.clock.advance(0.5)
    await deployment.queue.wait_settled(2)
    assert deployment.runner.started == [(payload, 1), (payload, 2)]
    await deployment.stopped()


async def test_an_unexpected_failure_is_retried_with_backoff_then_dead_lettered(
    make: Callable[..., Deployment],
) -> None:
    deployment = make()
    await deployment.start(b"boom")
    for attempt in range(1, MAX_UNEXPECTED_FAILURES):
        await deployment.queue.wait_settled(attempt)
        deployment.clock.advance(300)  # the longest backoff
    await deployment.queue.wait_settled(MAX_UNEXPECTED_FAILURES)
    backoffs = [f"retry {min(300, 2**a)}" for a in range(1, MAX_UNEXPECTED_FAILURES)]
    assert deployment.queue.settled == [*backoffs, "dead"]
    runs = deployment.runner.started
    assert runs == [(b"boom", a) for a in range(1, MAX_UNEXPECTED_FAILURES + 1)]
    [dead] = await deployment.queue.dead_letters(QUEUE)
    assert dead.reason == f"failed {MAX_UNEXPECTED_FAILURES} times: RuntimeError"
    await deployment.stopped()


async def test_stopping_takes_no_new_job_and_lets_a_held_one_finish(
    make: Callable[..., Deployment],
) -> None:
    deployment = make()
    await deployment.start(b"block")
    runner = deployment.runner
    await runner.wait_until(lambda: runner.running == 1)
    deployment.worker.stop()
    await deployment.queue.enqueue(QUEUE, b"ok")
    await asyncio.sleep(0.05)  # room to take it, were stopping not kept
    runner.release()
    await deployment.stopped()
    assert runner.started == [(b"block", 1)]
    # The held job was acked. The one queued after the stop was never run: not taken,
    # or taken by the reserve under way as the stop came and handed back at once.
    assert deployment.queue.settled in (["ack"], ["retry 0", "ack"])
    [left] = await deployment.queue.reserve(QUEUE, "w2", max_jobs=10, wait_seconds=0)
    assert left.payload == b"ok"


async def test_a_job_still_running_after_the_grace_is_handed_back_at_once(
    make: Callable[..., Deployment],
) -> None:
    deployment = make(grace_seconds=0.05)
    await deployment.start(b"block")
    runner = deployment.runner
    await runner.wait_until(lambda: runner.running == 1)
    await deployment.stopped()  # the job never finishes: cancelled after the grace
    assert runner.running == 0
    assert deployment.queue.settled == ["retry 0"]
    handed = await deployment.queue.reserve(QUEUE, "w2", max_jobs=10, wait_seconds=0)
    assert [(j.payload, j.attempts) for j in handed] == [(b"block", 2)]


async def test_stopping_while_waiting_for_work_does_not_wait_out_the_reserve(
    make: Callable[..., Deployment],
) -> None:
    deployment = make(wait_seconds=3600)
    await deployment.start()
    await asyncio.sleep(0.05)  # waiting in reserve by now
    await deployment.stopped()  # within PATIENCE, not an hour
    assert deployment.runner.started == []


async def test_a_queue_outage_pauses_the_worker_and_it_carries_on(
    make: Callable[..., Deployment],
    monkeypatch: pytest.MonkeyPatch,
    logs: list[MutableMapping[str, Any]],
) -> None:
    deployment = make()
    queue = deployment.queue
    real_reserve = queue.reserve
    outages = 2

    async def reserve(*args: Any, **kwargs: Any) -> list[ReservedJob]:
        nonlocal outages
        if outages:
            outages -= 1
            raise Unavailable("redis is down")
        return await real_reserve(*args, **kwargs)

    monkeypatch.setattr(queue, "reserve", reserve)
    await deployment.start(b"ok")
    await queue.wait_settled(1)
    assert outages == 0
    assert (deployment.runner.started, queue.settled) == ([(b"ok", 1)], ["ack"])
    warned = [line for line in logs if line["event"] == "queue_unavailable"]
    assert [line["error"] for line in warned] == ["redis is down"] * 2
    await deployment.stopped()
