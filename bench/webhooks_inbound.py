"""LiveKit's webhooks in: events accepted per second, Pulse vs a FastAPI peer.

    .venv/bin/python bench/webhooks_inbound.py                 # ~45 s
    .venv/bin/python bench/webhooks_inbound.py --rounds 3      # alternating, ~2 min
    cp -r src /tmp/src-before   # before a change; then, after it:
    .venv/bin/python bench/webhooks_inbound.py --rounds 3 --baseline /tmp/src-before

What "accepted" means, for both: the signature verified, the event queued in Redis, 200
``{}`` answered. In one run, one after the other, each server alone on core 0
(``taskset -c 0``), ``wrk -t1 -c<connections>`` and ``redis-server`` (no persistence) on
core 1:

- ``pulse``: ``pulse serve`` as an operator runs it (``ENVIRONMENT=production``, random
  secrets, ``LOG_LEVEL=info``: one JSON access-log line per request, to a file), with
  ``REDIS_URL`` (the job queue is Redis Streams: one run of the enqueue script per event,
  those of one event-loop iteration in one pipelined round trip) and
  ``WEBHOOK_WORKER=off`` (only the accept path runs in the process); the route is served
  by its raw-ASGI fast path, ``pulse_http/fast_livekit.py``;
- ``pulse-baseline`` (with ``--baseline DIR``): the same, on the code in ``DIR`` (a copy
  of ``src/`` taken before a change, put first on ``PYTHONPATH``): before and after in
  the same run, alternating, on the same machine load;
- ``fastapi``: the peer, ``peers/fastapi_livekit_webhook.py``: livekit-api's
  ``WebhookReceiver`` (PyJWT, the body's hash, the protobuf parse) and one ``XADD`` to the
  same Redis, on uvicorn with uvloop and httptools, one worker, no access log;
- ``floor``: ``peers/raw_asgi_livekit_webhook.py``, Pulse's own accept code (verifier,
  parse, ``RedisJobQueue.enqueue``) in a bare ASGI callable served like ``pulse serve``:
  the fast path without the request-id middleware and access log (no target; for the
  analysis);
- ``floor-batched`` (only when asked for, ``--only``): the floor with the peer's own
  pipeline of enqueues (``FLOOR_BATCH=1``), the prototype of ``RedisJobQueue``'s.

Both get the same requests: ``--events`` distinct ``participant_joined`` webhooks signed
as LiveKit signs them (``tests/support/livekit_webhooks.py``), cycled through by wrk's
Lua script. Before the load each server must answer 200 to a signed event (and queue
it) and 401 to a tampered one (and queue nothing); after it, the stream must hold at least
as many new entries as wrk counted answers. ``--warmup`` seconds of load do not count,
then the queue is emptied and ``--duration`` seconds are measured. With ``--rounds`` the
order alternates. Results go to ``bench/results/webhooks_inbound.json``.

Exit status: 0 all clean and the target met (Pulse >= 2x the peer in every round); 1 a
failure or any non-2xx answer or socket error; 2 clean but the target missed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import webhook_support as ws

from pulse_core import ids, rooms

TARGET = 2.0
PULSE_STREAM = "pulse:q:{pulse}:jobs"
PEER_STREAM = "peer:livekit-events"
RUNS = ("pulse", "fastapi", "floor", "floor-batched", "pulse-baseline")
DEFAULT_RUNS = ("pulse", "fastapi", "floor")

_LUA = """\
local bodies = {{
{bodies}
}}
local auths = {{
{auths}
}}
local requests = {{}}
init = function(args)
  for i = 1, #bodies do
    requests[i] = wrk.format("POST", "{path}", {{
      ["Content-Type"] = "{content_type}",
      ["Authorization"] = auths[i],
    }}, bodies[i])
  end
end
local n = 0
request = function()
  n = n % #requests + 1
  return requests[n]
