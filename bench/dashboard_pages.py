"""The dashboard's organization overview with 1,000 projects, against the JSON calls a
single-page dashboard would make instead.

Issue 16 asks that "a page stays fast with 1,000 projects". The overview shows one page
of projects (50) and the plan with each limit's use; a client-side dashboard would call
``GET /v1/projects?org_id=…&limit=50`` and ``GET /v1/organizations/{id}/plan`` for the
same. Both run through the whole ASGI app (Litestar's test client, no socket) on the
embedded default (SQLite in a temporary ``DATA_DIR``), interleaved, one request at a time,
wall-clock median and p99; the verdict is the ratio of medians (page / the two calls).

    .venv/bin/python bench/dashboard_pages.py
    .venv/bin/python bench/dashboard_pages.py --projects 1000 --samples 300
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from typing import Any

from litestar.testing import AsyncTestClient

from pulse_http.app import create_app
from pulse_http.container import build_container
from pulse_http.dashboard.session import COOKIE
from pulse_http.settings import Settings


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def main(projects: int, samples: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            environment="test",
            data_dir=data,
            jwt_secret="bench-jwt-secret-0123456789abcdef0123",
            log_level="warning",
            rate_limit_requests=1_000_000,
        )
        container = build_container(settings)
        auth = container.services.management_auth()
        admin = {"Authorization": "Bearer " + auth.mint("bench", role="admin")}
        async with AsyncTestClient(app=create_app(container)) as client:
            org = (
                await client.post(
                    "/v1/organizations",
                    json={"name": "Big", "admin_email": "a@big.test", "plan": "enterprise"},
                    headers=admin,
                )
            ).json()
            for n in range(projects):
                created = await client.post(
                    "/v1/projects", json={"org_id": org["id"], "name": f"p{n}"}, headers=admin
                )
                assert created.status_code == 201, created.text
            owner = auth.mint("owner", role="owner", org_id=org["id"])
            bearer = {"Authorization": f"Bearer {owner}"}
            client.cookies.set(COOKIE, owner, path="/dashboard")
            page_url = f"/dashboard/organizations/{org['id']}"

            async def page() -> None:
                response = await client.get(page_url)
                assert (
                    response.status_code == 200
                    and response.text.count("/dashboard/projects/") == 50
                )

            async def api() -> None:
                listed = await client.get(
                    "/v1/projects", params={"org_id": org["id"], "limit": 50}, headers=bearer
                )
                plan = await client.get(f"/v1/organizations/{org['id']}/plan", headers=bearer)
                assert listed.status_code == plan.status_code == 200

            timings: dict[str, list[float]] = {"dashboard page": [], "JSON API (2 calls)": []}
            for _ in range(10):  # warm-up
                await page()
                await api()
            for _ in range(samples):
                for name, call in (("dashboard page", page), ("JSON API (2 calls)", api)):
                    started = time.perf_counter()
                    await call()
                    timings[name].append(time.perf_counter() - started)
    print(f"{projects} projects, {samples} samples each (ms):")
    for name, values in timings.items():
        median, p99 = statistics.median(values) * 1e3, _p99(values) * 1e3
        print(f"  {name:20} median {median:7.2f}  p99 {p99:7.2f}")
    ratio = statistics.median(timings["dashboard page"]) / statistics.median(
        timings["JSON API (2 calls)"]
    )
    print(f"  ratio page / API: {ratio:.2f}")


def _arguments() -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    return parser.parse_args()


if __name__ == "__main__":
    logging.getLogger("httpx").setLevel(logging.WARNING)
    arguments = _arguments()
    asyncio.run(main(arguments.projects, arguments.samples))
