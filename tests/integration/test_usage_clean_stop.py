"""Neither a clean stop nor a crash loses a count (API.md, "Usage and quotas";
``UsageCounter``): tokens created and API requests are counted into the usage journal
(pages mapped from files under ``DATA_DIR``) and flushed every ``USAGE_FLUSH_SECONDS``,
once more when `pulse serve` stops, and, after a ``kill -9``, by the next start. So every
token minted before a SIGTERM, a Ctrl-C or a SIGKILL is in the usage the next start
reads, exactly once.

Real processes: `pulse serve` on the embedded default (SQLite under ``DATA_DIR``) as a
user runs it (granian's main process and its worker in a process group of their own),
tokens minted over HTTP with the project's key and secret, stopped by a signal, started
again on the same data directory.

Nothing here depends on timing. ``USAGE_FLUSH_SECONDS=10`` (its most) makes it likely
that no periodic flush runs between the first token and the stop, so the counts are
still in memory then, but the assertions hold either way: a periodic flush that ran
wrote some counts and the stop writes the rest; the total is the same.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ports import free_port
from tests.support.pulse_processes import (
    PATIENCE,
    Processes,
    Project,
    PulseProcess,
    _group_members,
    create_project,
    pulse_environment,
    wait_until,
)

pytestmark = pytest.mark.slow

TOKENS = 37


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()


def stop(process: PulseProcess, how: str) -> None:
    """Stop ``process`` cleanly and wait until every process of its group is gone."""
    pgid = process.pid
    if how == "SIGTERM to the server":  # `kill <pid>`, `docker stop` (PID 1 only)
        os.kill(pgid, signal.SIGTERM)
    elif how == "SIGTERM to its group":  # systemd's default KillMode=control-group
        os.killpg(pgid, signal.SIGTERM)
    else:  # Ctrl-C in the terminal it runs in
        os.killpg(pgid, signal.SIGINT)
    assert process.process is not None
    code = process.process.wait(timeout=PATIENCE)
    wait_until(
        lambda: not _group_members(pgid),
        timeout=PATIENCE,
        what="granian's worker to exit after its main process",
        details=process.log_tail,
    )
    assert code == 0, process.failure(f"exited with {code} on {how}")
    assert "stop_failed" not in process.log_tail(), process.failure("failed to stop a part")


def usage(base_url: str, path: str, headers: dict[str, str], metric: str) -> list[dict[str, Any]]:
    """The items of ``metric`` from two days before to two days after now (a test run
    that crosses midnight or a month's end still sees every count)."""
    now = datetime.now(UTC)
    params = {
        "metric": metric,
        "from": (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    answer = httpx.get(f"{base_url}{path}", params=params, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    assert {i["metric"] for i in items} <= {metric}
    return items


def serve_and_mint(tmp_path: Path, processes: Processes) -> tuple[PulseProcess, Project]:
    """`pulse serve` on the embedded default, a project, and TOKENS tokens minted with
    its key and secret."""
    env = pulse_environment(
        ENVIRONMENT="development",
        PORT=str(free_port()),
        DATA_DIR=str(tmp_path / "data"),
        USAGE_FLUSH_SECONDS="10",
        LOG_LEVEL="warning",
        LOG_FORMAT="json",
    )
    serve = processes.add("serve", env, name="serve").start()
    base_url = serve.wait_serving()
    assert serve.admin_token is not None
    project = create_project(base_url, serve.admin_token, "Metered")
    with httpx.Client(base_url=base_url, headers=project.headers, timeout=30) as client:
        for i in range(TOKENS):
            minted = client.post("/v1/tokens/create", json={"identity": f"u{i}", "room": "demo"})
            assert minted.status_code == 201, minted.text
    return serve, project


@pytest.mark.parametrize(
    "how", ["SIGTERM to the server", "SIGTERM to its group", "SIGINT to its group"]
)
def test_a_clean_stop_loses_no_counted_token(
    tmp_path: Path, processes: Processes, how: str
) -> None:
    serve, project = serve_and_mint(tmp_path, processes)
    stop(serve, how)

    serve.start()
    base_url = serve.wait_serving()
    tokens = usage(base_url, "/v1/usage", project.headers, "tokens_created")
    assert sum(i["quantity"] for i in tokens) == TOKENS, tokens
    # Every one of those requests was admitted with the project's credentials, and
    # nothing else was (the project was made with the admin token): exactly as many API
    # requests. Read through the management route, which counts none of its own.
    admin = {"Authorization": f"Bearer {serve.admin_token}"}
    requests = usage(base_url, f"/v1/projects/{project.id}/usage", admin, "api_requests")
    assert sum(i["quantity"] for i in requests) == TOKENS, requests


def test_a_crash_loses_no_counted_token_nor_counts_one_twice(
    tmp_path: Path, processes: Processes
) -> None:
    serve, project = serve_and_mint(tmp_path, processes)
    serve.crash()  # kill -9 of the group: no stop hook runs, no last flush

    serve.start()
    base_url = serve.wait_serving()
    # Read through the management route, which counts none of its own requests.
    admin = {"Authorization": f"Bearer {serve.admin_token}"}
    path = f"/v1/projects/{project.id}/usage"
    tokens = usage(base_url, path, admin, "tokens_created")
    assert sum(i["quantity"] for i in tokens) == TOKENS, tokens
    requests = usage(base_url, path, admin, "api_requests")
    assert sum(i["quantity"] for i in requests) == TOKENS, requests
    # The start stored the crashed process's pages and removed its journal.
    journals = [p for p in (tmp_path / "data" / "usage-journal").iterdir()]
    assert len(journals) <= 1, journals
