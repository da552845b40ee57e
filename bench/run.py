"""POST /v1/tokens/create under load: Pulse vs the FastAPI peer vs a raw-ASGI floor.

One command, one run, same machine, same request:

    .venv/bin/python bench/run.py            # or: make bench

What it does, in order (the server under test always alone on core 0, wrk on core 1):

1. the signer micro-benchmark: ``HS256Signer.sign`` and ``TokenService.mint`` vs
   livekit-api's ``AccessToken(...).to_jwt()`` (in this process, on core 1);
2. ``pulse``: ``pulse serve`` as an operator runs it (``ENVIRONMENT=production``, real
   random secrets, ``LOG_LEVEL=info``, so one JSON access-log line per request goes to a
   file), on the embedded default (SQLite in a temporary ``DATA_DIR``, in-process rate
   limits). An organization and a project are created through the real API with an admin
   token from ``pulse admin-token``; the project's rate limit (1 000 000/s, burst
   1 000 000) is on for every request but never reached. The load authenticates with the
   project's key + secret;
3. ``pulse-uvicorn``: the same application under uvicorn (uvloop, httptools) instead of
   granian, to keep the server choice a measured one;
4. ``fastapi``: the peer, ``bench/peers/fastapi_app.py`` (FastAPI + livekit-api
   ``AccessToken``, no auth) on uvicorn with uvloop and httptools, one worker;
5. ``raw-asgi``: the floor, ``bench/peers/raw_asgi.py`` (a bare ASGI callable doing the
   same token work: msgspec decode, ``TokenService.mint``, msgspec encode), served like
   ``pulse serve`` (``pulse_http.server.build_server``);
6. ``pulse-redis``: step 2 with ``REDIS_URL`` set: every request's rate-limit decision is
   a round trip to a ``redis-server`` started here, pinned to core 1 next to wrk.

Each server gets one verified request first (201, and livekit-api's ``TokenVerifier``
accepts the token), then ``--warmup`` seconds of load that do not count, then
``--duration`` seconds measured with ``wrk -t1 -c<connections> --latency``. The table
gives requests/s, p50 and p99 latency and error counts; the ratios are checked against
the targets. Results also go to ``bench/results/latest.json``.

Exit status: 0 all good; 1 a server failed, a check failed or any run had non-2xx answers
or socket errors; 2 every run was clean but a target was missed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# bench/ is on sys.path when this runs as a script: the signer measurement's one home.
import token_signing
from livekit.api import TokenVerifier

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
RESULTS = ROOT / "bench" / "results" / "latest.json"
BIN = Path(sys.executable).parent
SERVER_CORE = "0"
LOAD_CORE = "1"
PATH = "/v1/tokens/create"
BODY = {"identity": "user-42", "room": "demo", "name": "Ada", "ttl_seconds": 600}
RUNS = ("pulse", "pulse-uvicorn", "fastapi", "raw-asgi", "pulse-redis")
# (numerator, denominator, minimum ratio of requests/s)
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("pulse", "fastapi", 2.0),
    ("pulse", "raw-asgi", 0.6),
    ("pulse-redis", "fastapi", 1.5),
)
SIGNER_TARGET = 10.0
UVICORN = ("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning")


class BenchError(Exception):
    """A server did not start, answered wrongly, or a tool is missing."""


@dataclass
class Run:
    name: str
    description: str
    requests_per_second: float = 0.0
    requests: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.requests > 0 and self.non_2xx == 0 and not any(self.socket_errors.values())


# -- processes ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _process(
    argv: list[str], *, env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group; the group is stopped on the way out."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _pinned(core: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, *argv]


# -- HTTP --------------------------------------------------------------------------------


def _request(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        raw = response.read()
        answer = {k.lower(): v for k, v in response.getheaders()}
        return response.status, answer, json.loads(raw) if raw else None
    finally:
        conn.close()


def _wait_until_serving(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise BenchError(f"server not listening on {port} after 30 s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _verify_token_endpoint(
    port: int, headers: dict[str, str], livekit: tuple[str, str], *, pulse: bool
) -> None:
    """One real request: 201, a token LiveKit's own verifier accepts, the right claims."""
    status, answer, body = _request(port, "POST", PATH, BODY, headers)
    if status != 201:
        raise BenchError(f"POST {PATH} answered {status}: {body}")
    claims = TokenVerifier(*livekit).verify(body["token"])
    if claims.identity != BODY["identity"] or claims.name != BODY["name"]:
        raise BenchError(f"unexpected claims: {claims}")
    if claims.video is None or not claims.video.room_join:
        raise BenchError(f"token grants no room join: {claims}")
    if not claims.video.room.endswith(str(BODY["room"])):
        raise BenchError(f"token for the wrong room: {claims.video.room}")
    if pulse:
        missing = {"x-request-id", "ratelimit", "ratelimit-policy", "x-ratelimit-remaining"}
        missing -= answer.keys()
        if missing:
            raise BenchError(f"Pulse answered without {sorted(missing)}")


