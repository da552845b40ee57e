"""``HEAD`` is answered as ``GET`` without its body (pulse_http.head_requests)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from litestar.types import Message, Receive, Scope, Send

from pulse_http.head_requests import HeadAsGet, with_head
from tests.http.conftest import Tenant
from tests.http.test_scopes import new_key, pair

Client = AsyncTestClient[Any]

# Headers whose value is the request's own, not the answer's.
_PER_REQUEST = {"x-request-id", "date", "set-cookie"}


def _answer_headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in _PER_REQUEST}


async def test_head_answers_what_get_answers_without_the_body(
    client: Client, tenant_a: Tenant
) -> None:
    cases = [
        ("/health", {}),
        ("/v1/status", {}),
        ("/v1/project", tenant_a.project_headers),
        (f"/v1/organizations/{tenant_a.org_id}", tenant_a.owner_headers),
        ("/dashboard/sign-in", {}),
        ("/v1/nosuch", {}),
    ]
    for path, headers in cases:
        got = await client.get(path, headers=headers)
        head = await client.head(path, headers=headers)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        assert got.content, path
        assert head.headers["content-length"] == str(len(got.content)), path
        assert _answer_headers(head).keys() == _answer_headers(got).keys(), path
        assert head.headers["content-type"] == got.headers["content-type"], path


async def test_head_goes_through_the_same_credentials_and_scopes(
    client: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    assert (await client.head("/v1/project")).status_code == 401
    wrong = {**tenant_a.project_headers, "X-Pulse-Secret": tenant_b.api_secret}
    assert (await client.head("/v1/project", headers=wrong)).status_code == 401
    reader = pair(await new_key(client, tenant_a, ["rooms:read"]))
    assert (await client.head("/v1/rooms", headers=reader)).status_code == 200
    assert (await client.head("/v1/usage", headers=reader)).status_code == 403
    # Another organization's project is as unknown to HEAD as to GET.
    foreign = f"/v1/projects/{tenant_b.project_id}"
    got = await client.get(foreign, headers=tenant_a.owner_headers)
    head = await client.head(foreign, headers=tenant_a.owner_headers)
    assert head.status_code == got.status_code and got.status_code in {403, 404}


async def test_allow_names_head_wherever_it_names_get(client: Client) -> None:
    refused = await client.delete("/health")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD, OPTIONS"
    # A route that takes no GET takes no HEAD either.
    head = await client.head("/v1/tokens/create")
    assert head.status_code == 405 and head.content == b""
    assert "HEAD" not in head.headers["allow"] and "POST" in head.headers["allow"]
    # The dashboard's own 405 page too.
    page = await client.put("/dashboard/sign-in")
    assert page.status_code == 405
    assert [m.strip() for m in page.headers["allow"].split(",")].count("HEAD") == 1


def test_with_head_adds_head_once_after_get_and_keeps_other_headers() -> None:
    assert with_head({"allow": "GET, OPTIONS", "x": "y"}) == {
        "allow": "GET, HEAD, OPTIONS",
        "x": "y",
    }
    assert with_head({"Allow": "POST, OPTIONS"}) == {"Allow": "POST, OPTIONS"}
    assert with_head({"Allow": "GET, HEAD"}) == {"Allow": "GET, HEAD"}
    assert with_head({}) == {}


async def _nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def test_a_streamed_answer_ends_once_with_an_empty_body() -> None:
    seen_methods: list[str] = []

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        seen_methods.append(scope["method"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"a", b"b"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"c", "more_body": False})

    sent: list[Message] = []

    async def record(message: Message) -> None:
        sent.append(message)

    for method in ("HEAD", "GET"):
        scope: Any = {"type": "http", "method": method, "path": "/", "headers": []}
        sent.clear()
        await HeadAsGet(streaming)(scope, _nothing, record)
        assert scope["method"] == method  # as the client sent it, for what logs it after
        bodies = [m.get("body") for m in sent if m["type"] == "http.response.body"]
        assert bodies == ([b""] if method == "HEAD" else [b"a", b"b", b"c"])
    assert seen_methods == ["GET", "GET"]


async def test_the_method_is_head_again_even_when_the_app_fails() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def record(message: Message) -> None:
        raise AssertionError("nothing is sent")

    scope: Any = {"type": "http", "method": "HEAD", "path": "/", "headers": []}
    with pytest.raises(RuntimeError, match="boom"):
        await HeadAsGet(failing)(scope, _nothing, record)
    assert scope["method"] == "HEAD"
