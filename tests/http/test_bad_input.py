"""Bad input is a 4xx problem+json naming the field, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.http.conftest import Tenant

ORG_OK = {"name": "Acme", "admin_email": "ops@acme.test"}


def _assert_problem(response: Any, status: int, field: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["code"]
    assert body["type"].startswith("urn:pulse:problem:")
    if field is not None:
        assert body["field"] == field, body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ORG_OK, "bogus": 1}, "bogus"),
        ({**ORG_OK, "name": 5}, "name"),
        ({**ORG_OK, "name": None}, "name"),
        ({"name": "Acme"}, "admin_email"),
        ({**ORG_OK, "admin_email": "not-an-email"}, "admin_email"),
        ({**ORG_OK, "admin_email": "a@b"}, "admin_email"),
        ({**ORG_OK, "name": ""}, "name"),
        ({**ORG_OK, "name": "   "}, "name"),
        ({**ORG_OK, "name": "x" * 201}, "name"),
        ({**ORG_OK, "name": "a\u0000b"}, "name"),
        ({**ORG_OK, "name": "a\u001bb"}, "name"),
        ({**ORG_OK, "name": "Acme\u202eaediV"}, "name"),  # right-to-left override
        ({**ORG_OK, "name": "Ac\u200bme"}, "name"),  # zero-width space
        ({**ORG_OK, "plan": "platinum"}, "plan"),
        ({**ORG_OK, "admin_email": "x" * 300 + "@acme.test"}, "admin_email"),
    ],
)
async def test_bad_organization_bodies(
    client: AsyncTestClient[Any], admin_headers: dict[str, str], body: Any, field: str
) -> None:
    response = await client.post("/v1/organizations", json=body, headers=admin_headers)
    _assert_problem(response, 400, field)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "Acme", ',
        b"[]",
        b'"just a string"',
        b'{"name": "\xff\xfe", "admin_email": "a@b.test"}',
        b'{"name": "\\ud800", "admin_email": "a@b.test"}',
        b"",
    ],
    ids=["truncated", "array", "string", "invalid-utf8", "lone-surrogate", "empty"],
)
async def test_malformed_bodies(
    client: AsyncTestClient[Any], admin_headers: dict[str, str], raw: bytes
) -> None:
    response = await client.post(
        "/v1/organizations",
        content=raw,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    _assert_problem(response, 400, None)


@pytest.mark.parametrize("escape", ["\\ud800", "\\uDC01", "\\ud83d\\u0041"])
async def test_a_lone_surrogate_is_called_what_it_is(
    client: AsyncTestClient[Any], admin_headers: dict[str, str], escape: str
) -> None:
    raw = b'{"name": "a' + escape.encode() + b'", "admin_email": "a@b.test"}'
    response = await client.post(
        "/v1/organizations",
        content=raw,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    _assert_problem(response, 400, "body")
    assert "lone surrogate" in response.json()["detail"]
    assert "truncated" not in response.json()["detail"]


async def test_huge_body_is_413(
    client: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    raw = b'{"name": "' + b"x" * 2_000_000 + b'", "admin_email": "a@b.test"}'
    response = await client.post(
        "/v1/organizations",
        content=raw,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    _assert_problem(response, 413, "body")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"webhook_url": "ftp://hooks.example.com"}, "webhook_url"),
        ({"webhook_url": "not a url"}, "webhook_url"),
        ({"rate_limit": {"requests": 0}}, "rate_limit.requests"),
        ({"rate_limit": {"requests": 10, "burst": -1}}, "rate_limit.burst"),
        ({"rate_limit": {"requests": 10, "period": "hour"}}, "rate_limit.period"),
        ({"rate_limit": {"requests": 10, "bogus": 1}}, "rate_limit.bogus"),
        ({"token_ttl_max_seconds": 10}, "token_ttl_max_seconds"),
        (
            {"token_ttl_max_seconds": 600, "token_ttl_default_seconds": 900},
            "token_ttl_default_seconds",
        ),
        ({"token_ttl_default_seconds": "60"}, "token_ttl_default_seconds"),
        ({"api_key": "pulse_key_mine"}, "api_key"),
    ],
)
async def test_bad_project_bodies(
    client: AsyncTestClient[Any], tenant_a: Tenant, patch: dict[str, Any], field: str
) -> None:
    body = {"org_id": tenant_a.org_id, "name": "App", **patch}
    created = await client.post("/v1/projects", json=body, headers=tenant_a.owner_headers)
    _assert_problem(created, 400, field)
    updated = await client.put(
        f"/v1/projects/{tenant_a.project_id}", json=patch, headers=tenant_a.owner_headers
    )
    _assert_problem(updated, 400, field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
async def test_bad_list_parameters(
    client: AsyncTestClient[Any], admin_headers: dict[str, str], params: dict[str, Any], field: str
) -> None:
    response = await client.get("/v1/organizations", params=params, headers=admin_headers)
    _assert_problem(response, 400, field)


async def test_malformed_ids_are_404_not_500(
    client: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    for path in ("/v1/organizations/nope", "/v1/projects/%00", "/v1/projects/prj_' OR 1=1"):
        response = await client.get(path, headers=admin_headers)
        _assert_problem(response, 404, None)