# -- wrk ---------------------------------------------------------------------------------

_LUA = """\
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
{headers}
"""
_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _lua_script(path: Path, headers: dict[str, str]) -> Path:
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    path.write_text(_LUA.format(body=json.dumps(BODY, separators=(",", ":")), headers=lines))
    return path


def _wrk(port: int, script: Path, seconds: float, connections: int) -> str:
    argv = _pinned(
        LOAD_CORE,
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{PATH}",
        ],
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def _parse_wrk(output: str, run: Run) -> None:
    rps, total = _RPS.search(output), _REQUESTS.search(output)
    if rps is None or total is None:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    run.requests_per_second = float(rps.group(1))
    run.requests = int(total.group(1))
    percentiles = {p: float(v) * _UNIT_MS[u] for p, v, u in _PERCENTILE.findall(output)}
    run.p50_ms, run.p90_ms, run.p99_ms = percentiles["50"], percentiles["90"], percentiles["99"]
    non_2xx = _NON_2XX.search(output)
    run.non_2xx = int(non_2xx.group(1)) if non_2xx else 0
    sockets = _SOCKET.search(output)
    names = ("connect", "read", "write", "timeout")
    run.socket_errors = (
        dict(zip(names, map(int, sockets.groups()), strict=True))
        if sockets
        else dict.fromkeys(names, 0)
    )


def _load(run: Run, port: int, script: Path, args: argparse.Namespace) -> None:
    if args.warmup > 0:
        _wrk(port, script, args.warmup, args.connections)
    _parse_wrk(_wrk(port, script, args.duration, args.connections), run)


