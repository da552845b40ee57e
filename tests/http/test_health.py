from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient


async def test_liveness(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_readiness_reports_the_database(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "storage": "ok", "media": "ok"},
    }


async def test_status(client: AsyncTestClient[Any]) -> None:
    body = (await client.get("/v1/status")).json()
    assert body["service"] == "pulse" and body["environment"] == "test" and body["version"]


async def test_openapi_document_is_served(client: AsyncTestClient[Any]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert "/v1/organizations" in document["paths"]
    assert "/v1/projects/{project_id}/regenerate-keys" in document["paths"]


async def test_inbound_request_id_is_kept_and_garbage_replaced(
    client: AsyncTestClient[Any],
) -> None:
    kept = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    replaced = await client.get("/health", headers={"X-Request-ID": "bad id\twith junk"})
    assert replaced.headers["x-request-id"] != "bad id\twith junk"
