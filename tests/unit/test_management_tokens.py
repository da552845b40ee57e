"""Management JWTs: every claim typed, the lifetime bounded, and nothing else a 500."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_adapters.clock import ManualClock
from pulse_core.errors import Unauthenticated
from pulse_core.services import ManagementAuthenticator

SECRET = "management-secret-0123456789abcdef0123456789"
ORG = "org_01J0000000000000000000000A"
NOW = 1_900_000_000.0
HOUR = 3600


def _auth(max_ttl: int = 24 * HOUR) -> ManagementAuthenticator:
    clock = ManualClock(datetime.fromtimestamp(NOW, tz=UTC))
    return ManagementAuthenticator(SECRET, clock, max_ttl_seconds=max_ttl)


def _token(claims: dict[str, Any]) -> str:
    return pyjwt.encode(claims, SECRET, algorithm="HS256")


def _base(**overrides: Any) -> dict[str, Any]:
    return {"sub": "ops", "role": "admin", "iat": NOW, "exp": NOW + HOUR, **overrides}


@pytest.mark.parametrize(
    "claims",
    [
        _base(exp=None),
        {"sub": "ops", "role": "admin"},  # no exp at all
        _base(exp="1900003600"),
        _base(exp=True),
        _base(sub=None),
        _base(sub=""),
        _base(sub=7),
        _base(sub="x" * 256),
        _base(role=["admin"]),
        _base(role={"admin": True}),
        _base(role="root"),
        _base(role="owner"),  # no org_id
        _base(role="owner", org_id=["org"]),
        _base(role="member", org_id="not-an-org-id"),
        _base(exp=NOW + 24 * HOUR + 60, iat=None),  # lives longer than the bound
        _base(iat=NOW - 30 * HOUR, exp=NOW + HOUR),  # exp - iat over the bound
        _base(iat=NOW + 60),  # issued in the future
        _base(nbf=NOW + 60),
        _base(nbf="soon"),
        _base(iat="today"),
        _base(exp=NOW - 60),  # expired
    ],
)
def test_malformed_or_unbounded_claims_are_401(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated):
        _auth().authenticate(_token(claims))


def test_a_token_within_every_bound_is_accepted_with_a_little_skew() -> None:
    principal = _auth().authenticate(_token(_base(iat=NOW + 3, nbf=NOW + 3)))
    assert principal.role == "admin" and principal.subject == "ops"
    owner = _auth().authenticate(_token(_base(role="owner", org_id=ORG)))
    assert owner.org_id == ORG and owner.role == "owner"


def test_mint_refuses_a_lifetime_the_authenticator_would_refuse() -> None:
    auth = _auth(max_ttl=HOUR)
    assert auth.authenticate(auth.mint("ops", ttl_seconds=HOUR)).subject == "ops"
    for ttl in (0, -1, HOUR + 1):
        with pytest.raises(ValueError, match="MANAGEMENT_TOKEN_MAX_TTL_SECONDS"):
            auth.mint("ops", ttl_seconds=ttl)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    sub=_json,
    role=_json | st.sampled_from(["admin", "owner", "member"]),
    org_id=_json | st.just(ORG),
    exp=_json | st.just(NOW + HOUR),
    iat=_json,
    nbf=_json,
)
def test_any_type_in_any_claim_is_a_principal_or_a_401(
    sub: Any, role: Any, org_id: Any, exp: Any, iat: Any, nbf: Any
) -> None:
    claims = {"sub": sub, "role": role, "org_id": org_id, "exp": exp, "iat": iat, "nbf": nbf}
    try:
        token = _token(claims)
    except (TypeError, ValueError, OverflowError):
        return  # PyJWT itself refuses to encode this; nothing reaches Pulse
    try:
        principal = _auth().authenticate(token)
    except Unauthenticated:
        return
    # Whatever passed is exactly what the rules allow.
    assert isinstance(sub, str) and 0 < len(sub) <= 255
    assert role in ("admin", "owner", "member")
    assert isinstance(exp, int | float) and not isinstance(exp, bool)
    assert NOW - 5 <= exp <= NOW + 5 + 24 * HOUR
    assert principal.subject == sub and principal.role == role


def test_the_system_clock_mints_tokens_it_accepts() -> None:
    from pulse_adapters.clock import SystemClock

    auth = ManagementAuthenticator(SECRET, SystemClock())
    assert auth.authenticate(auth.mint("ops")).subject == "ops"
    # A day and a second is over the default bound: refused by the server it came from.
    with pytest.raises(ValueError, match="MANAGEMENT_TOKEN_MAX_TTL_SECONDS"):
        auth.mint("ops", ttl_seconds=24 * HOUR + 1)
