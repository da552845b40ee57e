"""Authentication as livekit-server does it: the API key/secret JWT of every request
(``_authenticate``, its auth middleware), the video grant each RPC needs
(``_has_grant``) and how a missing grant is answered (``_grant_failure``).

Beyond livekit-server, ``narrow_grants=True`` also refuses a token that carries any
privileged grant the RPC does not need (``_excess_grants``): a room RPC signed with
``roomCreate`` *and* ``roomList``, a ``roomAdmin`` token for listing rooms, a ``sip``
grant... LiveKit would accept those; the double refuses them so that a suite can prove
an adapter signs each call with the narrowest token that works.

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
# Video grants that open a door of their own (the rest, canPublish and the like, only
# shape what a participant of ``room`` may do), and the other grant families of a token.
_PRIVILEGED_VIDEO = (
    "roomCreate",
    "roomList",
    "roomRecord",
    "roomAdmin",
    "roomJoin",
    "ingressAdmin",
    "agent",
    "recorder",
    "canManageAgentSession",
    "destinationRoom",
)
_OTHER_GRANTS = ("sip", "inference", "observability", "agent", "agentEndpoint", "agentThread")


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

    @staticmethod
    def _excess_grants(claims: dict[str, Any] | None, grant: str) -> list[str]:
        """The privileged grants in ``claims`` that an RPC needing ``grant`` does not."""
        needed = "roomAdmin" if grant == _ROOM_ADMIN else grant
        video = (claims or {}).get("video") or {}
        excess = [g for g in _PRIVILEGED_VIDEO if video.get(g) and g != needed]
        others = (claims or {}).items()
        excess += [
            k for k, v in others if k in _OTHER_GRANTS and isinstance(v, dict) and any(v.values())
        ]
        return excess

    def _grant_failure(self, claims: dict[str, Any] | None) -> TwirpFailure:
        if self.auth_errors == "twirp":
            if claims is None:
                return TwirpFailure("unauthenticated", "missing or invalid authorization")
            return TwirpFailure("permission_denied", "permissions denied")
        return TwirpFailure("unauthenticated", "permissions denied")  # livekit's twirpAuthError
