"""POST /v1/tokens/create and /v1/tokens/validate, end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from livekit.api import TokenVerifier

from pulse_adapters.clock import ManualClock
from pulse_core import rooms
from pulse_core.models.token import VideoGrants
from pulse_core.services.tokens import REFUSED_GRANTS
from pulse_http.schemas.tokens import GrantsBody, GrantsOut
from pulse_http.settings import Settings
from tests.http.conftest import Tenant

# The grants a token may carry: every grant but the refused ones, in VideoGrants' order.
ROOM_GRANTS = [
    field for field in msgspec.structs.fields(VideoGrants) if field.name not in REFUSED_GRANTS
]


@pytest.fixture(autouse=True)
def _real_time(clock: ManualClock) -> None:
    """LiveKit's verifier checks nbf/exp against the real time: start the clock there."""
    clock.set(datetime.now(UTC))


def _verify(settings: Settings, token: str) -> Any:
    # The oracle: LiveKit's own verifier, with the deployment's LiveKit key and secret.
    return TokenVerifier(settings.livekit_api_key, settings.livekit_api_secret).verify(
        token, verify_signature=True
    )


async def _create(client: AsyncTestClient[Any], tenant: Tenant, **body: Any) -> Any:
    return await client.post("/v1/tokens/create", json=body, headers=tenant.project_headers)


async def test_create_mints_a_token_livekit_accepts(
    client: AsyncTestClient[Any], tenant_a: Tenant, settings: Settings, clock: ManualClock
) -> None:
    response = await _create(
        client,
        tenant_a,
        identity="user-42",
        room="demo",
        name="Ada",
        metadata='{"seat": 7}',
        attributes={"team": "blue"},
        ttl_seconds=600,
        grants={"can_publish": False, "hidden": True},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"token", "identity", "room", "expires_at", "livekit_url"}
    assert body["room"] == "demo" and body["identity"] == "user-42"
    assert body["livekit_url"] == settings.livekit_client_url
    claims = _verify(settings, body["token"])
    assert claims.identity == "user-42" and claims.name == "Ada"
    assert claims.metadata == '{"seat": 7}' and claims.attributes == {"team": "blue"}
    assert claims.video.room == rooms.to_livekit(tenant_a.project_id, "demo")
    assert claims.video.room_join and claims.video.hidden and not claims.video.can_publish
    assert claims.video.can_subscribe and claims.video.can_publish_data
    assert not claims.video.room_admin and not claims.video.room_record


async def test_two_projects_asking_for_demo_get_different_rooms(
    client: AsyncTestClient[Any], tenant_a: Tenant, tenant_b: Tenant, settings: Settings
) -> None:
    a = (await _create(client, tenant_a, identity="u", room="demo")).json()
    b = (await _create(client, tenant_b, identity="u", room="demo")).json()
    room_a = _verify(settings, a["token"]).video.room
    room_b = _verify(settings, b["token"]).video.room
    assert room_a != room_b
    assert rooms.from_livekit(room_a) == (tenant_a.project_id, "demo")
    assert rooms.from_livekit(room_b) == (tenant_b.project_id, "demo")


