"""LiveKit's webhook events: decoded from the body LiveKit's server writes (built with
livekit-protocol's own classes), refused as InvalidInput when they are not events, and
translated into Pulse events about the project's own rooms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import example, given
from hypothesis import strategies as st
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress
from livekit.protocol import models as lk_models
from livekit.protocol.webhook import WebhookEvent

from pulse_core import rooms
from pulse_core.errors import InvalidInput
from pulse_core.livekit_webhooks import (
    LIVEKIT_EVENTS,
    LiveKitEvent,
    parse_livekit_event,
    project_room_of,
    translate,
)
from pulse_core.models.events import EVENT_TYPES
from tests.support import livekit_webhooks as lk

PROJECT = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9W"
OTHER = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9X"

# Events as LiveKit could send them: every field of the message at random, nested a few
# levels, with the required name and id mostly present.
_names = st.sampled_from(sorted(LIVEKIT_EVENTS)) | st.text(min_size=1, max_size=10)
events = lk.protobuf_messages(
    WebhookEvent.DESCRIPTOR,
    overrides={
        "event": _names | st.just(""),
        "id": st.just("EV_") | st.text(min_size=1, max_size=16) | st.just(""),
    },
)
complete_events = lk.protobuf_messages(
    WebhookEvent.DESCRIPTOR, overrides={"event": _names, "id": st.just("EV_1")}
)


def _assert_mirrors(decoded: msgspec.Struct, message: Message, path: str = "$") -> None:
    """Every field of ``decoded`` holds what the same-named field of ``message`` holds."""
    for name in decoded.__struct_fields__:
        value = getattr(decoded, name)
        field = message.DESCRIPTOR.fields_by_name[name]
        expected = getattr(message, name)
        where = f"{path}.{name}"
        if field.is_repeated:
            assert len(value) == len(expected), where
            for index, (item, item_expected) in enumerate(zip(value, expected, strict=True)):
                _assert_mirrors(item, item_expected, f"{where}[{index}]")
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if value is None:
                assert not message.HasField(name), where
            else:
                _assert_mirrors(value, expected, where)
        elif field.enum_type is not None:
            assert value == field.enum_type.values_by_number[expected].name, where
        else:
            assert value == expected, where
            assert type(value) is not bool or field.type == FieldDescriptor.TYPE_BOOL, where


@given(events, st.booleans())
def test_events_decode_to_what_livekit_sent(message: WebhookEvent, spaced: bool) -> None:
    body = lk.encode(message, spaced=spaced)
    if not message.event or not message.id:
        with pytest.raises(InvalidInput) as info:
            parse_livekit_event(body)
        assert info.value.field == ("event" if not message.event else "id")
        return
    event = parse_livekit_event(body)
    _assert_mirrors(event, message)
    # The text form (the queue stores bodies as text) and the pretty form decode alike.
    assert parse_livekit_event(body.decode()) == event
    assert parse_livekit_event(json_format.MessageToJson(message)) == event


_int64 = st.integers(-(2**63), 2**63 - 1)


@given(seconds=_int64, milliseconds=_int64, nanoseconds=_int64)
@example(
    seconds=1_700_000_000, milliseconds=1_700_000_000_123, nanoseconds=1_700_000_000_123_456_789
)
@example(seconds=253_402_300_799, milliseconds=0, nanoseconds=2**63 - 1)
def test_times_are_utc_datetimes_in_each_messages_unit(
    seconds: int, milliseconds: int, nanoseconds: int
) -> None:
    message = WebhookEvent(
        event="egress_ended",
        id="EV_1",
        created_at=seconds,
        participant=lk_models.ParticipantInfo(joined_at=seconds, joined_at_ms=milliseconds),
        egress_info=lk_egress.EgressInfo(started_at=nanoseconds, ended_at=nanoseconds),
        ingress_info=lk_ingress.IngressInfo(state=lk_ingress.IngressState(started_at=nanoseconds)),
    )
    event = parse_livekit_event(lk.encode(message))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    def expected(value: int, per_second: int) -> datetime | None:
        if value <= 0:
            return None
        try:
            return epoch + timedelta(microseconds=value * 1_000_000 // per_second)
        except OverflowError:
            return None

    assert event.created_time == expected(seconds, 1)
    assert event.participant is not None and event.egress_info and event.ingress_info
    assert event.participant.joined_time == (
        expected(milliseconds, 1000) if milliseconds > 0 else expected(seconds, 1)
    )
    assert event.egress_info.started_time == expected(nanoseconds, 10**9)
    assert event.egress_info.ended_time == event.egress_info.started_time
    assert event.ingress_info.state.started_time == expected(nanoseconds, 10**9)
    for moment in (event.created_time, event.egress_info.started_time):
        assert moment is None or moment.tzinfo is UTC


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def _with_unknown_keys(value: Any, extra: dict[str, Any]) -> Any:
    """``value`` with ``extra``'s keys added to every object in it."""
    if isinstance(value, dict):
        known = {key: _with_unknown_keys(item, extra) for key, item in value.items()}
        return {**{f"future{key}": item for key, item in extra.items()}, **known}
    if isinstance(value, list):
        return [_with_unknown_keys(item, extra) for item in value]
    return value


