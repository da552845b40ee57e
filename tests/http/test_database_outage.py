"""MongoDB going away mid-run: 503 problem+json within the timeout, then recovery."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http.app import create_app
from pulse_http.container import build_container
from pulse_http.settings import Settings
from tests.http.conftest import JWT_SECRET, make_tenant
from tests.support.mongo_wire_server import MongoWireServer


@pytest.fixture
def wire_server() -> Iterator[MongoWireServer]:
    server = MongoWireServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_mongo_outage_is_503_within_the_timeout_and_recovers(
    wire_server: MongoWireServer, tmp_path: Path, clock: ManualClock
) -> None:
    settings = Settings(
        environment="test",
        data_dir=str(tmp_path),
        jwt_secret=JWT_SECRET,
        log_level="error",
        mongo_uri=wire_server.uri,
        mongo_db_name="outage",
        database_timeout_seconds=1.0,
    )
    container = build_container(settings)
    container.adapters.clock.override(providers.Object(clock))
    admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await make_tenant(client, container, admin, "Durable")

        wire_server.stop()
        for method, path, body in [
            ("GET", "/v1/organizations", None),
            ("GET", f"/v1/projects/{tenant.project_id}", None),
            ("POST", "/v1/organizations", {"name": "New", "admin_email": "new@x.test"}),
        ]:
            started = time.monotonic()
            response = await client.request(method, path, json=body, headers=admin)
            assert time.monotonic() - started < 5  # bounded by the 1 s timeout, no hang
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "unavailable"
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "degraded",
            "checks": {"database": "down", "storage": "ok", "media": "ok"},
        }

        wire_server.start()
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "storage": "ok", "media": "ok"}
        org = await client.get(f"/v1/organizations/{tenant.org_id}", headers=admin)
        assert org.status_code == 200 and org.json()["name"] == "Durable"
        listed = await client.get("/v1/organizations", headers=admin)
        assert [o["id"] for o in listed.json()["items"]] == [tenant.org_id]  # nothing lost
        assert (await client.get("/v1/project", headers=tenant.project_headers)).status_code == 200
