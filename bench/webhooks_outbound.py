"""Webhooks out: deliveries per second by one worker, and latency from a LiveKit event in
to its delivery out, Pulse's ``pulse worker`` vs a Celery peer.

    .venv/bin/python bench/webhooks_outbound.py                       # ~1.5 min
    .venv/bin/python bench/webhooks_outbound.py --events 3000 --latency-seconds 6

Both systems get the same LiveKit webhooks (``participant_joined`` in a room of the
project, signed as LiveKit signs them), through their own inbound HTTP endpoint, and
deliver Standard Webhooks to the same receiver (``webhook_receiver.py``: answers 200 at
once, records arrival time and the signed request). The worker under test runs alone on
core 0 (``taskset -c 0``); ``redis-server`` (no persistence), the receiver, the inbound
server and this script (the load) share core 1.

- ``pulse``: ``pulse serve`` (``REDIS_URL``: the job queue is Redis Streams;
  ``WEBHOOK_WORKER=off``; SQLite under a temporary ``DATA_DIR``) takes the events; one
  ``pulse worker`` process (``--concurrency``, else ``WEBHOOK_CONCURRENCY``'s default)
  applies each (event stored, delivery created and queued) and delivers it (signed,
  POSTed by Pulse's sender, attempt recorded). An organization, a project and one
  endpoint (the receiver) are created through the API; ``ENVIRONMENT=development``
  because production accepts only https endpoint URLs,
  ``WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8`` for loopback.
- ``celery``: ``peers/fastapi_livekit_webhook.py`` (``PEER_ENQUEUE=celery``) verifies
  and queues a Celery task per event on the same Redis (Celery's redis broker); one Celery
  worker (``peers/celery_webhooks.py``) builds the same event JSON, signs it with the
  ``standardwebhooks`` library and POSTs it with ``requests``.

Two measurements per system:

1. **Throughput** (drain): ``--events`` events are queued with no worker running, then
   the worker starts. *deliveries/s* is (n - 1) / (last arrival - first arrival) at the
   receiver. Pulse's queue is FIFO, so it first applies every event (each queues its
   delivery at the tail) and then delivers: its window is deliveries only, and
   *events/s end to end* is n / (last arrival - worker ready), applying included. The
   peer has no separate apply step: its two figures differ only by start-up.
2. **Latency**: events posted open-loop at ``--rate`` per second (``--latency-warmup``
   seconds not counted, then ``--latency-seconds``); latency is a delivery's arrival
   minus the time its event was due to be posted (so a late sender counts against the
   system, not for it); p50, p90, p99, max.

After each system every recorded delivery is verified with the ``standardwebhooks``
library against the endpoint's secret (none is verified on the clock), and counted:
each event must arrive, duplicates are reported. CPU time of the worker's process group
(and Redis's) over the drain gives µs per delivery. Results go to
``bench/results/webhooks_outbound.json``.

With ``--rounds N`` the systems are measured N times, their order alternating (a VM whose
speed drifts over minutes then weighs on both alike); each round gives its own ratio, and
the targets are judged on the median ratio and the median p99.

Exit status: 0 all delivered and verified and the targets met (Pulse's deliveries/s >= 5x
the peer's, Pulse's p99 < 50 ms); 1 a failure; 2 clean but a target missed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import redis
import webhook_support as ws
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pulse_core import rooms

RUNS = ("pulse", "celery")
THROUGHPUT_TARGET = 5.0
P99_TARGET_MS = 50.0
PULSE_STREAM = "pulse:q:{pulse}:jobs"
CELERY_QUEUE = "peer-webhooks"


# -- load ----------------------------------------------------------------------------------


async def _post_all(port: int, events: list[ws.Signed], concurrency: int) -> None:
    """Every event, ``concurrency`` at a time; each must be answered 200."""
    url = f"http://127.0.0.1:{port}{ws.LIVEKIT_PATH}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    failures: list[str] = []
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(start: int) -> None:
            for i in range(start, len(events), concurrency):
                event = events[i]
                headers = {"Authorization": event.authorization, "Content-Type": ws.CONTENT_TYPE}
                async with session.post(url, data=event.body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        failures.append(f"{response.status}")

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    if failures:
        raise ws.BenchError(f"{len(failures)} events refused ({failures[:3]})")


async def _post_at_rate(port: int, events: list[ws.Signed], rate: float) -> tuple[list[int], float]:
    """Open loop: event i is due at start + i / rate and posted then (never waits for an
    answer before the next). Returns each event's due time (ns, wall clock) and the
    largest lag of a post behind its due time (ms)."""
    url = f"http://127.0.0.1:{port}{ws.LIVEKIT_PATH}"
    connector = aiohttp.TCPConnector(limit=256)
    failures: list[str] = []
    due_ns: list[int] = []
    lag = 0.0
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(event: ws.Signed) -> None:
            headers = {"Authorization": event.authorization, "Content-Type": ws.CONTENT_TYPE}
            try:
                async with session.post(url, data=event.body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        failures.append(str(response.status))
            except aiohttp.ClientError as exc:
                failures.append(type(exc).__name__)

        loop = asyncio.get_running_loop()
        tasks = []
        start_wall, start = time.time_ns() + 50_000_000, loop.time() + 0.05
        for i, event in enumerate(events):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lag = max(lag, (loop.time() - due) * 1000)
            due_ns.append(start_wall + round(i / rate * 1e9))
            tasks.append(asyncio.create_task(post(event)))
        await asyncio.gather(*tasks)
    if failures:
        raise ws.BenchError(f"{len(failures)} events refused ({failures[:3]})")
    return due_ns, lag


# -- the receiver ----------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    arrived_ns: int
    webhook_id: str
    timestamp: str
    signature: str
    body: str

    @property
    def identity(self) -> str:
        return str(json.loads(self.body)["data"]["participant"]["identity"])


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port

    def count(self) -> int:
        status, answer = ws.request(self.port, "GET", "/__count")
        if status != 200:
            raise ws.BenchError(f"the receiver answered {status}")
        return int(answer["count"])

    def dump(self) -> list[Delivery]:
        status, answer = ws.request(self.port, "GET", "/__dump")
        if status != 200:
            raise ws.BenchError(f"the receiver answered {status}")
        return [Delivery(*row) for row in answer]

    def wait_for(self, count: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= count:
                return
            if proc.poll() is not None:
                raise ws.BenchError(f"the worker exited with {proc.returncode}")
            time.sleep(0.05)
        raise ws.BenchError(f"{self.count()} of {count} deliveries after {timeout:g} s")


def verify(deliveries: list[Delivery], secret: str) -> int:
    """How many verify with the standardwebhooks library (its 5-minute tolerance)."""
    webhook = Webhook(secret)
    good = 0
    for d in deliveries:
        headers = {
            "webhook-id": d.webhook_id,
            "webhook-timestamp": d.timestamp,
            "webhook-signature": d.signature,
        }
        with contextlib.suppress(WebhookVerificationError):
            webhook.verify(d.body, headers)
            good += 1
    return good


# -- the systems ---------------------------------------------------------------------------


@dataclass
class System:
    """One system under test, set up: where its inbound endpoint listens, how to start
    its worker, how to read its queue and its worker's readiness."""

    name: str
    inbound_port: int
    secret: str
    room: str
    worker_argv: list[str]
    worker_env: dict[str, str]
    worker_cwd: Path
    queue_depth: Any
    ready_at: Any  # (log path) -> wall-clock seconds the worker was ready, or None


