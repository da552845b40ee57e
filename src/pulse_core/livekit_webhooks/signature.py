"""Is this webhook from our LiveKit? The check LiveKit's own receivers make, on Pulse's
fast HS256 verifier.

LiveKit signs a webhook (livekit/protocol ``webhook/resource_url_notifier.go``) with an
access token of the API key the server is configured with: the ``Authorization`` header
holds the bare JWT (no ``Bearer`` prefix), HS256 with the API secret, ``iss`` the API
key, ``nbf``/``iat`` now, ``exp`` five minutes later, and a ``sha256`` claim holding the
standard (padded) base64 of the SHA-256 of the exact body bytes. The body is covered
by nothing else, so the hash is what makes it authentic.

:class:`LiveKitWebhookVerifier` accepts what LiveKit's receivers accept (Go's
``webhook.Receive`` and livekit-api's ``WebhookReceiver``, the tests' oracle): the same
one-minute leeway on ``exp``/``nbf``/``iat``, ``exp`` required, ``iss`` equal to the
key. Where the two references differ it takes the stricter side: the hash claim is
compared as text with the one spelling LiveKit writes (Go does; Python's lenient base64
decoder would skip stray characters), and a header with a ``Bearer`` prefix is refused
(neither reference strips one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

from pulse_core.crypto.jwt import HS256Verifier, TokenError
from pulse_core.errors import Unauthenticated

#: Clock skew tolerated between LiveKit and Pulse, as LiveKit's verifiers allow.
DEFAULT_LEEWAY_SECONDS: Final = 60.0


class LiveKitWebhookRejected(Unauthenticated):
    """A webhook that is not provably from LiveKit. ``reason`` is a stable code for logs
    and metrics (the answer to the sender says only that the signature is invalid):
    ``missing``, ``malformed``, ``unsupported_algorithm``, ``bad_signature``,
    ``expired``, ``not_yet_valid``, ``wrong_issuer``, ``no_checksum``,
    ``checksum_mismatch``."""

    def __init__(self, reason: str) -> None:
        super().__init__("the LiveKit webhook signature is missing or invalid")
        self.reason = reason


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class LiveKitWebhookVerifier:
    """Verifies webhooks signed with one LiveKit API key and secret (``LIVEKIT_API_KEY``,
    ``LIVEKIT_API_SECRET``). Built once; thread-safe."""

    __slots__ = ("_api_key", "_leeway", "_verifier")

    def __init__(
        self, api_key: str, api_secret: str, *, leeway: float = DEFAULT_LEEWAY_SECONDS
    ) -> None:
        if not api_key or not api_secret:
            # A programming error: an empty secret would make every signature forgeable.
            raise ValueError("a LiveKit API key and secret are required")
        self._api_key = api_key
        self._verifier = HS256Verifier(api_secret)
        self._leeway = leeway

    def verify(self, body: bytes, authorization: str | None, *, now: float) -> None:
        """Returns if ``authorization`` (the ``Authorization`` header, None when absent)
        proves that LiveKit sent exactly ``body`` (the raw request bytes) and the proof
        is valid at ``now`` (seconds since the epoch); :class:`LiveKitWebhookRejected`
        otherwise. Run it before parsing: the body is untrusted until then."""
        if not authorization:
            raise LiveKitWebhookRejected("missing")
        try:
            claims = self._verifier.decode(authorization, now=now, leeway=self._leeway)
        except TokenError as exc:
            raise LiveKitWebhookRejected(exc.reason) from exc
        exp = claims.get("exp")
        if exp is None:
            # Without exp a captured webhook would verify forever (livekit/protocol#1706).
            raise LiveKitWebhookRejected("malformed")
        # HS256Verifier admits now == exp + leeway; LiveKit's verifiers (Go's
        # time.Before, PyJWT's <=) already refuse it.
        if now >= exp + self._leeway:
            raise LiveKitWebhookRejected("expired")
        iat = claims.get("iat")
        if iat is not None:
            if not _is_number(iat):
                raise LiveKitWebhookRejected("malformed")
            if iat > now + self._leeway:
                raise LiveKitWebhookRejected("not_yet_valid")
        if claims.get("iss") != self._api_key:
            raise LiveKitWebhookRejected("wrong_issuer")
        checksum = claims.get("sha256")
        if not isinstance(checksum, str) or not checksum:
            raise LiveKitWebhookRejected("no_checksum")
        expected = base64.b64encode(hashlib.sha256(body).digest())
        if not hmac.compare_digest(checksum.encode("utf-8", "surrogatepass"), expected):
            raise LiveKitWebhookRejected("checksum_mismatch")
