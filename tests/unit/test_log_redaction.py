from __future__ import annotations

from pulse_core.crypto import credentials
from pulse_http.logging import REDACTED, redact_secrets


def test_secret_named_fields_are_redacted() -> None:
    event = {
        "event": "x",
        "api_secret": "abc",
        "Authorization": "Bearer abc",
        "jwt_secret": "s",
        "x_pulse_secret": "s",
    }
    out = redact_secrets(None, "info", dict(event))
    assert out["api_secret"] == out["Authorization"] == out["jwt_secret"] == REDACTED
    assert out["x_pulse_secret"] == REDACTED and out["event"] == "x"


def test_secret_values_are_masked_wherever_they_appear() -> None:
    secret = credentials.generate_api_secret()
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    out = redact_secrets(None, "info", {"event": f"oops {secret} and {jwt}", "detail": secret})
    assert secret not in str(out) and jwt not in str(out)
    assert out["detail"] == REDACTED