def _pulse_ready(log: Path) -> float | None:
    for line in log.read_text(errors="replace").splitlines():
        if '"worker_started"' in line:
            stamp = json.loads(line)["timestamp"].replace("Z", "+00:00")
            return datetime.fromisoformat(stamp).timestamp()
    return None


def _celery_ready(ready_file: Path) -> Any:
    def ready(_log: Path) -> float | None:
        with contextlib.suppress(OSError, ValueError):
            return float(ready_file.read_text())
        return None

    return ready


@contextlib.contextmanager
def pulse_system(
    work: Path, env: dict[str, str], receiver_port: int, concurrency: int | None
) -> Iterator[System]:
    port = ws.free_port()
    serve_env = {**env, "PORT": str(port), "WEBHOOK_WORKER": "off"}
    log = work / "pulse-serve.log"
    argv = ws.pinned(ws.LOAD_CORE, [str(ws.BIN / "pulse"), "serve"])
    with ws.process(argv, env=serve_env, cwd=work, log=log) as proc:
        ws.wait_until_serving(port, proc, log)
        tenant = ws.bootstrap_pulse(port, serve_env, work)
        url = f"http://127.0.0.1:{receiver_port}/hook"
        status, endpoint = ws.request(
            port, "POST", "/v1/webhooks/endpoints", {"url": url}, tenant.headers
        )
        if status != 201:
            raise ws.BenchError(f"creating the endpoint answered {status}: {endpoint}")
        worker_env = dict(env)
        if concurrency is not None:
            worker_env["WEBHOOK_CONCURRENCY"] = str(concurrency)
        store = redis.Redis.from_url(env["REDIS_URL"])
        yield System(
            name="pulse",
            inbound_port=port,
            secret=endpoint["secret"],
            room=rooms.to_livekit(tenant.project_id, "demo"),
            worker_argv=[str(ws.BIN / "pulse"), "worker"],
            worker_env=worker_env,
            worker_cwd=work,
            queue_depth=lambda: store.xlen(PULSE_STREAM),
            ready_at=_pulse_ready,
        )


