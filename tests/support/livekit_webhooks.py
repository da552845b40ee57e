"""LiveKit's webhooks, built as LiveKit's server builds them, for tests.

What LiveKit does (livekit/protocol ``webhook/resource_url_notifier.go``, ``send``):

1. ``protojson.Marshal(event)`` (``utils/protojson``: only ``AllowPartial``): compact
   JSON, lowerCamelCase keys, zero values left out, 64-bit integers as strings, enums as
   names, a set message field as ``{}`` even when empty. Go's encoder may also add a
   space after ``:`` or ``,`` at random (protojson's "detrand"), which is why a receiver
   must hash the bytes it got, never a re-serialization.
2. ``sha256`` of those bytes, standard padded base64.
3. ``auth.NewAccessToken(key, secret).SetValidFor(5 * time.Minute).SetSha256(b64)``:
   an HS256 JWT with ``iss`` the key, ``nbf``/``iat`` now, ``exp`` now + 5 min.
4. POST with ``Authorization: <jwt>`` (no ``Bearer``) and
   ``content-type: application/webhook+json``.

:func:`encode` does step 1 with ``google.protobuf.json_format`` (the same mapping; the
Python library writes fields in field-number order, Go in declaration order, which no
reader may depend on) and :func:`sign` step 3 with livekit-api's ``AccessToken`` (which
writes no ``iat``). Event builders mirror livekit-server's ``pkg/telemetry/events.go``:
what each event carries (a track event's participant has only ``sid`` and
``identity``; an egress event's room only ``sid`` and ``name``; an ingress event's room
only ``name``). :func:`protobuf_messages` fills any protobuf message at random, every
field type included, for property tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
import time
from datetime import timedelta
from typing import Any

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import json_format, message_factory
from google.protobuf.message import Message
from hypothesis import strategies as st
from livekit import api
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress
from livekit.protocol import models as lk_models
from livekit.protocol.webhook import WebhookEvent

API_KEY = "APIwebhooktests"
API_SECRET = "webhook-tests-secret-0123456789abcdefghijklmnop"
CONTENT_TYPE = "application/webhook+json"
#: How long LiveKit's webhook tokens are valid.
TOKEN_TTL = timedelta(minutes=5)


def encode(event: Message, *, spaced: bool = False) -> bytes:
    """``event`` as LiveKit's ``protojson.Marshal`` writes it; ``spaced`` adds the blank
    after each separator that Go's encoder sometimes adds."""
    as_dict = json_format.MessageToDict(event)
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(as_dict, separators=separators, ensure_ascii=False).encode("utf-8")


def checksum(body: bytes) -> str:
    """The ``sha256`` claim LiveKit puts in the token of ``body``."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def sign(
    body: bytes,
    *,
    api_key: str = API_KEY,
    api_secret: str = API_SECRET,
    ttl: timedelta = TOKEN_TTL,
) -> str:
    """The ``Authorization`` header LiveKit sends with ``body``."""
    return api.AccessToken(api_key, api_secret).with_ttl(ttl).with_sha256(checksum(body)).to_jwt()


def signed(
    event: Message, *, api_key: str = API_KEY, api_secret: str = API_SECRET
) -> tuple[bytes, dict[str, str]]:
    """``(body, headers)`` of the POST LiveKit makes for ``event``."""
    body = encode(event)
    token = sign(body, api_key=api_key, api_secret=api_secret)
    return body, {"authorization": token, "content-type": CONTENT_TYPE}


def event_id() -> str:
    """An id as LiveKit's ``guid.New("EV_")`` makes them: ``EV_`` + 12 base62 chars."""
    alphabet = string.ascii_letters + string.digits
    return "EV_" + "".join(secrets.choice(alphabet) for _ in range(12))


def webhook_event(
    event_name: str, /, *, created_at: int | None = None, **fields: Any
) -> WebhookEvent:
    """A ``WebhookEvent`` named ``event_name`` with a fresh id, created now (seconds)."""
    return WebhookEvent(
        event=event_name,
        id=event_id(),
        created_at=int(time.time()) if created_at is None else created_at,
        **fields,
    )


def room(livekit_room: str, *, sid: str = "RM_test", creation_time: int = 0) -> lk_models.Room:
    return lk_models.Room(
        sid=sid,
        name=livekit_room,
        creation_time=creation_time or int(time.time()),
        empty_timeout=300,
        departure_timeout=20,
        num_participants=1,
    )


def room_event(event_name: str, livekit_room: str, /, **room_fields: Any) -> WebhookEvent:
    """``room_started`` / ``room_finished``."""
    return webhook_event(event_name, room=room(livekit_room, **room_fields))


def participant(
    identity: str,
    /,
    *,
    sid: str = "PA_test",
    name: str = "",
    joined_at: int = 0,
    **fields: Any,
) -> lk_models.ParticipantInfo:
    joined = joined_at or int(time.time())
    return lk_models.ParticipantInfo(
        sid=sid,
        identity=identity,
        name=name,
        state=lk_models.ParticipantInfo.ACTIVE,
        joined_at=joined,
        joined_at_ms=joined * 1000,
        **fields,
    )


