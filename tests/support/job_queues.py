"""Helpers for the JobQueue tests: polling without timing assumptions, and a Redis server
with persistence for restart tests.

Not a plugin: plain functions and a class, imported by the tests that use them.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from pulse_core.ports.queue import JobQueue, ReservedJob
from tests.support.redis_server import RedisServer

# How long a test waits for something that should happen "soon" (a reservation that
# expires in real time on Redis, a wake-up). Generous on purpose: a loaded 2-core
# machine must never fail a test by being slow; only a bug waits this long.
PATIENCE_SECONDS = 30.0


async def reserve_soon(
    queue: JobQueue,
    name: str,
    consumer: str,
    *,
    max_jobs: int = 1,
    patience: float = PATIENCE_SECONDS,
) -> list[ReservedJob]:
    """Reserve until something is handed out or ``patience`` runs out ([] then)."""
    give_up = time.monotonic() + patience
    while True:
        jobs = await queue.reserve(name, consumer, max_jobs=max_jobs, wait_seconds=0.1)
        if jobs or time.monotonic() > give_up:
            return jobs


async def drain(
    queue: JobQueue,
    name: str,
    consumer: str,
    *,
    until: set[str],
    patience: float = PATIENCE_SECONDS,
) -> list[ReservedJob]:
    """Reserve and ack until every id of ``until`` was handed out (or patience runs out);
    every job handed out on the way, in order."""
    seen: list[ReservedJob] = []
    give_up = time.monotonic() + patience
    while not until <= {job.id for job in seen} and time.monotonic() < give_up:
        jobs = await queue.reserve(name, consumer, max_jobs=50, wait_seconds=0.1)
        for job in jobs:
            await queue.ack(name, job.id)
        seen.extend(jobs)
    return seen


class PersistentRedisServer(RedisServer):
    """A :class:`RedisServer` that keeps its data across ``stop()`` (SIGKILL) and
    ``start()``: append-only file, fsynced before every reply (``appendfsync always``),
    so whatever a client saw acknowledged survives the crash."""

    def start(self, *, timeout: float = 10.0) -> PersistentRedisServer:
        if self.running:
            return self
        directory = Path(self._dir.name)
        self._process = subprocess.Popen(
            [
                self._binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--dir", str(directory),
                "--logfile", str(directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self._process.returncode}: {self._log()}"
                )
            if self._answers_ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}: {self._log()}")