# -- the runs ----------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    base_env: dict[str, str]
    livekit: tuple[str, str]
    credentials: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        return {**self.base_env, **extra}

    def pulse_env(self, port: int, **extra: str) -> dict[str, str]:
        return self.env(PORT=str(port), **extra)

    def serve(
        self, run: Run, argv: list[str], env: dict[str, str], *, pulse: bool, cwd: Path
    ) -> Path:
        """Start ``argv`` on the server core, verify it, load it; the server's log file."""
        port = int(env["PORT"])
        log = self.work / f"{run.name}.log"
        with _process(_pinned(SERVER_CORE, argv), env=env, cwd=cwd, log=log) as proc:
            _wait_until_serving(port, proc, log)
            if pulse and not self.credentials:
                self.credentials = self.bootstrap(port)
            headers = self.credentials or {"X-Pulse-Key": "unused", "X-Pulse-Secret": "unused"}
            _verify_token_endpoint(port, headers, self.livekit, pulse=pulse)
            script = _lua_script(self.work / "post_token.lua", headers)
            _load(run, port, script, self.args)
        return log

    def bootstrap(self, port: int) -> dict[str, str]:
        """An organization and a project through the real API, as an operator would."""
        minted = subprocess.run(
            [str(BIN / "pulse"), "admin-token", "--subject", "bench"],
            env=self.pulse_env(port),
            cwd=self.work,
            capture_output=True,
            text=True,
            check=True,
        )
        admin = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        status, _, org = _request(
            port,
            "POST",
            "/v1/organizations",
            {"name": "Bench", "admin_email": "bench@example.com"},
            admin,
        )
        if status != 201:
            raise BenchError(f"creating the organization answered {status}: {org}")
        limit = {"requests": 1_000_000, "period": "second", "burst": 1_000_000}
        status, _, project = _request(
            port,
            "POST",
            "/v1/projects",
            {"org_id": org["id"], "name": "bench", "rate_limit": limit},
            admin,
        )
        if status != 201:
            raise BenchError(f"creating the project answered {status}: {project}")
        return {"X-Pulse-Key": project["api_key"], "X-Pulse-Secret": project["api_secret"]}

    def pulse(self, run: Run, **extra: str) -> None:
        port = _free_port()
        log = self.serve(
            run,
            [str(BIN / "pulse"), "serve"],
            self.pulse_env(port, **extra),
            pulse=True,
            cwd=self.work,
        )
        self.count_access_log(run, log)

    def pulse_uvicorn(self, run: Run) -> None:
        port = _free_port()
        argv = [str(BIN / "uvicorn"), "pulse_http.asgi:app", "--port", str(port), *UVICORN]
        log = self.serve(run, argv, self.pulse_env(port), pulse=True, cwd=self.work)
        self.count_access_log(run, log)

    def fastapi(self, run: Run) -> None:
        port = _free_port()
        argv = [
            str(BIN / "uvicorn"),
            "fastapi_app:app",
            "--app-dir",
            str(PEERS),
            "--port",
            str(port),
            "--workers",
            "1",
            *UVICORN,
        ]
        self.serve(run, argv, self.env(PORT=str(port)), pulse=False, cwd=self.work)

    def raw_asgi(self, run: Run) -> None:
        port = _free_port()
        env = self.env(PORT=str(port), PYTHONPATH=str(PEERS))
        self.serve(run, [sys.executable, str(PEERS / "raw_asgi.py")], env, pulse=False, cwd=PEERS)

    def pulse_redis(self, run: Run) -> None:
        if shutil.which("redis-server") is None:
            raise BenchError("redis-server is not installed")
        port = _free_port()
        argv = [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        log = self.work / "redis.log"
        with _process(_pinned(LOAD_CORE, argv), env=self.env(), cwd=self.work, log=log) as proc:
            _wait_until_serving(port, proc, log)
            self.pulse(run, REDIS_URL=f"redis://127.0.0.1:{port}/0")

    @staticmethod
    def count_access_log(run: Run, log: Path) -> None:
        text = log.read_text(errors="replace")
        lines = sum(1 for line in text.splitlines() if '"event":"request"' in line)
        run.notes.append(f"{lines} JSON access-log lines written")


DESCRIPTIONS = {
    "pulse": "pulse serve (granian), SQLite, in-process limits",
    "pulse-uvicorn": "same app on uvicorn (uvloop, httptools)",
    "fastapi": "peer: FastAPI + AccessToken on uvicorn",
    "raw-asgi": "floor: bare ASGI + TokenService, granian",
    "pulse-redis": "pulse serve (granian), Redis limits",
}
SERVERS = {
    "pulse": "pulse serve: granian ASGI, 1 worker, pulse_http.server.build_server settings",
    "pulse-uvicorn": "uvicorn pulse_http.asgi:app " + " ".join(UVICORN),
    "fastapi": "uvicorn fastapi_app:app --workers 1 " + " ".join(UVICORN),
    "raw-asgi": "granian ASGI, 1 worker, pulse_http.server.build_server settings",
    "pulse-redis": "as pulse, REDIS_URL set; redis-server pinned to the load core",
}


# -- signer micro-benchmark ----------------------------------------------------------------


def _signer_speedup() -> dict[str, float]:
    """Per-token cost of Pulse's signer and mint vs ``AccessToken.to_jwt()``, same claims
    (bench/token_signing.py's measurement, basic scenario)."""
    cost = token_signing.measure("basic", number=20_000, repeat=5)
    return {
        "sign_us": cost["sign_ns"] / 1000,
        "mint_us": cost["mint_ns"] / 1000,
        "livekit_to_jwt_us": cost["livekit_ns"] / 1000,
        "signer_speedup": cost["livekit_ns"] / cost["sign_ns"],
        "mint_speedup": cost["livekit_ns"] / cost["mint_ns"],
    }


# -- report ------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    names = (
        "granian",
        "uvicorn",
        "uvloop",
        "httptools",
        "litestar",
        "fastapi",
        "pydantic",
        "msgspec",
        "structlog",
        "livekit-api",
        "PyJWT",
        "redis",
    )
    found = {}
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    found["wrk"] = (wrk.stdout or wrk.stderr).split(" [")[0].removeprefix("wrk ").strip()
    redis = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"v=(\S+)", redis)
    if match:
        found["redis-server"] = match.group(1)
    return found


def _machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cpu = model or "unknown CPU"
    return f"{os.cpu_count()}-core {platform.machine()} ({cpu}), Linux {platform.release()}"


def _ratios(runs: dict[str, Run]) -> list[dict[str, Any]]:
    out = []
    for numerator, denominator, minimum in TARGETS:
        if numerator in runs and denominator in runs and runs[denominator].requests_per_second:
            ratio = runs[numerator].requests_per_second / runs[denominator].requests_per_second
            out.append(
                {
                    "ratio": f"{numerator} / {denominator}",
                    "value": ratio,
                    "target": minimum,
                    "met": ratio >= minimum,
                }
            )
    return out


