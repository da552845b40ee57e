"""Real `pulse serve` and `pulse worker` processes for fault tests, a receiver slow
enough that workers hold jobs when they die, and a burst of LiveKit webhooks.

Not a plugin: classes and functions imported by the tests that use them.

- :class:`PulseProcess`: one ``pulse serve`` or ``pulse worker``, in a process group of
  its own (granian runs the app in a child process: a crash of "the service" is the
  whole group dying), output to a log file (a pipe nobody drains would block it).
  ``crash()`` is ``kill -9`` of the group; ``close()`` stops it for good.
- :class:`SlowReceiver`: the loopback :class:`WebhookReceiver`, answering each delivery
  after a delay, and not counting a delivery whose sender hung up meanwhile (a worker
  killed mid-delivery never saw the answer: that delivery must come again).
- :class:`Burst`: signed LiveKit ``participant_joined`` events, one identity each, posted
  by a few threads; records which identities Pulse accepted (200) and what the others
  got.

Every wait is bounded by a generous limit and fails with what was seen; none asserts
that anything is fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx

from pulse_core import rooms
from tests.support import livekit_webhooks as lk
from tests.support.ports import wait_for_port
from tests.support.webhook_receiver import WebhookReceiver

PULSE = str(Path(sys.executable).parent / "pulse")

#: Upper bounds only: a loaded 2-core machine must never fail a test by being slow.
START_PATIENCE = 60.0
PATIENCE = 120.0


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    every: float = 0.02,
    details: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition`` until it holds; after ``timeout`` s fail naming ``what``, with
    ``details()`` as they are then (logs, counts)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            more = f"\n{details()}" if details is not None else ""
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}{more}")
        time.sleep(every)


def pulse_environment(**settings: str) -> dict[str, str]:
    """The test's environment without its settings (upper-case variables other than
    PATH and HOME: a developer's REDIS_URL or LOG_LEVEL must not leak in), plus
    ``settings``."""
    clean = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME")}
    return {**clean, **settings}


class PulseProcess:
    """``pulse <command>`` with ``env``, started in ``cwd`` (no stray ``.env``)."""

    def __init__(self, command: str, env: dict[str, str], cwd: Path, *, name: str) -> None:
        self.command = command
        self.env = env
        self.cwd = cwd
        self.name = name
        self.log_path = cwd / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.admin_token: str | None = None
        self._starts = 0

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> PulseProcess:
        assert not self.running, f"{self.name} is running already"
        self._starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self._starts}: pulse {self.command}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [PULSE, self.command],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, granian's child included
            )
        return self

    def wait_serving(self) -> str:
        """For ``serve``: wait for the admin token it prints (development) and for
        ``/health`` to answer; the base URL."""
        port = int(self.env["PORT"])

        def token_printed() -> bool:
            self._check_alive()
            found = re.findall(r"export PULSE_ADMIN_TOKEN=(\S+)", self._this_start())
            if found:
                self.admin_token = found[-1]
            return bool(found)

        wait_until(token_printed, timeout=START_PATIENCE, what=f"{self.name}'s admin token")
        assert wait_for_port(port, timeout=START_PATIENCE), self.failure("is not listening")
        base_url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            self._check_alive()
            try:
                return httpx.get(f"{base_url}/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=START_PATIENCE, what=f"{self.name}'s /health", every=0.1)
        return base_url

    def wait_logged(self, event: str) -> dict[str, Any]:
        """The first JSON log line (``LOG_FORMAT=json``) of this start whose ``event`` is
        ``event``, waited for."""
        found: list[dict[str, Any]] = []

        def logged() -> bool:
            self._check_alive()
            for line in self._this_start().splitlines():
                if line.startswith("{") and f'"{event}"' in line:
                    entry = json.loads(line)
                    if entry.get("event") == event:
                        found.append(entry)
                        return True
            return False

        wait_until(logged, timeout=START_PATIENCE, what=f"{self.name} to log {event}")
        return found[0]

    def crash(self) -> None:
        """``kill -9`` of the whole process group, as a machine or OOM kill would; returns
        once every process of it is gone. ``start()`` may follow."""
        assert self.process is not None and self.running, f"{self.name} is not running"
        pgid = self.process.pid
        os.killpg(pgid, signal.SIGKILL)  # its leader is alive: the group is ours
        self.process.wait(timeout=30)
        _kill_group(pgid)
        self.process = None

    def terminate(self) -> int:
        """SIGTERM to the process, as ``kill`` or ``docker stop`` sends it; waits (within
        a generous bound) for it to exit, and returns its exit status."""
        assert self.process is not None and self.running, f"{self.name} is not running"
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=PATIENCE)

    def close(self) -> None:
        """Stop for good (SIGTERM, then SIGKILL after a while); safe to call twice."""
        if self.process is None:
            return
        pgid = self.process.pid
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        _kill_group(pgid)
        self.process.wait(timeout=30)
        self.process = None

    def failure(self, what: str) -> str:
        return f"{self.name} {what}; its log:\n{self.log_tail()}"

    def log_tail(self, chars: int = 4000) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(errors="replace")[-chars:]

    def _this_start(self) -> str:
        text = self.log_path.read_text(errors="replace")
        return text.split(f"--- start {self._starts}:")[-1]

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            raise AssertionError(self.failure(f"exited with {code}"))


def _group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of group ``pgid``, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of group ``pgid`` (granian's child outlives its parent's
    death) until nothing is. A group id is not reused while any member (a zombie
    included) exists, so only processes this helper started are ever signalled."""
    deadline = time.monotonic() + 30
    while _group_members(pgid):
        assert time.monotonic() < deadline, f"process group {pgid} does not die"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.02)


