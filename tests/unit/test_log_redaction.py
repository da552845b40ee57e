from __future__ import annotations

import logging

import pytest
import structlog

from pulse_core.crypto import credentials
from pulse_http.logging import REDACTED, configure_logging, redact_secrets
from pulse_http.settings import Settings


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


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_tracebacks_carry_no_locals_and_no_secrets(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = credentials.generate_api_secret()
    local_only = "value-only-in-a-local-variable"
    configure_logging(
        Settings(environment="development", log_format=log_format, log_level="info")  # type: ignore[arg-type]
    )

    def handler(headers: dict[str, str]) -> None:
        hidden = local_only  # noqa: F841 - what a locals-printing formatter would show
        raise RuntimeError(f"failed with {headers['x-pulse-secret']}")

    try:
        handler({"x-pulse-secret": secret})
    except RuntimeError:
        structlog.get_logger("test").exception("unhandled_error")
    out = capsys.readouterr().out
    assert "RuntimeError" in out and "unhandled_error" in out
    assert secret not in out
    assert local_only not in out


def test_libraries_log_from_info_up_and_their_secrets_are_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """At LOG_LEVEL=debug pymongo logged each command with its documents (webhook
    secrets, key hashes) and botocore each request's Authorization header."""
    configure_logging(
        Settings(environment="development", log_format="json", log_level="debug")  # type: ignore[arg-type]
    )
    try:
        logging.getLogger("pulse.example").debug("pulse's own debug line")
        logging.getLogger("pymongo.command").debug("find {'secret': 'whsec_c2VjcmV0'}")
        logging.getLogger("botocore.endpoint").debug("Authorization: AWS4-HMAC-SHA256 x")
        secret = credentials.generate_api_secret()
        logging.getLogger("botocore.hooks").warning("retrying with %s and whsec_QUJD+/=", secret)
        out = capsys.readouterr().out
        assert "pulse's own debug line" in out
        assert "whsec_c2VjcmV0" not in out and "AWS4-HMAC" not in out
        assert "retrying with" in out and secret not in out and "whsec_QUJD" not in out
        assert out.count(REDACTED) == 2
    finally:
        configure_logging(Settings(environment="development", log_level="warning"))  # type: ignore[arg-type]
