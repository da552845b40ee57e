from __future__ import annotations

import msgspec
import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http.app import create_app
from pulse_http.container import build_container
from pulse_http.settings import Settings
from tests.http.conftest import make_tenant


async def test_restart_keeps_organizations_projects_and_keys(
    settings: Settings, clock: ManualClock
) -> None:
    first = build_container(settings)
    first.adapters.clock.override(providers.Object(clock))
    admin = {"Authorization": "Bearer " + first.services.management_auth().mint("a")}
    async with AsyncTestClient(app=create_app(first)) as client:
        tenant = await make_tenant(client, first, admin, "Durable")

    second = build_container(settings)
    second.adapters.clock.override(providers.Object(clock))
    async with AsyncTestClient(app=create_app(second)) as client:
        org = await client.get(f"/v1/organizations/{tenant.org_id}", headers=admin)
        assert org.status_code == 200 and org.json()["name"] == "Durable"
        me = await client.get("/v1/project", headers=tenant.project_headers)
        assert me.status_code == 200 and me.json()["id"] == tenant.project_id


async def test_secrets_never_reach_the_log(
    settings: Settings, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    container = build_container(msgspec.structs.replace(settings, log_level="debug"))
    container.adapters.clock.override(providers.Object(clock))
    token = container.services.management_auth().mint("a")
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await make_tenant(client, container, {"Authorization": f"Bearer {token}"}, "Logs")
        await client.get("/v1/project", headers=tenant.project_headers)
        bad = {
            "X-Pulse-Key": tenant.api_key,
            "X-Pulse-Secret": tenant.api_secret[:-1]
            + ("B" if tenant.api_secret.endswith("A") else "A"),
        }
        await client.get("/v1/project", headers=bad)
    output = capsys.readouterr().out
    assert "request" in output and "/v1/project" in output  # the access log is on
    for secret in (tenant.api_secret, token, settings.jwt_secret, settings.api_key_pepper):
        assert secret not in output