@given(
    complete_events,
    st.dictionaries(st.text(max_size=6), _json, max_size=3),
)
def test_keys_livekit_adds_later_are_ignored(message: WebhookEvent, extra: dict[str, Any]) -> None:
    as_dict = json_format.MessageToDict(message)
    body = json.dumps(_with_unknown_keys(as_dict, extra)).encode()
    assert parse_livekit_event(body) == parse_livekit_event(lk.encode(message))


_BASE: dict[str, Any] = {
    "event": "track_published",
    "id": "EV_1",
    "createdAt": "1700000000",
    "room": {"name": "r", "sid": "RM_1"},
    "participant": {"identity": "u", "tracks": [{"sid": "TR_1", "muted": True}]},
    "egressInfo": {"egressId": "EG_1", "fileResults": [{"size": "10"}]},
    "ingressInfo": {"state": {"status": "ENDPOINT_ERROR"}},
}


@pytest.mark.parametrize(
    ("path", "bad", "field"),
    [
        (("createdAt",), True, "createdAt"),
        (("createdAt",), 1.5, "createdAt"),
        (("createdAt",), "12a", "createdAt"),
        (("createdAt",), " 12", "createdAt"),
        (("createdAt",), "1_000", "createdAt"),
        (("createdAt",), str(2**63), "createdAt"),
        (("createdAt",), [], "createdAt"),
        (("event",), 7, "event"),
        (("event",), "", "event"),
        (("id",), None, "id"),
        (("room",), "r", "room"),
        (("room", "name"), 5, "room.name"),
        (("participant", "tracks"), {}, "participant.tracks"),
        (("participant", "tracks", 0, "muted"), "yes", "participant.tracks[0].muted"),
        (("participant", "tracks", 0, "type"), 1, "participant.tracks[0].type"),
        (("egressInfo", "fileResults", 0, "size"), -1.0, "egressInfo.fileResults[0].size"),
        (("ingressInfo", "state", "status"), None, "ingressInfo.state.status"),
    ],
)
def test_wrong_types_are_refused_naming_the_field(
    path: tuple[str | int, ...], bad: Any, field: str
) -> None:
    document = json.loads(json.dumps(_BASE))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = bad
    with pytest.raises(InvalidInput) as info:
        parse_livekit_event(json.dumps(document).encode())
    assert info.value.field == field


def test_int64_may_also_be_a_json_number() -> None:
    event = parse_livekit_event(b'{"event":"x","id":"EV_1","createdAt":1700000000}')
    assert event.created_at == 1_700_000_000
    event = parse_livekit_event(b'{"event":"x","id":"EV_1","createdAt":"-5"}')
    assert event.created_at == -5 and event.created_time is None


@given(st.binary(max_size=64) | _json.map(lambda v: json.dumps(v).encode()))
@example(b"")
@example(b"\xff\xfe")
@example(b"[" * 5000 + b"]" * 5000)
@example(b'{"event":"x","id":"EV_1","room":' + b'{"x":' * 3000 + b"1" + b"}" * 3001)
def test_garbage_is_invalid_input_and_nothing_else(body: bytes) -> None:
    try:
        event = parse_livekit_event(body)
    except InvalidInput as exc:
        assert exc.field
    else:
        assert isinstance(event, LiveKitEvent)


def test_an_ingress_stream_key_is_never_decoded() -> None:
    info = lk_ingress.IngressInfo(ingress_id="IN_1", stream_key="sekret", url="rtmp://x/live")
    event = parse_livekit_event(lk.encode(lk.ingress_event("ingress_started", info)))
    assert "sekret" not in repr(event)


# -- translation -------------------------------------------------------------------------

_room_names = st.text(
    st.characters(categories=("L", "N", "P", "S"), exclude_characters="/\\"),
    min_size=1,
    max_size=20,
)