@contextlib.contextmanager
def celery_system(
    work: Path, env: dict[str, str], receiver_port: int, pool: str, concurrency: int
) -> Iterator[System]:
    port = ws.free_port()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    ready_file = work / "celery.ready"
    ready_file.unlink(missing_ok=True)
    peer_env = {
        **env,
        "PORT": str(port),
        "PEER_ENQUEUE": "celery",
        "PEER_QUEUE": CELERY_QUEUE,
        "PEER_ENDPOINT_URL": f"http://127.0.0.1:{receiver_port}/hook",
        "PEER_ENDPOINT_SECRET": secret,
        "PEER_READY_FILE": str(ready_file),
        "PYTHONPATH": str(ws.PEERS),
    }
    argv = [str(ws.BIN / "uvicorn"), "fastapi_livekit_webhook:app", "--app-dir", str(ws.PEERS)]
    argv += ["--port", str(port), "--workers", "1", *ws.UVICORN]
    log = work / "celery-inbound.log"
    with ws.process(ws.pinned(ws.LOAD_CORE, argv), env=peer_env, cwd=ws.PEERS, log=log) as proc:
        ws.wait_until_serving(port, proc, log)
        store = redis.Redis.from_url(env["REDIS_URL"])
        worker = [str(ws.BIN / "celery"), "-A", "celery_webhooks", "worker", "--pool", pool]
        worker += ["--concurrency", str(concurrency), "--loglevel", "warning", "-n", "peer@%h"]
        worker += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        yield System(
            name="celery",
            inbound_port=port,
            secret=secret,
            room=rooms.to_livekit("prj_" + "0" * 26, "demo"),
            worker_argv=worker,
            worker_env=peer_env,
            worker_cwd=ws.PEERS,
            queue_depth=lambda: store.llen(CELERY_QUEUE),
            ready_at=_celery_ready(ready_file),
        )


# -- one system, both measurements -----------------------------------------------------


