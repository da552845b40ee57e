"""The HS256 codec, checked against PyJWT as the oracle."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse_core.crypto.jwt import HS256Signer, HS256Verifier, TokenError

SECRET = "s3cret-key-for-tests-0123456789abcdef"
# PyJWT (the oracle) type-checks the registered claims; these tests are about arbitrary
# private claims, so registered names are left to the dedicated tests below.
_REGISTERED = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}
_claim_names = st.text(max_size=12).filter(lambda name: name not in _REGISTERED)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(claims=st.dictionaries(_claim_names, _json_values, max_size=6))
def test_tokens_we_sign_are_what_pyjwt_decodes(claims: dict[str, Any]) -> None:
    token = HS256Signer(SECRET).sign(claims)
    assert (
        pyjwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_aud": False}) == claims
    )


@given(claims=st.dictionaries(_claim_names, _json_values, max_size=6))
def test_tokens_pyjwt_signs_are_what_we_decode(claims: dict[str, Any]) -> None:
    token = pyjwt.encode(claims, SECRET, algorithm="HS256")
    assert HS256Verifier(SECRET).decode(token, now=0) == claims


def _reason(token: str, now: float = 1000.0) -> str:
    with pytest.raises(TokenError) as info:
        HS256Verifier(SECRET).decode(token, now=now)
    return info.value.reason


def test_rejections_have_reasons() -> None:
    good = HS256Signer(SECRET).sign({"sub": "a", "exp": 2000, "nbf": 500})
    header, payload, signature = good.split(".")
    assert HS256Verifier(SECRET).decode(good, now=1000)["sub"] == "a"
    assert _reason(good, now=2001) == "expired"
    assert _reason(good, now=499) == "not_yet_valid"
    assert _reason(pyjwt.encode({"sub": "a"}, "other", algorithm="HS256")) == "bad_signature"
    assert _reason(f"{header}.{payload}.{signature[:-2]}AA") == "bad_signature"
    assert _reason(pyjwt.encode({"sub": "a"}, None, algorithm="none")) == "unsupported_algorithm"  # type: ignore[arg-type]
    assert _reason(pyjwt.encode({"sub": "a"}, SECRET, algorithm="HS512")) == "unsupported_algorithm"
    assert _reason("one.two") == "malformed"
    assert _reason("a.b.c") == "malformed"
    assert _reason("ünï.cødé.sig") == "malformed"
    forged_payload = base64.urlsafe_b64encode(json.dumps({"sub": "admin"}).encode()).rstrip(b"=")
    assert _reason(f"{header}.{forged_payload.decode()}.{signature}") == "bad_signature"


def test_a_critical_header_extension_is_refused_as_not_understood() -> None:
    for crit in (["exp"], ["b64"], []):
        token = pyjwt.encode({"sub": "a"}, SECRET, algorithm="HS256", headers={"crit": crit})
        assert _reason(token) == "malformed"


def test_non_numeric_exp_is_malformed() -> None:
    assert _reason(HS256Signer(SECRET).sign({"exp": "tomorrow"})) == "malformed"
    assert _reason(HS256Signer(SECRET).sign({"exp": True})) == "malformed"


def test_leeway_applies_to_both_bounds() -> None:
    token = HS256Signer(SECRET).sign({"exp": 1000, "nbf": 900})
    verifier = HS256Verifier(SECRET)
    assert verifier.decode(token, now=1004, leeway=5)
    assert verifier.decode(token, now=896, leeway=5)
    with pytest.raises(TokenError):
        verifier.decode(token, now=1006, leeway=5)
