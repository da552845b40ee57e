"""Metrics of real processes (docs/deployment.md, "Observability"): ``pulse serve`` with
two worker processes (``WORKERS=2`` needs Redis) counts in prometheus-client's
multiprocess mode, so that a scrape sees every worker's requests, on ``METRICS_PORT``
(answered by the main process) or on the API port's ``/metrics`` (any worker answers
for all); ``pulse worker`` answers ``METRICS_PORT`` with its own series."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.ports import free_port, wait_for_port
from tests.support.pulse_processes import (
    PULSE,
    START_PATIENCE,
    Processes,
    PulseProcess,
    pulse_environment,
    wait_until,
)

REQUESTS = 40


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()


def _environment(tmp_path: Path, redis_url: str, **more: str) -> dict[str, str]:
    chosen = [int(value) for name, value in more.items() if name.endswith("PORT")]
    return pulse_environment(
        PORT=str(free_port(besides=chosen)),
        DATA_DIR=str(tmp_path / "data"),
        ENVIRONMENT="development",
        LOG_LEVEL="warning",
        REDIS_URL=redis_url,
        **more,
    )


def _health_requests(url: str) -> float:
    """``GET /health`` answered 200, summed over every process, from a scrape of ``url``."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "pulse_http_request_duration_seconds_count"
        and sample.labels == {"route": "/health", "method": "GET", "status": "200"}
    )


def _spread_requests(base_url: str) -> None:
    """``REQUESTS`` requests, each on a new connection: the kernel spreads connections
    over the workers' sockets (SO_REUSEPORT)."""
    for _ in range(REQUESTS):
        assert httpx.get(f"{base_url}/health", timeout=10).status_code == 200


def test_two_workers_are_scraped_together_on_metrics_port(
    tmp_path: Path, processes: Processes, redis_url: str
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left by an earlier run")
    metrics_port = free_port()
    env = _environment(
        tmp_path,
        redis_url,
        WORKERS="2",
        METRICS_PORT=str(metrics_port),
        PROMETHEUS_MULTIPROC_DIR=str(directory),
    )
    pulse: PulseProcess = processes.add("serve", env, name="pulse").start()
    base_url = pulse.wait_serving()
    assert wait_for_port(metrics_port, timeout=START_PATIENCE), pulse.failure("has no METRICS_PORT")
    scrape = f"http://127.0.0.1:{metrics_port}/metrics"

    before = _health_requests(scrape)
    _spread_requests(base_url)
    assert _health_requests(scrape) - before == REQUESTS
    # Both workers counted (one file of values per process), the earlier run's are gone.
    files = {p.name for p in directory.glob("histogram_*.db")}
    assert len(files) >= 2, files
    assert not (directory / "counter_999999.db").exists()
    # The API port has no /metrics then.
    assert httpx.get(f"{base_url}/metrics", timeout=10).status_code == 404


def test_two_workers_answer_for_each_other_on_the_api_port(
    tmp_path: Path, processes: Processes, redis_url: str
) -> None:
    env = _environment(tmp_path, redis_url, WORKERS="2")
    pulse: PulseProcess = processes.add("serve", env, name="pulse").start()
    base_url = pulse.wait_serving()
    scrape = f"{base_url}/metrics"

    before = _health_requests(scrape)
    _spread_requests(base_url)
    # Whichever worker answers the scrape, it counts every worker's requests.
    for _ in range(5):
        assert _health_requests(scrape) - before == REQUESTS


def test_a_worker_process_answers_metrics_port_with_its_own_series(
    tmp_path: Path, processes: Processes, redis_url: str
) -> None:
    metrics_port = free_port()
    env = _environment(tmp_path, redis_url, METRICS_PORT=str(metrics_port))
    worker = processes.add("worker", env, name="worker").start()
    assert wait_for_port(metrics_port, timeout=START_PATIENCE), worker.failure(
        "has no METRICS_PORT"
    )
    found: dict[str, float] = {}

    def sampled() -> bool:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "pulse_queue_depth" or (
                    sample.name == "pulse_backend_call_duration_seconds_count"
                    and sample.labels.get("system") == "redis"
                ):
                    found[sample.name] = found.get(sample.name, 0) + sample.value
        return (
            "pulse_queue_depth" in found
            and found.get("pulse_backend_call_duration_seconds_count", 0) > 0
        )

    # The queue is sampled every few seconds; Redis is called from the start.
    wait_until(sampled, timeout=START_PATIENCE, what="the worker's queue sample", every=0.5)
    assert found["pulse_queue_depth"] == 0


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_metrics_port_in_use_stops_pulse_naming_it(tmp_path: Path, command: str) -> None:
    """A configuration problem: exit 2, for the worker as for the server."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = pulse_environment(
            PORT=str(free_port()), DATA_DIR=str(tmp_path / "data"), METRICS_PORT=str(port)
        )
        result = subprocess.run(
            [PULSE, command],
            check=False,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"METRICS_PORT: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "PULSE_ADMIN_TOKEN" not in result.stdout  # refused before the banner