def _redis_cpu(store: redis.Redis) -> float:
    info = store.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_system(
    system: System,
    receiver: Receiver,
    store: redis.Redis,
    livekit: tuple[str, str],
    work: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    n = args.events
    drain = [ws.participant_joined(system.room, f"d-{i}", *livekit) for i in range(n)]
    asyncio.run(_post_all(system.inbound_port, drain, 32))
    depth = system.queue_depth()
    if depth != n:
        raise ws.BenchError(f"{system.name}: {depth} jobs queued for {n} events")
    receiver.dump()  # nothing from a previous system
    log = work / f"{system.name}-worker.log"
    argv = ws.pinned(ws.SERVER_CORE, system.worker_argv)
    out: dict[str, Any] = {"events": n}
    with ws.process(argv, env=system.worker_env, cwd=system.worker_cwd, log=log) as proc:
        ready = _wait_ready(system, log, proc)
        cpu_before, redis_cpu_before = ws.group_cpu_seconds(proc.pid), _redis_cpu(store)
        receiver.wait_for(n, args.timeout, proc)
        cpu = ws.group_cpu_seconds(proc.pid) - cpu_before
        redis_cpu = _redis_cpu(store) - redis_cpu_before
        out["worker_processes"] = len(ws.group_pids(proc.pid))
        drained = receiver.dump()
        if args.profile and system.name == "pulse":
            out["profile"] = _profile(system, proc, receiver, livekit, work, args)
        # Latency, with the same worker, already warm.
        total = round(args.rate * (args.latency_warmup + args.latency_seconds))
        skip = round(args.rate * args.latency_warmup)
        timed = [ws.participant_joined(system.room, f"l-{i}", *livekit) for i in range(total)]
        due_ns, lag = asyncio.run(_post_at_rate(system.inbound_port, timed, args.rate))
        receiver.wait_for(total, args.timeout, proc)
        latency_run = receiver.dump()
    out.update(_throughput(drained, n, ready, cpu, redis_cpu))
    out.update(_latency(latency_run, due_ns, skip, lag, args.rate))
    every = drained + latency_run
    out["verified"] = verify(every, system.secret)
    out["received"] = len(every)
    out["duplicates"] = len(every) - len({d.webhook_id for d in every})
    out["clean"] = out["verified"] == len(every) == n + total and out["duplicates"] == 0
    return out


def _wait_ready(system: System, log: Path, proc: subprocess.Popen[bytes]) -> float:
    """When the worker said it was ready (wall clock, seconds); polled every 10 ms, so
    the CPU counters start within 10 ms of it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = system.ready_at(log)
        if ready is not None:
            return float(ready)
        if proc.poll() is not None:
            raise ws.BenchError(f"the worker exited with {proc.returncode}:\n{ws.tail(log)}")
        time.sleep(0.01)
    raise ws.BenchError(f"the worker was not ready after 60 s:\n{ws.tail(log)}")


def _throughput(
    drained: list[Delivery], n: int, ready: float, cpu: float, redis_cpu: float
) -> dict[str, Any]:
    arrivals = sorted(d.arrived_ns for d in drained)
    if len({d.identity for d in drained}) != n:
        raise ws.BenchError(f"{len({d.identity for d in drained})} distinct events of {n}")
    span = (arrivals[-1] - arrivals[0]) / 1e9
    out: dict[str, Any] = {
        "deliveries_per_second": (len(arrivals) - 1) / span,
        "delivery_window_s": round(span, 3),
        "worker_cpu_s": round(cpu, 2),
        "worker_cpu_us_per_event": round(cpu / n * 1e6),
        "redis_cpu_us_per_event": round(redis_cpu / n * 1e6),
    }
    out["events_per_second_end_to_end"] = n / (arrivals[-1] / 1e9 - ready)
    out["ready_to_first_delivery_s"] = round(arrivals[0] / 1e9 - ready, 3)
    return out


def _latency(
    run: list[Delivery], due_ns: list[int], skip: int, lag: float, rate: float
) -> dict[str, Any]:
    latencies = []
    for d in run:
        seq = int(d.identity.removeprefix("l-"))
        if seq >= skip:
            latencies.append((d.arrived_ns - due_ns[seq]) / 1e6)
    latencies.sort()
    return {
        "latency_rate": rate,
        "latency_events": len(latencies),
        "p50_ms": round(ws.percentile(latencies, 50), 2),
        "p90_ms": round(ws.percentile(latencies, 90), 2),
        "p99_ms": round(ws.percentile(latencies, 99), 2),
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "sender_max_lag_ms": round(lag, 2),
    }


def _profile(
    system: System,
    proc: subprocess.Popen[bytes],
    receiver: Receiver,
    livekit: tuple[str, str],
    work: Path,
    args: argparse.Namespace,
) -> str:
    """py-spy over a second drain of the same size, worker already running (the pulse
    worker process itself: its pid is the group's); only samples of the thread holding
    the GIL (``--gil``), so idle threads and waits do not count."""
    spy = shutil.which("py-spy") or str(ws.BIN / "py-spy")
    out = work / "pulse-worker.pyspy.txt"
    events = [ws.participant_joined(system.room, f"p-{i}", *livekit) for i in range(args.events)]
    recorder = subprocess.Popen(
        ws.pinned(
            ws.LOAD_CORE,
            [
                spy,
                "record",
                "--pid",
                str(proc.pid),
                "--rate",
                "1000",
                "--format",
                "raw",
                "--gil",
                "--nonblocking",
                "-o",
                str(out),
            ],
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(_post_all(system.inbound_port, events, 32))
        receiver.wait_for(len(events), args.timeout, proc)
    finally:
        recorder.send_signal(2)
        recorder.wait(timeout=30)
    receiver.dump()
    target = ws.RESULTS / "pulse-worker.pyspy.txt"
    with contextlib.suppress(OSError):
        shutil.copy(out, target)
    return str(target)


# -- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=5000, help="events drained per system")
    parser.add_argument("--rate", type=float, default=500, help="events/s for the latency")
    parser.add_argument("--latency-seconds", type=float, default=10, help="measured seconds")
    parser.add_argument("--latency-warmup", type=float, default=2, help="unmeasured seconds")
    parser.add_argument("--concurrency", type=int, help="WEBHOOK_CONCURRENCY (default: Pulse's)")
    parser.add_argument("--celery-pool", default="threads", help="threads, prefork, solo")
    parser.add_argument("--celery-concurrency", type=int, default=10, help="Celery pool size")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait, at most")
    parser.add_argument("--only", default=",".join(RUNS), help="comma-separated subset")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds, the systems' order alternating"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy a second Pulse drain")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    selected = [name for name in args.only.split(",") if name]
    if set(selected) - set(RUNS):
        parser.error(f"unknown runs: {sorted(set(selected) - set(RUNS))}")
    for tool in ("taskset", "redis-server"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is not installed", file=sys.stderr)
            return 1
    if (os.cpu_count() or 1) < 2:
        print("bench: needs two cores", file=sys.stderr)
        return 1
    os.sched_setaffinity(0, {int(ws.LOAD_CORE)})

    livekit = ("APIbench" + secrets.token_hex(6), secrets.token_urlsafe(48))
    work = Path(tempfile.mkdtemp(prefix="pulse-bench-outbound-"))
    ws.RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(
        f"Webhooks out: {args.events} events drained per system, then {args.rate:g} events/s "
        f"for {args.latency_warmup:g} + {args.latency_seconds:g} s; workers on core "
        f"{ws.SERVER_CORE}; redis, receiver, inbound server and load on core {ws.LOAD_CORE}"
    )
    print(f"machine: {ws.machine()}")
    load_before = os.getloadavg()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    rounds: list[dict[str, Any]] = []
    failed: list[str] = []
    try:
        env0 = ws.base_env(work, livekit)
        with ws.redis_server(work, env0) as redis_port:
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            store = redis.Redis(port=redis_port)
            receiver_port = ws.free_port()
            receiver_argv = [sys.executable, str(ws.ROOT / "bench" / "webhook_receiver.py")]
            receiver_log = work / "receiver.log"
            with ws.process(
                ws.pinned(ws.LOAD_CORE, [*receiver_argv, str(receiver_port)]),
                env=env0,
                cwd=work,
                log=receiver_log,
            ) as receiver_proc:
                ws.wait_until_serving(receiver_port, receiver_proc, receiver_log)
                receiver = Receiver(receiver_port)
                env = ws.base_env(
                    work,
                    livekit,
                    ENVIRONMENT="development",
                    REDIS_URL=redis_url,
                    WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
                )
                for round_number in range(args.rounds):
                    if args.rounds > 1:
                        print(f"round {round_number + 1} of {args.rounds}", flush=True)
                    # Alternating the order cancels a machine that drifts over minutes.
                    order = selected if round_number % 2 == 0 else selected[::-1]
                    rounds.append({})
                    # A directory of its own per round (logs, Pulse's store): the tenant is
                    # made again, and a log is never read for an earlier round's lines.
                    round_work = work / f"round-{round_number + 1}"
                    round_work.mkdir()
                    round_env = {**env, "DATA_DIR": str(round_work / "data")}
                    for name in order:
                        store.flushall()
                        print(f"  {name} ...", flush=True)
                        try:
                            result = _measure(
                                name, round_work, round_env, receiver, store, livekit, args
                            )
                        except (ws.BenchError, OSError, subprocess.SubprocessError) as exc:
                            failed.append(f"{name}: {exc}")
                            print(f"  {name} FAILED: {exc}", file=sys.stderr)
                            continue
                        rounds[-1][name] = result
                        _print(name, result)
    finally:
        if args.keep:
            print(f"(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    results, verdicts = _summary(rounds, args)
    print(f"({time.monotonic() - started:.0f} s)")
    (ws.RESULTS / "webhooks_outbound.json").write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": ws.machine(),
                "versions": ws.versions(
                    "granian",
                    "litestar",
                    "msgspec",
                    "aiohttp",
                    "redis",
                    "celery",
                    "kombu",
                    "requests",
                    "standardwebhooks",
                    "fastapi",
                    "uvicorn",
                    "livekit-api",
                ),
                "settings": vars(args),
                "load_average_before": load_before,
                "results": results,
                "failed": failed,
            },
            indent=2,
        )
        + "\n"
    )
    dirty = sorted({name for r in rounds for name in r if not r[name]["clean"]})
    for name in dirty:
        print(f"bench: {name}: deliveries missing, duplicated or unverified", file=sys.stderr)
    if failed or dirty:
        return 1
    return 0 if all(verdicts) else 2


def _measure(
    name: str,
    work: Path,
    env: dict[str, str],
    receiver: Receiver,
    store: redis.Redis,
    livekit: tuple[str, str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One system measured once, started and stopped around it."""
    if name == "pulse":
        system_cm = pulse_system(work, env, receiver.port, args.concurrency)
    else:
        system_cm = celery_system(
            work, env, receiver.port, args.celery_pool, args.celery_concurrency
        )
    with system_cm as system:
        return run_system(system, receiver, store, livekit, work, args)


def _summary(
    rounds: list[dict[str, Any]], args: argparse.Namespace
) -> tuple[dict[str, Any], list[bool]]:
    """Each round's ratio (its two systems measured minutes apart at most), then the
    median over the rounds: what the targets are judged on."""
    results: dict[str, Any] = {"rounds": rounds}
    verdicts = []
    paired = [r for r in rounds if "pulse" in r and "celery" in r]
    if paired:

        def ratio_of(key: str) -> list[float]:
            return [r["pulse"][key] / r["celery"][key] for r in paired]

        ratios = ratio_of("deliveries_per_second")
        e2e = ratio_of("events_per_second_end_to_end")
        ratio = results["ratio_deliveries"] = statistics.median(ratios)
        results["ratio_end_to_end"] = statistics.median(e2e)
        results["ratios_deliveries"] = ratios
        met = ratio >= THROUGHPUT_TARGET
        verdicts.append(met)
        each = f" (rounds: {', '.join(f'{x:.2f}x' for x in ratios)})" if len(ratios) > 1 else ""
        print(
            f"pulse / celery deliveries/s: {ratio:.2f}x{each} (target >= {THROUGHPUT_TARGET:g}x: "
            f"{'met' if met else 'MISSED'}); end to end, applying included: "
            f"{results['ratio_end_to_end']:.2f}x"
        )
    p99s = [r["pulse"]["p99_ms"] for r in rounds if "pulse" in r]
    if p99s:
        p99 = results["p99_ms"] = statistics.median(p99s)
        met = p99 < P99_TARGET_MS
        verdicts.append(met)
        each = f" (rounds: {', '.join(f'{x:.1f}' for x in p99s)})" if len(p99s) > 1 else ""
        print(
            f"pulse p99 at {args.rate:g} events/s: {p99:.1f} ms{each} "
            f"(target < {P99_TARGET_MS:g} ms: {'met' if met else 'MISSED'})"
        )
    return results, verdicts


def _print(name: str, r: dict[str, Any]) -> None:
    e2e = r.get("events_per_second_end_to_end")
    print(
        f"    drain: {r['deliveries_per_second']:>7.0f} deliveries/s"
        + (f", {e2e:.0f} events/s end to end" if e2e else "")
        + f"; worker CPU {r['worker_cpu_us_per_event']} us/event"
        f" ({r['worker_processes']} processes), redis CPU {r['redis_cpu_us_per_event']} us/event"
    )
    print(
        f"    at {r['latency_rate']:g}/s: p50 {r['p50_ms']:.1f} ms  p90 {r['p90_ms']:.1f} ms"
        f"  p99 {r['p99_ms']:.1f} ms  max {r['max_ms']:.1f} ms"
        f"  (sender lag max {r['sender_max_lag_ms']:.1f} ms)"
    )
    print(
        f"    {r['received']} received, {r['verified']} verified (standardwebhooks), "
        f"{r['duplicates']} duplicates"
    )


if __name__ == "__main__":
    raise SystemExit(main())
