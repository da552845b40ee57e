"""LiveKit's webhook signature: Pulse's verifier accepts exactly what livekit-api's
``WebhookReceiver`` (the oracle) accepts, on webhooks built as LiveKit's server builds
them, and refuses with a reason everything else."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from livekit import api
from livekit.protocol.webhook import WebhookEvent

from pulse_core.errors import Unauthenticated
from pulse_core.livekit_webhooks import LiveKitWebhookRejected, LiveKitWebhookVerifier
from tests.support import livekit_webhooks as lk

KEY, SECRET = lk.API_KEY, lk.API_SECRET


def _oracle_accepts(body: bytes, authorization: str | None) -> bool:
    receiver = api.WebhookReceiver(api.TokenVerifier(KEY, SECRET))
    try:
        receiver.receive(body.decode("utf-8"), authorization)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


def _reason(body: bytes, authorization: str | None, *, now: float | None = None) -> str | None:
    verifier = LiveKitWebhookVerifier(KEY, SECRET)
    try:
        verifier.verify(body, authorization, now=time.time() if now is None else now)
    except LiveKitWebhookRejected as exc:
        assert isinstance(exc, Unauthenticated)
        assert exc.detail == "the LiveKit webhook signature is missing or invalid"
        return exc.reason
    return None


def _claims(body: bytes, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": KEY, "sub": "", "nbf": now, "iat": now, "exp": now + 300}
    claims["sha256"] = lk.checksum(body)
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _jwt(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return pyjwt.encode(claims, secret, algorithm=algorithm)


# What can go wrong with a webhook, each a function of the genuine (body, header).
_TAMPERINGS: dict[str, Callable[[bytes, str], tuple[bytes, str | None]]] = {
    "none": lambda body, token: (body, token),
    "spaced body, its own token": lambda body, token: (
        body.replace(b",", b", "),
        lk.sign(body.replace(b",", b", ")),
    ),
    "body changed": lambda body, token: (body.replace(b"}", b',"x":1}', 1), token),
    "body trailing newline": lambda body, token: (body + b"\n", token),
    "no header": lambda body, token: (body, None),
    "empty header": lambda body, token: (body, ""),
    "bearer prefix": lambda body, token: (body, "Bearer " + token),
    "wrong secret": lambda body, token: (body, lk.sign(body, api_secret=SECRET + "x")),
    "wrong key": lambda body, token: (body, lk.sign(body, api_key=KEY + "x")),
    "expired": lambda body, token: (body, lk.sign(body, ttl=timedelta(minutes=-5))),
    "expired within leeway": lambda body, token: (body, lk.sign(body, ttl=timedelta(seconds=-30))),
    "not yet valid": lambda body, token: (body, _jwt(_claims(body, nbf=int(time.time()) + 600))),
    "issued in the future": lambda body, token: (
        body,
        _jwt(_claims(body, iat=int(time.time()) + 600)),
    ),
    "no exp": lambda body, token: (body, _jwt(_claims(body, exp=None))),
    "no iss": lambda body, token: (body, _jwt(_claims(body, iss=None))),
    "no sha256": lambda body, token: (body, _jwt(_claims(body, sha256=None))),
    "empty sha256": lambda body, token: (body, _jwt(_claims(body, sha256=""))),
    "sha256 of another body": lambda body, token: (
        body,
        _jwt(_claims(body, sha256=lk.checksum(b"{}"))),
    ),
    "hs512": lambda body, token: (body, _jwt(_claims(body), algorithm="HS512")),
    "alg none": lambda body, token: (body, _jwt(_claims(body), secret="", algorithm="none")),
    "truncated signature": lambda body, token: (body, token[:-3]),
    "not a jwt": lambda body, token: (body, "definitely-not-a-jwt"),
}

events = lk.protobuf_messages(
    WebhookEvent.DESCRIPTOR,
    depth=2,
    overrides={"event": st.sampled_from(["room_started", "egress_ended"]), "id": st.just("EV_1")},
)


@given(event=events, tampering=st.sampled_from(sorted(_TAMPERINGS)))
def test_accepts_exactly_what_livekits_receiver_accepts(
    event: WebhookEvent, tampering: str
) -> None:
    genuine = lk.encode(event)
    body, authorization = _TAMPERINGS[tampering](genuine, lk.sign(genuine))
    ours = _reason(body, authorization) is None
    assert ours == _oracle_accepts(body, authorization), tampering
    assert ours == (tampering in {"none", "spaced body, its own token", "expired within leeway"})


@pytest.mark.parametrize(
    ("tampering", "reason"),
    [
        ("body changed", "checksum_mismatch"),
        ("no header", "missing"),
        ("empty header", "missing"),
        ("bearer prefix", "malformed"),
        ("wrong secret", "bad_signature"),
        ("wrong key", "wrong_issuer"),
        ("expired", "expired"),
        ("not yet valid", "not_yet_valid"),
        ("issued in the future", "not_yet_valid"),
        ("no exp", "malformed"),
        ("no iss", "wrong_issuer"),
        ("no sha256", "no_checksum"),
        ("empty sha256", "no_checksum"),
        ("sha256 of another body", "checksum_mismatch"),
        ("hs512", "unsupported_algorithm"),
        ("alg none", "unsupported_algorithm"),
        ("truncated signature", "bad_signature"),
        ("not a jwt", "malformed"),
    ],
)
def test_each_refusal_has_its_reason(tampering: str, reason: str) -> None:
    event = lk.room_event("room_started", "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9W_demo")
    body = lk.encode(event)
    assert _reason(*_TAMPERINGS[tampering](body, lk.sign(body))) == reason


def test_the_leeway_is_a_minute_on_both_sides() -> None:
    body = b'{"event":"room_started","id":"EV_1"}'
    now = 2_000_000_000
    token = _jwt(_claims(body, nbf=now, iat=now, exp=now + 300))
    assert _reason(body, token, now=now - 60) is None
    assert _reason(body, token, now=now - 61) == "not_yet_valid"
    assert _reason(body, token, now=now + 359) is None
    # Refused from exp + leeway on, as LiveKit's verifiers do (Go: now < exp + leeway).
    assert _reason(body, token, now=now + 360) == "expired"


def test_the_checksum_must_be_the_one_spelling_livekit_writes() -> None:
    body = b'{"event":"room_started","id":"EV_1"}'
    checksum = lk.checksum(body)
    # Python's lenient base64 skips stray characters, so the oracle takes these two; Go's
    # string compare (the server side's own receiver) and Pulse's do not.
    for spelling in (checksum + "\n", " " + checksum):
        token = _jwt(_claims(body, sha256=spelling))
        assert _oracle_accepts(body, token)
        assert _reason(body, token) == "checksum_mismatch"
    assert _reason(body, _jwt(_claims(body, sha256=checksum.rstrip("=")))) == "checksum_mismatch"
    assert _reason(body, _jwt(_claims(body, sha256=["x"]))) == "no_checksum"
    # A lone surrogate is not JSON text msgspec accepts: the whole token is malformed.
    assert _reason(body, _jwt(_claims(body, sha256="\udcff"))) == "malformed"


def test_body_bytes_are_hashed_as_received() -> None:
    body = '{"event":"room_started","id":"EV_1","room":{"name":"caf\u00e9"}}'.encode()
    token = lk.sign(body)
    assert _reason(body, token) is None
    assert _reason(body.decode().encode("utf-16"), token) == "checksum_mismatch"


def test_an_empty_key_or_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="required"):
        LiveKitWebhookVerifier("", SECRET)
    with pytest.raises(ValueError, match="required"):
        LiveKitWebhookVerifier(KEY, "")