def participant_event(
    event_name: str, livekit_room: str, identity: str, /, **participant_fields: Any
) -> WebhookEvent:
    """``participant_joined`` / ``participant_left`` / ``participant_connection_aborted``."""
    return webhook_event(
        event_name,
        room=room(livekit_room),
        participant=participant(identity, **participant_fields),
    )


def track_event(
    event_name: str,
    livekit_room: str,
    identity: str,
    /,
    *,
    participant_sid: str = "PA_test",
    **track_fields: Any,
) -> WebhookEvent:
    """``track_published`` / ``track_unpublished``: LiveKit sends only the sid and
    identity of the participant."""
    fields = {"sid": "TR_test", "type": lk_models.VIDEO, "source": lk_models.CAMERA}
    return webhook_event(
        event_name,
        room=room(livekit_room),
        participant=lk_models.ParticipantInfo(sid=participant_sid, identity=identity),
        track=lk_models.TrackInfo(**{**fields, **track_fields}),
    )


def egress_event(event_name: str, info: lk_egress.EgressInfo) -> WebhookEvent:
    """``egress_started`` / ``egress_updated`` / ``egress_ended``."""
    minimal_room = lk_models.Room(sid=info.room_id, name=info.room_name)
    return webhook_event(event_name, room=minimal_room, egress_info=info)


def ingress_event(event_name: str, info: lk_ingress.IngressInfo) -> WebhookEvent:
    """``ingress_started`` / ``ingress_ended``."""
    return webhook_event(event_name, room=lk_models.Room(name=info.room_name), ingress_info=info)


# -- random messages ---------------------------------------------------------------------

_FD = pb_descriptor.FieldDescriptor
_text = st.text(st.characters(codec="utf-8"), max_size=12)  # no lone surrogates
_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    _FD.TYPE_STRING: _text,
    _FD.TYPE_BYTES: st.binary(max_size=12),
    _FD.TYPE_BOOL: st.booleans(),
    _FD.TYPE_DOUBLE: st.floats(),
    _FD.TYPE_FLOAT: st.floats(width=32),
    _FD.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    _FD.TYPE_SINT32: st.integers(-(2**31), 2**31 - 1),
    _FD.TYPE_SFIXED32: st.integers(-(2**31), 2**31 - 1),
    _FD.TYPE_UINT32: st.integers(0, 2**32 - 1),
    _FD.TYPE_FIXED32: st.integers(0, 2**32 - 1),
    _FD.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    _FD.TYPE_SINT64: st.integers(-(2**63), 2**63 - 1),
    _FD.TYPE_SFIXED64: st.integers(-(2**63), 2**63 - 1),
    _FD.TYPE_UINT64: st.integers(0, 2**64 - 1),
    _FD.TYPE_FIXED64: st.integers(0, 2**64 - 1),
}


def _value(field: Any, depth: int) -> st.SearchStrategy[Any]:
    if field.type == _FD.TYPE_ENUM:
        return st.sampled_from([value.number for value in field.enum_type.values])
    if field.type == _FD.TYPE_MESSAGE:
        return protobuf_messages(field.message_type, depth=depth - 1)
    return _SCALARS[field.type]


def _fillable(field: Any, depth: int) -> bool:
    if field.type != _FD.TYPE_MESSAGE:
        return True
    # Well-known types have JSON forms of their own, with range rules; LiveKit's
    # webhook messages do not use them in the fields Pulse reads.
    return depth > 0 and not field.message_type.full_name.startswith("google.protobuf.")


@st.composite
def protobuf_messages(
    draw: st.DrawFn, descriptor: Any, *, depth: int = 3, overrides: dict[str, Any] | None = None
) -> Message:
    """A message of type ``descriptor`` with a random subset of its fields set, nested
    messages ``depth`` levels deep; ``overrides`` maps field names to strategies."""
    message = message_factory.GetMessageClass(descriptor)()
    overrides = overrides or {}
    for field in descriptor.fields:
        if field.name not in overrides and (not _fillable(field, depth) or not draw(st.booleans())):
            continue
        if field.name in overrides:
            value = draw(overrides[field.name])
            if value is not None:
                _set(message, field, value)
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            if not _fillable(value_field, depth):
                continue
            entries = draw(
                st.dictionaries(_value(key_field, depth), _value(value_field, depth), max_size=2)
            )
            _set(message, field, entries)
        elif field.is_repeated:
            _set(message, field, draw(st.lists(_value(field, depth), max_size=2)))
        else:
            _set(message, field, draw(_value(field, depth)))
    return message


def _set(message: Message, field: Any, value: Any) -> None:
    target = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        for key, item in value.items():
            if isinstance(item, Message):
                target[key].CopyFrom(item)
            else:
                target[key] = item
    elif field.is_repeated:
        for item in value:
            if isinstance(item, Message):
                target.add().CopyFrom(item)
            else:
                target.append(item)
    elif isinstance(value, Message):
        target.SetInParent()  # present even when empty, as LiveKit's set fields are
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)
