"""Request and response bodies of the ingress endpoints (API.md, "Media"); as for the
others (:mod:`pulse_http.schemas.media`), no project id, engine id or LiveKit room name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from pulse_core.models.media import CreateIngress, Ingress, IngressStatus, IngressType
from pulse_http.schemas import NEXT_CURSOR, doc

_ROOM = doc("The room, as the project names it.", "demo")


class CreateIngressBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An ingest endpoint that publishes into a room as one participant."""

    # `url` is for the `url` type only.
    __openapi_example__: ClassVar[Mapping[str, Any]] = {
        "room": "demo",
        "type": "rtmp",
        "participant_identity": "studio-camera",
        "participant_name": "Studio camera",
    }

    room: Annotated[str, doc("The room it publishes into.", "demo")]
    type: Annotated[
        Literal["rtmp", "whip", "url"],
        doc(
            "`rtmp` or `whip`: an endpoint to publish to; `url`: LiveKit pulls the stream "
            "from `url`.",
            "rtmp",
        ),
    ]
    participant_identity: Annotated[str, doc("The identity it publishes as.", "studio-camera")]
    participant_name: Annotated[str | None, doc("Its display name.", "Studio camera")] = None
    url: Annotated[
        str | None,
        doc(
            "`url` type only: the stream to pull (`http`, `https` or `srt`).",
            "https://media.example.com/live.m3u8",
        ),
    ] = None

    def to_domain(self) -> CreateIngress:
        return CreateIngress(
            room=self.room,
            type=self.type,
            participant_identity=self.participant_identity,
            participant_name=self.participant_name,
            url=self.url,
        )


class IngressOut(msgspec.Struct, frozen=True, kw_only=True):
    """An ingest endpoint publishing into a room."""

    id: Annotated[str, doc("The ingress's id.", "ig_01M8T76XCFPY8WD2WM4GGX9MF9")]
    type: Annotated[IngressType, doc("`rtmp`, `whip` or `url` (pull).", "rtmp")]
    room: Annotated[str, _ROOM]
    url: Annotated[
        str,
        doc(
            "Where to publish (`rtmp`, `whip`), or the stream LiveKit pulls (`url`).",
            "rtmp://livekit.example.com:1935/live",
        ),
    ]
    stream_key: Annotated[
        str | None,
        doc("The key to publish with (`rtmp`, `whip`); null for `url`.", "F9twi8HqoozN"),
    ]
    participant_identity: Annotated[str, doc("The identity it publishes as.", "studio-camera")]
    participant_name: Annotated[str | None, doc("Its display name.", "Studio camera")]
    status: Annotated[
        IngressStatus,
        doc(
            "`inactive` (nothing published yet), `buffering`, `publishing`, `error` or `complete`.",
            "publishing",
        ),
    ]
    created_at: Annotated[datetime, doc("When it was created.", "2026-12-02T01:51:51.695384Z")]

    @classmethod
    def of(cls, ingress: Ingress) -> IngressOut:
        return cls(
            id=ingress.id,
            type=ingress.type,
            room=ingress.room,
            url=ingress.url,
            stream_key=ingress.stream_key,
            participant_identity=ingress.participant_identity,
            participant_name=ingress.participant_name,
            status=ingress.status,
            created_at=ingress.created_at,
        )


class IngressList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of ingress."""

    items: Annotated[list[IngressOut], doc("This page's ingress.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


__all__ = ["CreateIngressBody", "IngressList", "IngressOut"]
