"""Twirp as the double speaks it: error codes and their HTTP statuses, the content types,
the route pattern, injected faults, and how a reply or a request body is encoded.

``_TwirpCodec`` holds the encoding helpers the server class uses as its own methods.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

# Twirp's canonical code -> HTTP status table (twitchtv/twirp ServerHTTPStatusFromErrorCode).
TWIRP_HTTP_STATUS: dict[str, int] = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}

_PROTOBUF = "application/protobuf"
_JSON = "application/json"
_PATH = re.compile(r"/twirp/livekit\.(\w+)/(\w+)")


class TwirpFailure(Exception):
    """A Twirp error the double answers with: handlers raise it, the dispatcher encodes it."""

    def __init__(self, code: str, msg: str = "", meta: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.meta = dict(meta or {})

    @property
    def status(self) -> int:
        return TWIRP_HTTP_STATUS.get(self.code, 500)


@dataclass
class _FailRule:
    code: str
    msg: str
    method: str | None
    remaining: int
    meta: dict[str, str]

    def matches(self, service: str, method: str) -> bool:
        return self.method is None or self.method in (method, f"{service}/{method}")


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str


class _TwirpCodec:
    """Twirp replies and request decoding (methods of ``LiveKitTwirpServer``)."""

    @staticmethod
    def _to_response(reply: _Reply) -> web.Response:
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)

    @staticmethod
    def _twirp_reply(failure: TwirpFailure) -> _Reply:
        payload: dict[str, Any] = {"code": failure.code, "msg": failure.msg}
        if failure.meta:
            payload["meta"] = failure.meta
        return _Reply(failure.status, json.dumps(payload).encode(), _JSON)

    @staticmethod
    def _bad_route(msg: str, http_method: str, path: str) -> TwirpFailure:
        return TwirpFailure("bad_route", msg, {"twirp_invalid_route": f"{http_method} {path}"})

    @staticmethod
    def _decode(message_type: type[Message], body: bytes, as_json: bool) -> Message:
        if as_json:
            try:
                return json_format.Parse(body.decode(), message_type(), ignore_unknown_fields=True)
            except (json_format.ParseError, UnicodeDecodeError) as exc:
                raise TwirpFailure(
                    "malformed", f"the json request could not be decoded: {exc}"
                ) from exc
        try:
            return message_type.FromString(body)
        except DecodeError as exc:
            raise TwirpFailure("malformed", f"failed to parse request proto: {exc}") from exc
