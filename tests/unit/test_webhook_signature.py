"""Pulse's Standard Webhooks signatures, byte for byte against the `standardwebhooks`
library (the oracle), for any id, time, body and secret."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pulse_core.crypto.webhook_signature import (
    generate_webhook_secret,
    sign,
    signature_header,
)

_secrets = st.binary(min_size=24, max_size=64).map(
    lambda raw: "whsec_" + base64.b64encode(raw).decode()
)
_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=40)
_bodies = st.text(max_size=300).map(str.encode)


@given(secret=_secrets, msg_id=_ids, timestamp=st.integers(0, 2**33), body=_bodies)
def test_signatures_equal_the_library_ones(
    secret: str, msg_id: str, timestamp: int, body: bytes
) -> None:
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    assert sign(secret, msg_id, timestamp, body) == Webhook(secret).sign(
        msg_id, when, body.decode()
    )


@given(body=_bodies, msg_id=_ids)
def test_the_library_verifies_a_header_with_the_new_and_the_old_secret(
    body: bytes, msg_id: str
) -> None:
    old, new = generate_webhook_secret(), generate_webhook_secret()
    now = int(datetime.now(tz=UTC).timestamp())
    header = signature_header([new, old], msg_id, now, body)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(now), "webhook-signature": header}
    for secret in (new, old):  # a receiver on either secret accepts it during the grace
        Webhook(secret).verify(body, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_webhook_secret()).verify(body, headers, json_parse=False)
    tampered = {**headers, "webhook-id": msg_id + "x"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body, tampered, json_parse=False)


def test_secrets_are_fresh_and_well_formed() -> None:
    made = {generate_webhook_secret() for _ in range(100)}
    assert len(made) == 100
    for secret in made:
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
