"""Nothing is lost (API.md, "Events and webhooks"): every LiveKit webhook Pulse accepted
(a 200) reaches the customer's endpoint at least once, across a worker killed with
``kill -9`` or stopped with SIGTERM, a Redis crash and restart (append-only file,
fsynced), and a crash and restart of `pulse serve` on the embedded default (SQLite
queue).

Real processes throughout: ``pulse serve`` and ``pulse worker`` as a user runs them, a
real ``redis-server``, signed LiveKit webhooks over HTTP, and a loopback receiver that
verifies every delivery with ``standardwebhooks``. Each event has an identity of its
own; the identities received must include every identity accepted (duplicates are
allowed: at least once). The receiver is slow on purpose (each answer waits
``RECEIVER_DELAY``), so workers hold jobs when they die; it does not count a delivery
whose sender died before the answer.

The faults happen mid-burst by condition, never by timing: the burst is posted in
batches, the fault is injected once enough was accepted (and, for a worker, once the
victim holds jobs), and the next batch goes only after it. Every wait has a generous
bound and nothing asserts speed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from pulse_core.models.jobs import QUEUE
from tests.support import livekit_webhooks as lk
from tests.support.job_queues import PersistentRedisServer
from tests.support.ports import free_port
from tests.support.pulse_processes import (
    PATIENCE,
    Burst,
    Processes,
    Project,
    PulseProcess,
    SlowReceiver,
    create_endpoint,
    create_project,
    pulse_environment,
    settled,
    wait_until,
)
from tests.support.require import require_binary

pytestmark = pytest.mark.slow

EVENTS = 100
RECEIVER_DELAY = 0.2
VISIBILITY_TIMEOUT = "2"
# RedisJobQueue's layout (its module docstring): the stream of queue QUEUE, its group.
JOBS_STREAM = f"pulse:q:{{{QUEUE}}}:jobs"
WORKER_GROUP = "pulse-workers"


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def receiver() -> Iterator[SlowReceiver]:
    slow = SlowReceiver(RECEIVER_DELAY)
    try:
        yield slow
    finally:
        slow.close()


@pytest.fixture
def persistent_redis() -> Iterator[PersistentRedisServer]:
    binary = require_binary("redis-server")
    server = PersistentRedisServer(binary).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_admin(persistent_redis: PersistentRedisServer) -> Iterator[redis.Redis]:
    """A plain client for looking at the queue's stream (which worker holds what)."""
    client = redis.Redis.from_url(persistent_redis.url, socket_timeout=5)
    try:
        yield client
    finally:
        client.close()


def pulse_settings(tmp_path: Path, **extra: str) -> dict[str, str]:
    return pulse_environment(
        ENVIRONMENT="development",
        PORT=str(free_port()),
        DATA_DIR=str(tmp_path / "data"),
        LIVEKIT_API_KEY=lk.API_KEY,
        LIVEKIT_API_SECRET=lk.API_SECRET,
        WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
        WEBHOOK_RETRY_SCHEDULE="0,1,1,2,2,5",
        WEBHOOK_VISIBILITY_TIMEOUT_SECONDS=VISIBILITY_TIMEOUT,
        LOG_LEVEL="warning",
        LOG_FORMAT="json",
        **extra,
    )


def identities(prefix: str) -> list[str]:
    return [f"{prefix}-{i:03d}" for i in range(EVENTS)]


def assert_all_arrived(
    burst: Burst,
    receiver: SlowReceiver,
    project: Project,
    posted: list[str],
    processes: Processes,
) -> None:
    """Every accepted identity arrives (within a generous bound), verified, once per
    event id at least; nothing arrives that was not posted."""
    accepted = burst.accepted
    deadline = time.monotonic() + PATIENCE
    while not accepted <= receiver.identities() and time.monotonic() < deadline:
        time.sleep(0.1)
    missing = accepted - receiver.identities()
    assert not missing, (
        f"{len(missing)} of {len(accepted)} accepted events never arrived: "
        f"{sorted(missing)[:10]}\n{processes.logs()}"
    )
    received = list(receiver.received)
    assert all(r.verified for r in received), "a delivery failed standardwebhooks verification"
    events = [r.event for r in received]
    assert {e["type"] for e in events} == {"participant.joined"}
    assert {e["project_id"] for e in events} == {project.id}
    assert receiver.identities() <= set(posted)
    # Duplicates are one event delivered again: the same webhook-id every time.
    ids_of: dict[str, set[str]] = {}
    for r in received:
        ids_of.setdefault(r.event["data"]["participant"]["identity"], set()).add(
            r.headers["webhook-id"]
        )
    assert all(len(ids) == 1 for ids in ids_of.values()), "one event, several webhook-ids"