class Processes:
    """Every process a test starts, stopped at its end whatever happened."""

    def __init__(self, cwd: Path) -> None:
        self._cwd = cwd
        self._all: list[PulseProcess] = []

    def add(self, command: str, env: dict[str, str], *, name: str) -> PulseProcess:
        process = PulseProcess(command, env, self._cwd, name=name)
        self._all.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.log_tail(2000)}" for p in self._all)

    def close(self) -> None:
        errors = []
        for process in reversed(self._all):
            try:
                process.close()
            except Exception as exc:  # stop the others anyway
                errors.append(exc)
        if errors:
            raise errors[0]


# -- the receiver -------------------------------------------------------------------------


class SlowReceiver(WebhookReceiver):
    """A :class:`WebhookReceiver` that holds each delivery ``delay`` seconds before
    recording and answering it, so that a worker holds jobs whenever deliveries are
    under way. A delivery whose sender hung up while it waited (the sender was killed)
    is dropped, not counted: that sender never saw a 2xx. ``in_flight`` is the number
    of deliveries being held right now."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.in_flight = 0
        self.dropped = 0
        self._counts = threading.Lock()
        super().__init__()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        with self._counts:
            self.in_flight += 1
        try:
            length = int(request.headers.get("Content-Length", "0"))
            body = request.rfile.read(length)
            time.sleep(self.delay)
            if _hung_up(request.connection):
                with self._counts:
                    self.dropped += 1
                return
            request.rfile = io.BytesIO(body)  # the base class reads the body again
            super()._handle(request)
        finally:
            with self._counts:
                self.in_flight -= 1

    def identities(self) -> set[str]:
        with self._lock:
            return {r.event["data"]["participant"]["identity"] for r in self.received}


def _hung_up(connection: socket.socket) -> bool:
    """Whether the peer closed or reset the connection (it sends nothing more on an
    HTTP/1.0 exchange while it waits for the answer)."""
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


# -- a project, an endpoint ---------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    id: str
    api_key: str
    api_secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Pulse-Key": self.api_key, "X-Pulse-Secret": self.api_secret}

    def livekit_room(self, room: str) -> str:
        return rooms.to_livekit(self.id, room)


def create_project(base_url: str, admin_token: str, name: str) -> Project:
    """An organization and a project, through the API with the admin token."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        org = client.post(
            "/v1/organizations",
            json={"name": name, "admin_email": f"ops@{name.lower()}.test"},
            headers=admin,
        )
        assert org.status_code == 201, org.text
        project = client.post(
            "/v1/projects", json={"org_id": org.json()["id"], "name": f"{name} app"}, headers=admin
        )
        assert project.status_code == 201, project.text
        body = project.json()
    return Project(id=body["id"], api_key=body["api_key"], api_secret=body["api_secret"])


def create_endpoint(base_url: str, project: Project, receiver: WebhookReceiver) -> str:
    """An endpoint of ``project`` posting to ``receiver``, whose secret becomes the
    receiver's (so every delivery is verified); the endpoint's id."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        created = client.post(
            "/v1/webhooks/endpoints", json={"url": receiver.url}, headers=project.headers
        )
    assert created.status_code == 201, created.text
    receiver.secret = created.json()["secret"]
    endpoint_id: str = created.json()["id"]
    return endpoint_id


# -- the burst ----------------------------------------------------------------------------


class Burst:
    """LiveKit's ``participant_joined`` webhooks for ``livekit_room``, one identity each,
    posted by ``threads`` threads to ``base_url`` (changeable between batches). Only a
    200 counts as accepted; anything else (a 5xx, a refused or reset connection) is
    recorded in ``refused`` and not retried."""

    def __init__(self, base_url: str, livekit_room: str, *, threads: int = 4) -> None:
        self.base_url = base_url
        self._room = livekit_room
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="burst")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._accepted: set[str] = set()
        self._refused: dict[str, str] = {}
        self._clients: list[httpx.Client] = []

    @property
    def accepted(self) -> set[str]:
        with self._lock:
            return set(self._accepted)

    @property
    def refused(self) -> dict[str, str]:
        with self._lock:
            return dict(self._refused)

    def refusals(self) -> Counter[str]:
        return Counter(self.refused.values())

    def post(self, identities: Iterable[str]) -> list[Future[None]]:
        """Post one event per identity, in the background."""
        return [self._pool.submit(self._post_one, identity) for identity in identities]

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            # A connection per request: none left over from a server that was killed.
            client = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _post_one(self, identity: str) -> None:
        event = lk.participant_event("participant_joined", self._room, identity)
        body, headers = lk.signed(event)
        try:
            response = self._client().post(
                f"{self.base_url}/v1/livekit/webhook", content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        else:
            outcome = str(response.status_code)
        with self._lock:
            if outcome == "200":
                self._accepted.add(identity)
            else:
                self._refused[identity] = outcome

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for client in self._clients:
            client.close()


def settled(futures: list[Future[None]], *, timeout: float = PATIENCE) -> None:
    """Wait for posts to be answered (or to fail); re-raise a bug of the poster."""
    deadline = time.monotonic() + timeout
    for future in futures:
        future.result(timeout=max(0.0, deadline - time.monotonic()))
