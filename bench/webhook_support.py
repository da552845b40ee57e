"""What the two webhook benchmarks share (``webhooks_inbound.py``, ``webhooks_outbound.py``):
processes pinned to a core and stopped with their group, a throwaway ``redis-server``,
LiveKit webhooks signed as LiveKit signs them, wrk's output, a Pulse bootstrapped through
its API, CPU time of a process group, and the machine and versions for the report.

Deliberately its own copy of the few process helpers ``run.py`` has: the token benchmark
keeps changing, and these two must not break with it.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import importlib.metadata
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
SERVER_CORE = "0"
LOAD_CORE = "1"
LIVEKIT_PATH = "/v1/livekit/webhook"
UVICORN = ("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning")

if str(ROOT) not in sys.path:  # the tests' LiveKit webhook builder is the one oracle
    sys.path.insert(0, str(ROOT))

from tests.support import livekit_webhooks as lk  # noqa: E402


class BenchError(Exception):
    """A process did not start, answered wrongly, or a tool is missing."""


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(core: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, *argv]


@contextlib.contextmanager
def process(
    argv: list[str], *, env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group (its id is the child's pid); the whole group is
    stopped on the way out, SIGTERM then SIGKILL."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    # Children that outlived their parent (a Celery pool, granian's workers).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_until_serving(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args} exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise BenchError(f"nothing listening on {port} after 30 s:\n{tail(log)}")


def tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def redis_server(work: Path, env: dict[str, str], core: str = LOAD_CORE) -> Iterator[int]:
    """A ``redis-server`` of its own, no persistence, pinned to ``core``; its port."""
    if shutil.which("redis-server") is None:
        raise BenchError("redis-server is not installed")
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no"]
    log = work / "redis.log"
    with process(pinned(core, argv), env=env, cwd=work, log=log) as proc:
        wait_until_serving(port, proc, log)
        yield port


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in group ``pgid``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid:
                    pids.append(int(entry.name))
    return sorted(pids)


# -- HTTP --------------------------------------------------------------------------------


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = raw if raw is not None else (json.dumps(body).encode() if body else None)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        answer = response.read()
        try:
            return response.status, json.loads(answer) if answer else None
        except ValueError:
            return response.status, answer.decode(errors="replace")
    finally:
        conn.close()


# -- LiveKit's webhooks ------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    body: bytes
    authorization: str
    identity: str


def participant_joined(livekit_room: str, identity: str, key: str, secret: str) -> Signed:
    """One ``participant_joined`` webhook, body and ``Authorization`` as LiveKit sends
    them (``tests/support/livekit_webhooks.py``, the tests' oracle)."""
    event = lk.participant_event("participant_joined", livekit_room, identity, name="Ada")
    body, headers = lk.signed(event, api_key=key, api_secret=secret)
    return Signed(body, headers["authorization"], identity)


CONTENT_TYPE = lk.CONTENT_TYPE


# -- wrk ---------------------------------------------------------------------------------

_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class WrkResult:
    requests_per_second: float = 0.0
    requests: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return self.requests > 0 and self.non_2xx == 0 and not any(self.socket_errors.values())


def parse_wrk(output: str) -> WrkResult:
    rps, total = _RPS.search(output), _REQUESTS.search(output)
    if rps is None or total is None:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    percentiles = {p: float(v) * _UNIT_MS[u] for p, v, u in _PERCENTILE.findall(output)}
    non_2xx = _NON_2XX.search(output)
    sockets = _SOCKET.search(output)
    names = ("connect", "read", "write", "timeout")
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        p50_ms=percentiles["50"],
        p90_ms=percentiles["90"],
        p99_ms=percentiles["99"],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=(
            dict(zip(names, map(int, sockets.groups()), strict=True))
            if sockets
            else dict.fromkeys(names, 0)
        ),
    )


def wrk(url: str, script: Path, seconds: float, connections: int) -> WrkResult:
    argv = pinned(
        LOAD_CORE,
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script), url],
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


# -- Pulse -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    org_id: str
    project_id: str
    headers: dict[str, str]


def bootstrap_pulse(port: int, env: dict[str, str], cwd: Path) -> Tenant:
    """An organization and a project through the real API, as an operator would."""
    minted = subprocess.run(
        [str(BIN / "pulse"), "admin-token", "--subject", "bench"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    admin = {"Authorization": f"Bearer {minted.stdout.strip()}"}
    status, org = request(
        port, "POST", "/v1/organizations", {"name": "Bench", "admin_email": "b@example.com"}, admin
    )
    if status != 201:
        raise BenchError(f"creating the organization answered {status}: {org}")
    status, project = request(
        port, "POST", "/v1/projects", {"org_id": org["id"], "name": "bench"}, admin
    )
    if status != 201:
        raise BenchError(f"creating the project answered {status}: {project}")
    headers = {"X-Pulse-Key": project["api_key"], "X-Pulse-Secret": project["api_secret"]}
    return Tenant(org["id"], project["id"], headers)


# -- report ------------------------------------------------------------------------------


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cpu = model or "unknown CPU"
    return f"{os.cpu_count()}-core {platform.machine()} ({cpu}), Linux {platform.release()}"


def versions(*names: str) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    redis = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"v=(\S+)", redis)
    if match:
        found["redis-server"] = match.group(1)
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        found["wrk"] = (out.stdout or out.stderr).split(" [")[0].removeprefix("wrk ").strip()
    return found


@functools.cache
def _secrets(work: Path) -> tuple[str, str]:
    """The JWT secret and API key pepper of ``work``'s data directory: the same for every
    process started on it (Pulse refuses to start on a database made with another
    pepper, so a second round on one directory needs the first round's)."""
    return secrets.token_urlsafe(48), secrets.token_urlsafe(48)


def base_env(work: Path, livekit: tuple[str, str], **extra: str) -> dict[str, str]:
    jwt_secret, pepper = _secrets(work)
    # PYTHONPATH passes through, so that ``PYTHONPATH=<a copy of src> …`` runs Pulse's
    # processes on that code (a before-and-after comparison).
    inherited = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    return {
        **inherited,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(work)),
        "LANG": "C.UTF-8",
        "HOST": "127.0.0.1",
        "DATA_DIR": str(work / "data"),
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        "JWT_SECRET": jwt_secret,
        "API_KEY_PEPPER": pepper,
        "LIVEKIT_API_KEY": livekit[0],
        "LIVEKIT_API_SECRET": livekit[1],
        **extra,
    }


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