def _sample_event(name: str, livekit_room: str) -> WebhookEvent:
    if name.startswith(("room_", "agent_")):
        return lk.room_event(name, livekit_room)
    if name.startswith("participant_"):
        return lk.participant_event(
            name, livekit_room, "alice", name="Alice", disconnect_reason=lk_models.CLIENT_INITIATED
        )
    if name.startswith("track_"):
        return lk.track_event(name, livekit_room, "alice", name="cam", muted=True)
    if name.startswith("egress_"):
        info = lk_egress.EgressInfo(
            egress_id="EG_1",
            room_id="RM_1",
            room_name=livekit_room,
            status=lk_egress.EGRESS_COMPLETE,
            started_at=1_700_000_000_000_000_000,
            ended_at=1_700_000_060_500_000_000,
            file_results=[lk_egress.FileInfo(filename="x.mp4", location="s3://b/prj/x.mp4")],
        )
        return lk.egress_event(name, info)
    info_in = lk_ingress.IngressInfo(
        ingress_id="IN_1",
        room_name=livekit_room,
        participant_identity="obs",
        stream_key="sekret",
        state=lk_ingress.IngressState(status=lk_ingress.IngressState.ENDPOINT_PUBLISHING),
    )
    return lk.ingress_event(name, info_in)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return [value] if isinstance(value, str) else []


@given(
    name=st.sampled_from(sorted(LIVEKIT_EVENTS)), room=_room_names.filter(lambda r: r.strip() == r)
)
def test_every_livekit_event_translates_with_the_projects_own_room(name: str, room: str) -> None:
    livekit_room = rooms.to_livekit(PROJECT, room)
    event = parse_livekit_event(lk.encode(_sample_event(name, livekit_room)))
    assert project_room_of(event) == (PROJECT, room)
    pulse_id = "eg_1" if name.startswith("egress_") else "ig_1"
    result = translate(event, PROJECT, pulse_id=pulse_id)
    if LIVEKIT_EVENTS[name] is None:
        assert result is None
        return
    assert result is not None
    event_type, data = result
    assert event_type == LIVEKIT_EVENTS[name] and event_type in EVENT_TYPES
    assert data["room"] == room
    # LiveKit's names and ids stay inside: no namespaced room, no EG_/IN_ id, no key.
    assert all(PROJECT not in s and "EG_1" not in s and "IN_1" not in s for s in _strings(data))
    assert "sekret" not in json.dumps(data) and "s3://" not in json.dumps(data)
    assert msgspec.json.decode(msgspec.json.encode(data)) == data  # plain JSON
    # Another project never hears of it.
    assert translate(event, OTHER, pulse_id=pulse_id) is None


def test_translated_data() -> None:
    livekit_room = rooms.to_livekit(PROJECT, "demo")

    def data(name: str) -> dict[str, Any]:
        event = parse_livekit_event(lk.encode(_sample_event(name, livekit_room)))
        result = translate(event, PROJECT, pulse_id="eg_1" if "egress" in name else "ig_1")
        assert result is not None
        return result[1]

    assert data("room_started") == {"room": "demo", "room_sid": "RM_test"}
    left = data("participant_left")
    assert left["reason"] == "client_initiated"
    assert left["participant"]["identity"] == "alice" and left["participant"]["kind"] == "standard"
    assert left["participant"]["name"] == "Alice" and left["participant"]["joined_at"].endswith("Z")
    assert data("participant_connection_aborted")["reason"] == "connection_aborted"
    assert "reason" not in data("participant_joined")
    assert data("track_published")["track"] == {
        "sid": "TR_test",
        "kind": "video",
        "source": "camera",
        "muted": True,
        "name": "cam",
    }
    assert data("egress_ended") == {
        "egress_id": "eg_1",
        "room": "demo",
        "status": "complete",
        "started_at": "2023-11-14T22:13:20Z",
        "ended_at": "2023-11-14T22:14:20.500000Z",
        "error": None,
    }
    ingress = data("ingress_started")
    assert ingress["ingress_id"] == "ig_1" and ingress["status"] == "publishing"


def test_what_makes_no_pulse_event() -> None:
    ours = rooms.to_livekit(PROJECT, "demo")
    started = parse_livekit_event(lk.encode(lk.room_event("room_started", ours)))
    foreign = parse_livekit_event(lk.encode(lk.room_event("room_started", "someone-elses-room")))
    assert project_room_of(foreign) is None
    assert translate(foreign, PROJECT) is None
    unknown = msgspec.structs.replace(started, event="room_exploded")
    assert translate(unknown, PROJECT) is None
    egress = parse_livekit_event(lk.encode(_sample_event("egress_started", ours)))
    assert translate(egress, PROJECT) is None  # no Pulse id: not Pulse's egress
    no_participant = msgspec.structs.replace(started, event="participant_joined")
    assert translate(no_participant, PROJECT) is None


def test_a_web_egress_has_no_room_and_belongs_to_its_records_project() -> None:
    info = lk_egress.EgressInfo(egress_id="EG_web", status=lk_egress.EGRESS_LIMIT_REACHED)
    event = parse_livekit_event(lk.encode(lk.egress_event("egress_ended", info)))
    assert project_room_of(event) is None
    result = translate(event, PROJECT, pulse_id="eg_web")
    assert result is not None
    assert result[1]["room"] is None and result[1]["status"] == "complete"
    assert result[1]["error"] == "stopped at LiveKit's time limit"
