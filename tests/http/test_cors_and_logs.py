from __future__ import annotations

import json

import msgspec
import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http.app import create_app
from pulse_http.container import build_container
from pulse_http.settings import Settings


async def test_cors_allows_only_configured_origins(settings: Settings) -> None:
    container = build_container(
        msgspec.structs.replace(settings, cors_origins=("https://dashboard.acme.test",))
    )
    async with AsyncTestClient(app=create_app(container)) as client:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-pulse-key",
        }
        allowed = await client.options(
            "/v1/tokens/create", headers={"Origin": "https://dashboard.acme.test", **preflight}
        )
        assert allowed.headers["access-control-allow-origin"] == "https://dashboard.acme.test"
        other = await client.options(
            "/v1/tokens/create", headers={"Origin": "https://evil.test", **preflight}
        )
        assert other.headers.get("access-control-allow-origin") != "https://evil.test"


async def test_production_logs_are_json_with_a_request_id(
    settings: Settings, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    container = build_container(
        msgspec.structs.replace(settings, log_format="json", log_level="info")
    )
    container.adapters.clock.override(providers.Object(clock))
    async with AsyncTestClient(app=create_app(container)) as client:
        response = await client.get("/health", headers={"X-Request-ID": "trace-123"})
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line.get("event") == "request"]
    assert access and access[-1]["request_id"] == "trace-123" == response.headers["x-request-id"]
    assert access[-1]["status"] == 200 and access[-1]["path"] == "/health"