end
"""


def lua_script(path: Path, events: list[ws.Signed]) -> Path:
    for event in events:
        if b"]=====]" in event.body:
            raise ws.BenchError("a body cannot be written as a Lua long string")
    bodies = ",\n".join(f"[=====[{e.body.decode()}]=====]" for e in events)
    auths = ",\n".join(f'"{e.authorization}"' for e in events)
    path.write_text(
        _LUA.format(bodies=bodies, auths=auths, path=ws.LIVEKIT_PATH, content_type=ws.CONTENT_TYPE)
    )
    return path


def check(port: int, stream: str, store: redis.Redis, sample: ws.Signed) -> None:
    """A signed event is 200 and queued; a tampered one is 401 and queues nothing."""
    headers = {"Authorization": sample.authorization, "Content-Type": ws.CONTENT_TYPE}
    before = store.xlen(stream)
    status, answer = ws.request(port, "POST", ws.LIVEKIT_PATH, headers=headers, raw=sample.body)
    if status != 200 or answer != {}:
        raise ws.BenchError(f"a signed event answered {status}: {answer}")
    if store.xlen(stream) != before + 1:
        raise ws.BenchError(f"a signed event was not queued on {stream}")
    tampered = sample.body.replace(b"Ada", b"Eve")
    status, answer = ws.request(port, "POST", ws.LIVEKIT_PATH, headers=headers, raw=tampered)
    if status != 401:
        raise ws.BenchError(f"a tampered event answered {status}: {answer}")
    if store.xlen(stream) != before + 1:
        raise ws.BenchError("a tampered event was queued")


def measure(
    name: str,
    argv: list[str],
    env: dict[str, str],
    *,
    work: Path,
    cwd: Path,
    stream: str,
    store: redis.Redis,
    script: Path,
    sample: ws.Signed,
    args: argparse.Namespace,
) -> dict[str, Any]:
    port = int(env["PORT"])
    log = work / f"{name}.log"
    log.unlink(missing_ok=True)
    url = f"http://127.0.0.1:{port}{ws.LIVEKIT_PATH}"
    with ws.process(ws.pinned(ws.SERVER_CORE, argv), env=env, cwd=cwd, log=log) as proc:
        ws.wait_until_serving(port, proc, log)
        check(port, stream, store, sample)
        if args.warmup > 0:
            ws.wrk(url, script, args.warmup, args.connections)
        store.flushall()
        cpu_before = ws.group_cpu_seconds(proc.pid)
        result = ws.wrk(url, script, args.duration, args.connections)
        cpu = ws.group_cpu_seconds(proc.pid) - cpu_before
        queued = store.xlen(stream)
        memory = store.info("memory")["used_memory"]
        store.flushall()
    out: dict[str, Any] = {
        **asdict(result),
        "clean": result.clean,
        "queued": queued,
        "server_cpu_seconds": round(cpu, 2),
        "cpu_us_per_event": round(cpu / max(1, result.requests) * 1e6, 1),
        "redis_used_memory_mb": round(memory / 2**20, 1),
    }
    if queued < result.requests:
        raise ws.BenchError(f"{name}: wrk counted {result.requests} answers, {queued} queued")
    if name.startswith("pulse"):
        text = log.read_text(errors="replace")
        lines = text.splitlines()
        out["access_log_lines"] = sum(1 for line in lines if '"event":"request"' in line)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds before")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--events", type=int, default=1000, help="distinct signed events")
    parser.add_argument("--rounds", type=int, default=1, help="pulse/peer pairs, alternating")
    parser.add_argument(
        "--only", default=",".join(DEFAULT_RUNS), help=f"comma-separated, of {','.join(RUNS)}"
    )
    parser.add_argument(
        "--baseline", type=Path, help="a copy of src/ to run as pulse-baseline (before/after)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    selected = [name for name in args.only.split(",") if name]
    if set(selected) - set(RUNS):
        parser.error(f"unknown runs: {sorted(set(selected) - set(RUNS))}")
    if args.baseline is not None:
        if not (args.baseline / "pulse_http").is_dir():
            parser.error(f"--baseline {args.baseline}: no pulse_http package in it")
        if "pulse-baseline" not in selected:
            selected.insert(1, "pulse-baseline")
    elif "pulse-baseline" in selected:
        parser.error("pulse-baseline needs --baseline")
    for tool in ("wrk", "taskset", "redis-server"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is not installed", file=sys.stderr)
            return 1
    if (os.cpu_count() or 1) < 2:
        print("bench: needs two cores", file=sys.stderr)
        return 1
    os.sched_setaffinity(0, {int(ws.LOAD_CORE)})

    livekit = ("APIbench" + secrets.token_hex(6), secrets.token_urlsafe(48))
    project = ids.new_id(ids.PROJECT, now_ms=int(time.time() * 1000))
    room = rooms.to_livekit(project, "demo")
    events = [ws.participant_joined(room, f"user-{i}", *livekit) for i in range(args.events + 1)]
    sample, events = events[0], events[1:]
    work = Path(tempfile.mkdtemp(prefix="pulse-bench-inbound-"))
    script = lua_script(work / "livekit.lua", events)
    started = time.monotonic()
    print(
        f"LiveKit webhooks in: {args.duration:g} s per run after {args.warmup:g} s of warm-up, "
        f"wrk -t1 -c{args.connections} and redis-server on core {ws.LOAD_CORE}, "
        f"servers on core {ws.SERVER_CORE}, {len(events)} distinct signed events "
        f"({len(events[0].body)} bytes each)"
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
            for number in range(args.rounds):
                order = selected if number % 2 == 0 else selected[::-1]
                results: dict[str, Any] = {}
                for name in order:
                    port = ws.free_port()
                    if name in ("pulse", "pulse-baseline"):
                        argv = [str(ws.BIN / "pulse"), "serve"]
                        # The baseline's packages come first on the path: its code runs.
                        baseline = (
                            {"PYTHONPATH": str(args.baseline.resolve())}
                            if name == "pulse-baseline"
                            else {}
                        )
                        env = ws.base_env(
                            work,
                            livekit,
                            ENVIRONMENT="production",
                            PORT=str(port),
                            REDIS_URL=redis_url,
                            WEBHOOK_WORKER="off",
                            # SQLite and no LiveKit, on purpose: allowed by name.
                            ALLOW_SIMULATED_MEDIA="true",
                            ALLOW_SQLITE_IN_PRODUCTION="true",
                            **baseline,
                        )
                        cwd, stream = work, PULSE_STREAM
                    elif name.startswith("floor"):
                        argv = [sys.executable, str(ws.PEERS / "raw_asgi_livekit_webhook.py")]
                        env = ws.base_env(
                            work,
                            livekit,
                            PORT=str(port),
                            REDIS_URL=redis_url,
                            PYTHONPATH=str(ws.PEERS),
                            FLOOR_BATCH="1" if name == "floor-batched" else "0",
                        )
                        cwd, stream = ws.PEERS, PULSE_STREAM
                    else:
                        argv = [str(ws.BIN / "uvicorn"), "fastapi_livekit_webhook:app"]
                        argv += ["--app-dir", str(ws.PEERS), "--port", str(port)]
                        argv += ["--workers", "1", *ws.UVICORN]
                        env = ws.base_env(
                            work,
                            livekit,
                            PORT=str(port),
                            REDIS_URL=redis_url,
                            PEER_STREAM=PEER_STREAM,
                            PEER_ENQUEUE="xadd",
                        )
                        cwd, stream = work, PEER_STREAM
                    print(f"  round {number + 1}: {name} ...", flush=True)
                    try:
                        results[name] = measure(
                            name,
                            argv,
                            env,
                            work=work,
                            cwd=cwd,
                            stream=stream,
                            store=store,
                            script=script,
                            sample=sample,
                            args=args,
                        )
                    except (ws.BenchError, OSError) as exc:
                        failed.append(f"round {number + 1} {name}: {exc}")
                        print(f"  {name} FAILED: {exc}", file=sys.stderr)
                        continue
                    r = results[name]
                    print(
                        f"    {r['requests_per_second']:>8.0f} events/s  p50 {r['p50_ms']:.2f} ms"
                        f"  p99 {r['p99_ms']:.2f} ms  non-2xx {r['non_2xx']}"
                        f"  sock err {sum(r['socket_errors'].values())}"
                        f"  queued {r['queued']}  server CPU {r['cpu_us_per_event']:.0f} us/event"
                    )
                if "pulse" in results and "fastapi" in results:
                    results["ratio"] = (
                        results["pulse"]["requests_per_second"]
                        / results["fastapi"]["requests_per_second"]
                    )
                    print(f"    pulse / fastapi: {results['ratio']:.2f}x")
                if "pulse" in results and "floor" in results:
                    results["ratio_floor"] = (
                        results["pulse"]["requests_per_second"]
                        / results["floor"]["requests_per_second"]
                    )
                    print(f"    pulse / floor: {results['ratio_floor']:.2f}x")
                if "pulse-baseline" in results and "fastapi" in results:
                    results["ratio_baseline"] = (
                        results["pulse-baseline"]["requests_per_second"]
                        / results["fastapi"]["requests_per_second"]
                    )
                    print(f"    pulse-baseline / fastapi: {results['ratio_baseline']:.2f}x")
                if "pulse" in results and "pulse-baseline" in results:
                    results["speedup"] = (
                        results["pulse"]["requests_per_second"]
                        / results["pulse-baseline"]["requests_per_second"]
                    )
                    print(f"    pulse / pulse-baseline: {results['speedup']:.2f}x")
                rounds.append(results)
    finally:
        if args.keep:
            print(f"(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)

    ratios = [r["ratio"] for r in rounds if "ratio" in r]
    print()
    for name in selected:
        rates = [r[name]["requests_per_second"] for r in rounds if name in r]
        if rates:
            print(f"{name:<14} {min(rates):>8.0f} - {max(rates):>8.0f} events/s")
    met = bool(ratios) and min(ratios) >= TARGET
    if ratios:
        verdict = "met" if met else "MISSED"
        print(
            f"pulse / fastapi: {min(ratios):.2f} - {max(ratios):.2f}x "
            f"(median {statistics.median(ratios):.2f}x), target >= {TARGET:g}x: {verdict}"
        )
    floors = [r["ratio_floor"] for r in rounds if "ratio_floor" in r]
    if floors:
        print(f"pulse / floor: {min(floors):.2f} - {max(floors):.2f}x (no target)")
    for key, label in (
        ("ratio_baseline", "pulse-baseline / fastapi"),
        ("speedup", "pulse / pulse-baseline"),
    ):
        values = [r[key] for r in rounds if key in r]
        if values:
            print(f"{label}: {min(values):.2f} - {max(values):.2f}x")
    print(f"({time.monotonic() - started:.0f} s)")
    dirty = [
        f"{name} (round {i + 1})"
        for i, r in enumerate(rounds)
        for name in RUNS
        if name in r and not r[name]["clean"]
    ]
    ws.RESULTS.mkdir(parents=True, exist_ok=True)
    (ws.RESULTS / "webhooks_inbound.json").write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": ws.machine(),
                "versions": ws.versions(
                    "granian",
                    "litestar",
                    "msgspec",
                    "fastapi",
                    "pydantic",
                    "uvicorn",
                    "uvloop",
                    "httptools",
                    "livekit-api",
                    "PyJWT",
                    "protobuf",
                    "redis",
                ),
                "settings": {**vars(args), "baseline": args.baseline and str(args.baseline)},
                "load_average_before": load_before,
                "rounds": rounds,
                "target": TARGET,
                "failed": failed,
            },
            indent=2,
        )
        + "\n"
    )
    for item in dirty:
        print(f"bench: {item} had non-2xx answers or socket errors", file=sys.stderr)
    if failed or dirty:
        return 1
    return 0 if met else 2


if __name__ == "__main__":
    raise SystemExit(main())