def _print_table(runs: dict[str, Run]) -> None:
    header = (
        f"{'run':<14} {'what':<48} {'req/s':>8} {'p50':>8} {'p99':>8} {'non-2xx':>7} "
        f"{'sock err':>8}"
    )
    print(header)
    print("-" * len(header))
    for run in runs.values():
        print(
            f"{run.name:<14} {run.description:<48} {run.requests_per_second:>8.0f} "
            f"{run.p50_ms:>6.2f}ms {run.p99_ms:>6.2f}ms {run.non_2xx:>7} "
            f"{sum(run.socket_errors.values()):>8}"
        )
        for note in run.notes:
            print(f"{'':<14} {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=12, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds before")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument(
        "--only", default=",".join(RUNS), help=f"comma-separated subset of {','.join(RUNS)}"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    selected = [name for name in args.only.split(",") if name]
    unknown = set(selected) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs: {sorted(unknown)}")
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is not installed", file=sys.stderr)
            return 1
    if (os.cpu_count() or 1) < 2:
        print("bench: needs two cores (server on core 0, load on core 1)", file=sys.stderr)
        return 1
    os.sched_setaffinity(0, {int(LOAD_CORE)})  # this process stays off the server's core

    livekit = ("APIbench" + secrets.token_hex(6), secrets.token_urlsafe(48))
    work = Path(tempfile.mkdtemp(prefix="pulse-bench-"))
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(work)),
        "LANG": "C.UTF-8",
        "ENVIRONMENT": "production",
        "HOST": "127.0.0.1",
        "DATA_DIR": str(work / "data"),
        "LOG_LEVEL": "info",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "API_KEY_PEPPER": secrets.token_urlsafe(48),
        "LIVEKIT_API_KEY": livekit[0],
        "LIVEKIT_API_SECRET": livekit[1],
        # Production settings on the embedded default, one server process: allowed by name.
        "ALLOW_SIMULATED_MEDIA": "true",
        "ALLOW_SQLITE_IN_PRODUCTION": "true",
        "ALLOW_LOCAL_RATE_LIMITS": "true",
    }
    bench = Bench(args, work, base_env, livekit)
    started = time.monotonic()
    print(
        f"Pulse token benchmark: {args.duration:g} s per run after {args.warmup:g} s of warm-up, "
        f"wrk -t1 -c{args.connections} on core {LOAD_CORE}, servers on core {SERVER_CORE}"
    )
    print(f"machine: {_machine()}, Python {platform.python_version()}")
    load_before = os.getloadavg()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    signer = _signer_speedup()
    print(
        f"signer: HS256Signer.sign {signer['sign_us']:.2f} us, TokenService.mint "
        f"{signer['mint_us']:.2f} us, AccessToken.to_jwt() {signer['livekit_to_jwt_us']:.1f} us"
        f" -> {signer['signer_speedup']:.1f}x (mint {signer['mint_speedup']:.1f}x)\n"
    )
    actions: dict[str, Callable[[Run], None]] = {
        "pulse": bench.pulse,
        "pulse-uvicorn": bench.pulse_uvicorn,
        "fastapi": bench.fastapi,
        "raw-asgi": bench.raw_asgi,
        "pulse-redis": bench.pulse_redis,
    }
    runs: dict[str, Run] = {}
    failed: list[str] = []
    try:
        for name in RUNS:
            if name not in selected:
                continue
            run = Run(name, DESCRIPTIONS[name])
            print(f"  {name}: {run.description} ...", flush=True)
            try:
                actions[name](run)
            except (BenchError, subprocess.SubprocessError, OSError) as exc:
                failed.append(f"{name}: {exc}")
                print(f"  {name} FAILED: {exc}", file=sys.stderr)
                continue
            runs[name] = run
    finally:
        if args.keep:
            print(f"(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    _print_table(runs)
    ratios = _ratios(runs)
    print()
    for ratio in ratios:
        verdict = "met" if ratio["met"] else "MISSED"
        print(
            f"{ratio['ratio']:<24} {ratio['value']:>6.2f}x   "
            f"target >= {ratio['target']:g}x   {verdict}"
        )
    signer_met = signer["signer_speedup"] >= SIGNER_TARGET
    print(
        f"{'signer / AccessToken':<24} {signer['signer_speedup']:>6.1f}x   "
        f"target >= {SIGNER_TARGET:g}x   {'met' if signer_met else 'MISSED'}"
    )
    if "pulse" in runs and "pulse-uvicorn" in runs:
        g, u = runs["pulse"].requests_per_second, runs["pulse-uvicorn"].requests_per_second
        print(f"server: granian {g:.0f} req/s vs uvicorn {u:.0f} req/s ({g / u:.2f}x)")
    dirty = [run.name for run in runs.values() if not run.clean]
    for name in dirty:
        print(f"bench: {name} had non-2xx answers or socket errors", file=sys.stderr)
    print(f"\n({time.monotonic() - started:.0f} s)")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": _machine(),
                "python": platform.python_version(),
                "versions": _versions(),
                "settings": {
                    "duration_s": args.duration,
                    "warmup_s": args.warmup,
                    "connections": args.connections,
                    "server_core": SERVER_CORE,
                    "load_core": LOAD_CORE,
                    "body": BODY,
                },
                "load_average_before": load_before,
                "servers": {name: SERVERS[name] for name in runs},
                "signer": signer,
                "runs": {name: {**asdict(run), "clean": run.clean} for name, run in runs.items()},
                "ratios": ratios,
                "failed": failed,
            },
            indent=2,
        )
        + "\n"
    )
    if failed or dirty:
        return 1
    if not signer_met or not all(ratio["met"] for ratio in ratios):
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
