"""Management JWTs: every way to get one wrong is the same 401."""

from __future__ import annotations

from typing import Any

import jwt as pyjwt
import pytest
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from tests.http.conftest import JWT_SECRET


def _token(claims: dict[str, Any], *, key: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    return pyjwt.encode(claims, key, algorithm=algorithm)


def _unsigned(claims: dict[str, Any]) -> str:
    return pyjwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


@pytest.fixture
def now(clock: ManualClock) -> int:
    return int(clock.time())


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda now: None, id="missing"),
        pytest.param(lambda now: "not-a-jwt", id="garbage"),
        pytest.param(lambda now: "a.b.c", id="bad-base64"),
        pytest.param(
            lambda now: _token({"sub": "x", "role": "admin", "exp": now - 60}), id="expired"
        ),
        pytest.param(lambda now: _token({"sub": "x", "role": "admin"}), id="no-exp"),
        pytest.param(
            lambda now: _token({"sub": "x", "role": "admin", "exp": now + 60}, key="wrong-secret"),
            id="forged",
        ),
        pytest.param(
            lambda now: _unsigned({"sub": "x", "role": "admin", "exp": now + 60}), id="alg-none"
        ),
        pytest.param(
            lambda now: _token({"sub": "x", "role": "admin", "exp": now + 60}, algorithm="HS512"),
            id="alg-hs512",
        ),
        pytest.param(lambda now: _token({"sub": "x", "role": "root", "exp": now + 60}), id="role"),
        pytest.param(lambda now: _token({"role": "admin", "exp": now + 60}), id="no-sub"),
        pytest.param(
            lambda now: _token({"sub": "x", "role": "owner", "exp": now + 60}), id="owner-no-org"
        ),
        pytest.param(
            lambda now: _token({"sub": "x", "role": "admin", "exp": now + 60, "nbf": now + 600}),
            id="not-yet-valid",
        ),
        pytest.param(lambda now: _token({"sub": "x", "role": "admin", "exp": None}), id="exp-null"),
        pytest.param(
            lambda now: _token({"sub": "x", "role": ["admin"], "exp": now + 60}), id="role-list"
        ),
        pytest.param(
            lambda now: _token({"sub": "x", "role": {"a": 1}, "exp": now + 60}), id="role-object"
        ),
        pytest.param(
            lambda now: _token({"sub": "x", "role": "admin", "exp": now + 400 * 86400}),
            id="lives-a-year",
        ),
    ],
)
async def test_bad_management_tokens_are_401(
    client: AsyncTestClient[Any], now: int, make: Any
) -> None:
    token = make(now)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = await client.get("/v1/organizations", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] == "unauthenticated" and body["detail"] == "invalid or missing credentials"


async def test_a_good_token_from_another_library_is_accepted(
    client: AsyncTestClient[Any], now: int
) -> None:
    token = _token({"sub": "ops", "role": "admin", "exp": now + 60, "iat": now})
    response = await client.get("/v1/organizations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_a_token_that_never_expires_cannot_delete_an_organization(
    client: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/organizations",
        json={"name": "Target", "admin_email": "ops@target.test"},
        headers=admin_headers,
    )
    org_id = created.json()["id"]
    forever = _token({"sub": "x", "role": "admin", "exp": None})
    response = await client.delete(
        f"/v1/organizations/{org_id}", headers={"Authorization": f"Bearer {forever}"}
    )
    assert response.status_code == 401
    still = await client.get(f"/v1/organizations/{org_id}", headers=admin_headers)
    assert still.status_code == 200
