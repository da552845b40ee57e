"""Authentication as livekit-server does it: the API key/secret JWT of every request
(``_authenticate``, its auth middleware), the video grant each RPC needs
(``_has_grant``) and how a missing grant is answered (``_grant_failure``).

Token problems raise ``_AuthFailure`` (a plain-text 401 in ``auth_errors="livekit"``
mode); grant problems are ``TwirpFailure``s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import jwt
from google.protobuf.message import Message

from tests.support.livekit_twirp_server.twirp import TwirpFailure

_ROOM_ADMIN = "roomAdmin+room"  # roomAdmin grant *and* video.room equal to the request's room
_TOKEN_LEEWAY_S = 60  # livekit/protocol's verifier allows one minute of clock skew


class _AuthFailure(Exception):
    """A token the auth middleware rejects before any Twirp handler runs."""


class _Authenticator:
    """Token and grant checks (methods of ``LiveKitTwirpServer``)."""

    api_key: str
    api_secret: str
    auth_errors: Literal["livekit", "twirp"]

    def _authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> dict[str, Any] | None:
        """livekit-server's APIKeyAuthMiddleware: no token passes through without grants."""
        header = headers.get("Authorization", "")
        if header:
            if not header.startswith("Bearer "):
                raise _AuthFailure("invalid authorization header. Must start with Bearer ")
            token = header[len("Bearer ") :]
        else:
            token = query.get("access_token", "")
        if not token:
            return None
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _AuthFailure("invalid authorization token") from exc
        issuer = unverified.get("iss")
        if issuer != self.api_key:
            raise _AuthFailure(f"invalid API key: {issuer}")
        try:
            return jwt.decode(
                token,
                self.api_secret,
                algorithms=["HS256"],
                issuer=self.api_key,
                leeway=_TOKEN_LEEWAY_S,
                options={"require": ["exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise _AuthFailure(f"invalid token, error: {exc}") from exc

    @staticmethod
    def _has_grant(claims: dict[str, Any] | None, grant: str, request: Message) -> bool:
        video = (claims or {}).get("video") or {}
        if grant == _ROOM_ADMIN:
            room = getattr(request, "room", "")
            return video.get("roomAdmin") is True and video.get("room", "") == room
        return video.get(grant) is True

    def _grant_failure(self, claims: dict[str, Any] | None) -> TwirpFailure:
        if self.auth_errors == "twirp":
            if claims is None:
                return TwirpFailure("unauthenticated", "missing or invalid authorization")
            return TwirpFailure("permission_denied", "permissions denied")
        return TwirpFailure("unauthenticated", "permissions denied")  # livekit's twirpAuthError