def wait_accepted(burst: Burst, count: int) -> None:
    wait_until(
        lambda: len(burst.accepted) >= count,
        timeout=PATIENCE,
        what=f"{count} accepted events",
        details=lambda: f"refused: {burst.refusals()}",
    )


def assert_deliveries_metered(
    base_url: str, project: Project, receiver: SlowReceiver, processes: Processes
) -> None:
    """``webhook_deliveries`` counts every POST whose answer a worker read, crashed
    workers' included (their usage journal outlives them): at least one per event that
    arrived (the attempt that made it delivered was counted before it was recorded), at
    most one per POST the receiver answered."""
    arrived = len(receiver.identities())

    def metered() -> int:
        answer = httpx.get(
            f"{base_url}/v1/usage",
            params={"metric": "webhook_deliveries"},
            headers=project.headers,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return sum(item["quantity"] for item in answer.json()["items"])

    wait_until(
        lambda: metered() >= arrived,
        timeout=PATIENCE,
        what=f"{arrived} deliveries metered",
        details=lambda: f"metered {metered()}\n{processes.logs()}",
    )
    assert metered() <= len(receiver.received), "a delivery was metered twice"


# -- Redis: two `pulse worker` processes, the API without its own worker -----------------


def held_by(client: redis.Redis, consumer: str) -> int:
    """How many jobs ``consumer`` holds (reserved, not acked) right now."""
    try:
        summary = client.xpending(JOBS_STREAM, WORKER_GROUP)
    except redis.ResponseError:  # no stream or group yet
        return 0
    return sum(c["pending"] for c in summary["consumers"] if c["name"].decode() == consumer)


@dataclass
class Worker:
    process: PulseProcess
    consumer: str  # its name in the consumer group


RedisSetup = tuple[Burst, Project, list[Worker]]


@pytest.fixture
def redis_deployment(
    tmp_path: Path,
    persistent_redis: PersistentRedisServer,
    redis_admin: redis.Redis,
    receiver: SlowReceiver,
    processes: Processes,  # last: its processes are stopped before Redis and the receiver
) -> Iterator[RedisSetup]:
    """`pulse serve` (WEBHOOK_WORKER=off) and two `pulse worker` on a persistent Redis,
    a project with an endpoint at the receiver, and a burst aimed at its room."""
    env = pulse_settings(tmp_path, REDIS_URL=persistent_redis.url, WEBHOOK_WORKER="off")
    serve = processes.add("serve", env, name="serve").start()
    # At info a worker logs its start (with its consumer name) and stop, nothing per job.
    worker_env = {**env, "LOG_LEVEL": "info"}
    started = [processes.add("worker", worker_env, name=f"worker-{i}").start() for i in (1, 2)]
    base_url = serve.wait_serving()
    assert serve.admin_token is not None
    project = create_project(base_url, serve.admin_token, "Faults")
    create_endpoint(base_url, project, receiver)
    announced = [process.wait_logged("worker_process_started") for process in started]
    assert [line["loop"] for line in announced] == ["uvloop", "uvloop"]  # what runs in production
    workers = [
        Worker(process, line["consumer"]) for process, line in zip(started, announced, strict=True)
    ]
    burst = Burst(base_url, project.livekit_room("stage"))
    try:
        yield burst, project, workers
    finally:
        burst.close()


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
def test_a_worker_gone_mid_burst_loses_nothing(
    redis_deployment: RedisSetup,
    receiver: SlowReceiver,
    redis_admin: redis.Redis,
    processes: Processes,
    how: str,
) -> None:
    burst, project, (gone, survivor) = redis_deployment
    posted = identities("worker")
    first = burst.post(posted[:60])
    # Mid-burst, and while the worker holds jobs (deliveries wait at the slow receiver).
    wait_until(
        lambda: len(burst.accepted) >= 30 and held_by(redis_admin, gone.consumer) > 0,
        timeout=PATIENCE,
        what="the worker holding jobs mid-burst",
        details=lambda: f"refused: {burst.refusals()}\n{processes.logs()}",
        every=0.005,
    )
    if how == "kill -9":
        gone.process.crash()  # what it held comes back after the visibility timeout
        print(f"held {held_by(redis_admin, gone.consumer)} jobs when killed")
    else:
        assert gone.process.terminate() == 0, gone.process.failure("did not exit cleanly")
        # Stopped, it leaves nothing for the visibility timeout: each job it held was
        # finished (acked) or handed back before it exited.
        assert held_by(redis_admin, gone.consumer) == 0
    second = burst.post(posted[60:])
    settled(first + second)
    assert_all_arrived(burst, receiver, project, posted, processes)
    assert survivor.process.running, survivor.process.failure("died")
    assert_deliveries_metered(burst.base_url, project, receiver, processes)
    print(f"{receiver.dropped} deliveries cut")


def test_redis_crashing_and_restarting_mid_burst_loses_nothing_accepted(
    redis_deployment: RedisSetup,
    receiver: SlowReceiver,
    persistent_redis: PersistentRedisServer,
    processes: Processes,
) -> None:
    burst, project, workers = redis_deployment
    posted = identities("redis")
    before = burst.post(posted[:50])
    wait_accepted(burst, 25)
    persistent_redis.stop()  # SIGKILL, with posts in flight and jobs held by the workers
    during = burst.post(posted[50:70])
    settled(before + during)
    refused_while_down = {i for i in posted[50:70] if i not in burst.accepted}
    assert refused_while_down, "Redis was down, yet every event was accepted"
    persistent_redis.start()
    after = burst.post(posted[70:])
    settled(after)
    assert set(posted[70:]) & burst.accepted, (
        f"nothing accepted after Redis came back: {burst.refusals()}"
    )
    assert_all_arrived(burst, receiver, project, posted, processes)
    assert all(w.process.running for w in workers), processes.logs()
    accepted = burst.accepted
    print(
        f"accepted before/during/after the crash: {len(set(posted[:50]) & accepted)}/50, "
        f"{len(set(posted[50:70]) & accepted)}/20, {len(set(posted[70:]) & accepted)}/30; "
        f"refused: {dict(burst.refusals())}"
    )


# -- the embedded default: one `pulse serve`, its in-process worker, SQLite ---------------


def test_pulse_serve_killed_mid_burst_and_restarted_loses_nothing_accepted(
    tmp_path: Path, receiver: SlowReceiver, processes: Processes
) -> None:
    serve = processes.add("serve", pulse_settings(tmp_path), name="serve").start()
    base_url = serve.wait_serving()
    assert serve.admin_token is not None
    project = create_project(base_url, serve.admin_token, "Embedded")
    create_endpoint(base_url, project, receiver)
    posted = identities("embedded")
    burst = Burst(base_url, project.livekit_room("stage"))
    try:
        before = burst.post(posted[:60])
        # Mid-burst, with deliveries under way: jobs held by the in-process worker.
        wait_until(
            lambda: len(burst.accepted) >= 30 and receiver.in_flight > 0,
            timeout=PATIENCE,
            what="deliveries under way mid-burst",
            details=lambda: f"refused: {burst.refusals()}\n{processes.logs()}",
            every=0.005,
        )
        serve.crash()
        settled(before)
        serve.start()
        assert serve.wait_serving() == base_url
        after = burst.post(posted[60:])
        settled(after)
        assert set(posted[60:]) & burst.accepted, (
            f"none accepted after the restart: {burst.refusals()}"
        )
        assert_all_arrived(burst, receiver, project, posted, processes)
        assert_deliveries_metered(base_url, project, receiver, processes)
        print(
            f"accepted {len(burst.accepted)}; refused {dict(burst.refusals())}; "
            f"{receiver.dropped} deliveries cut"
        )
    finally:
        burst.close()