async def test_a_room_string_cannot_reach_another_projects_room(
    client: AsyncTestClient[Any], tenant_a: Tenant, tenant_b: Tenant, settings: Settings
) -> None:
    target = rooms.to_livekit(tenant_b.project_id, "demo")
    for room in (target, f"{tenant_b.project_id}_demo", "../" + target):
        response = await _create(client, tenant_a, identity="u", room=room)
        if response.status_code == 201:
            livekit_room = _verify(settings, response.json()["token"]).video.room
            assert rooms.from_livekit(livekit_room)[0] == tenant_a.project_id  # type: ignore[index]
        else:
            assert response.status_code == 400 and response.json()["field"] == "room"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"grants": {"fly": True}}, "grants.fly"),
        ({"grants": {"can_publish_sources": ["hologram"]}}, "grants.can_publish_sources[0]"),
        ({"ttl_seconds": 5}, "ttl_seconds"),
        ({"ttl_seconds": 86_401}, "ttl_seconds"),
        ({"ttl_seconds": "600"}, "ttl_seconds"),
        ({"identity": ""}, "identity"),
        ({"identity": "a\u0000b"}, "identity"),
        ({"identity": "x" * 300}, "identity"),
        ({"room": ""}, "room"),
        ({"room": "a/b"}, "room"),
        ({"metadata": "x" * 70_000}, "metadata"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_token_requests_are_400_naming_the_field(
    client: AsyncTestClient[Any], tenant_a: Tenant, body: dict[str, Any], field: str
) -> None:
    response = await _create(client, tenant_a, **{"identity": "u", "room": "demo", **body})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field


@pytest.mark.parametrize("grant", list(REFUSED_GRANTS))
async def test_each_refused_grant_is_a_400_naming_it(
    client: AsyncTestClient[Any], tenant_a: Tenant, grant: str
) -> None:
    response = await _create(client, tenant_a, identity="u", room="demo", grants={grant: True})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["field"] == f"grants.{grant}"
    assert problem["detail"] == f"grants.{grant} is not allowed: {REFUSED_GRANTS[grant]}"


def test_the_body_takes_every_grant_and_the_answer_shows_the_room_grants() -> None:
    # A grant added to VideoGrants is accepted by name (GrantsBody is a VideoGrants); the
    # answer shows what it declares, so a room grant must be added to GrantsOut too.
    assert msgspec.structs.fields(GrantsBody) == msgspec.structs.fields(VideoGrants)
    assert [field.name for field in msgspec.structs.fields(GrantsOut)] == [
        field.name for field in ROOM_GRANTS
    ]


async def test_every_room_grant_asked_for_is_in_the_token_and_read_back(
    client: AsyncTestClient[Any], tenant_a: Tenant, settings: Settings
) -> None:
    # Each one away from its default, so that none can pass by being left out.
    special: dict[str, Any] = {"can_publish_sources": ["screen_share"], "destination_room": "lobby"}
    asked = {field.name: special.get(field.name, not field.default) for field in ROOM_GRANTS}
    created = await _create(client, tenant_a, identity="u", room="demo", grants=asked)
    assert created.status_code == 201, created.text
    video = _verify(settings, created.json()["token"]).video
    for name, value in asked.items():
        if name not in special:
            assert getattr(video, name) is value, name
    assert video.can_publish_sources == ["screen_share"]
    assert video.destination_room == rooms.to_livekit(tenant_a.project_id, "lobby")
    validated = await client.post(
        "/v1/tokens/validate",
        json={"token": created.json()["token"]},
        headers=tenant_a.project_headers,
    )
    assert validated.json()["grants"] == asked


async def test_create_needs_the_secret(client: AsyncTestClient[Any], tenant_a: Tenant) -> None:
    for headers in (
        {"X-Pulse-Key": tenant_a.api_key},
        {"Authorization": f"Bearer {tenant_a.api_key}"},
    ):
        response = await client.post(
            "/v1/tokens/create", json={"identity": "u", "room": "demo"}, headers=headers
        )
        assert response.status_code == 401


async def test_validate_with_the_key_alone(
    client: AsyncTestClient[Any], tenant_a: Tenant, clock: ManualClock
) -> None:
    token = (await _create(client, tenant_a, identity="u", room="demo", ttl_seconds=120)).json()
    by_key = {"Authorization": f"Bearer {tenant_a.api_key}"}
    response = await client.post(
        "/v1/tokens/validate", json={"token": token["token"]}, headers=by_key
    )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True and body["identity"] == "u" and body["room"] == "demo"
    assert body["grants"]["can_subscribe"] is True and "room_list" not in body["grants"]
    assert body["expires_at"] == token["expires_at"]


async def test_validate_reasons(
    client: AsyncTestClient[Any], tenant_a: Tenant, tenant_b: Tenant, clock: ManualClock
) -> None:
    token = (await _create(client, tenant_a, identity="u", room="demo", ttl_seconds=120)).json()[
        "token"
    ]

    async def verdict(tenant: Tenant, candidate: str) -> dict[str, Any]:
        response = await client.post(
            "/v1/tokens/validate",
            json={"token": candidate},
            headers={"X-Pulse-Key": tenant.api_key},
        )
        assert response.status_code == 200
        result: dict[str, Any] = response.json()
        return result

    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-3]}{'AAA' if signature[-3:] != 'AAA' else 'BBB'}"
    assert await verdict(tenant_a, tampered) == {"valid": False, "reason": "bad_signature"}
    assert await verdict(tenant_a, "not.a.token") == {"valid": False, "reason": "malformed"}
    assert await verdict(tenant_b, token) == {"valid": False, "reason": "foreign_project"}
    clock.advance(121)
    assert await verdict(tenant_a, token) == {"valid": False, "reason": "expired"}


async def test_tokens_have_their_own_bucket(client: AsyncTestClient[Any], tenant_a: Tenant) -> None:
    minted = await _create(client, tenant_a, identity="u", room="demo")
    assert minted.headers["ratelimit-policy"].startswith('"tokens";')
    api = await client.get("/v1/project", headers=tenant_a.project_headers)
    assert api.headers["ratelimit-policy"].startswith('"api";')
    # Both started full: one request taken from each.
    assert minted.headers["x-ratelimit-remaining"] == api.headers["x-ratelimit-remaining"]
