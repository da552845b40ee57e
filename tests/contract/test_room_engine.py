"""The RoomEngine contract, on the simulated engine and on LiveKit.

The LiveKit run is the real ``livekit-api`` SDK over HTTP against the Twirp test server
(tests/support/livekit_twirp_server/) with ``narrow_grants=True``: it checks every
request's JWT and refuses a token that lacks the grant its RPC needs (``roomCreate``,
``roomList``, ``roomAdmin`` for that very room) *or* carries any privileged grant more, so
every test of the shared suite also proves the adapter signs with the narrowest token that
works. People join through each engine's own side (the simulator API, or the double's
``add_participant``): a :class:`Stage` hands the shared suite the port plus those hooks.
After the shared suite come tests of each adapter's own side.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass

import pytest
from livekit import api
from livekit.protocol import models as lk_models
from livekit.protocol import room as lk_room

from pulse_adapters.clock import ManualClock
from pulse_adapters.livekit import LiveKitMediaEngine, LiveKitRoomEngine
from pulse_adapters.memory import InMemoryMediaEngine, InMemoryRoomEngine
from pulse_core.errors import Conflict, InvalidInput, NotFound, Unavailable
from pulse_core.models.rooms import (
    ParticipantPatch,
    ParticipantPermission,
    PermissionPatch,
    SendData,
    TrackSource,
)
from pulse_core.ports.media import EgressRequest, FileTarget, MediaEngine
from pulse_core.ports.rooms import RoomEngine, RoomRequest
from tests.support.livekit_twirp_server import REQUIRED_GRANTS, LiveKitTwirpServer

KEY = "APIpulseRoomsKey"
SECRET = "pulse-rooms-secret-0123456789abcdefghijklmn"
PREFIX = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9W_"
OTHER_PREFIX = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9X_"
ROOM = PREFIX + "demo"

Join = Callable[[str, str, Sequence[TrackSource]], None]


@dataclass
class Stage:
    """The engine under test, how people join its rooms, and the media engine whose
    egresses record them."""

    engine: RoomEngine
    join: Join
    media: MediaEngine


# -- the simulated engine --------------------------------------------------------------------


@pytest.fixture
def memory_media(clock: ManualClock) -> InMemoryMediaEngine:
    return InMemoryMediaEngine(clock)


@pytest.fixture
def memory_rooms(clock: ManualClock, memory_media: InMemoryMediaEngine) -> InMemoryRoomEngine:
    return InMemoryRoomEngine(clock, media=memory_media)


@pytest.fixture
def memory_stage(memory_rooms: InMemoryRoomEngine, memory_media: InMemoryMediaEngine) -> Stage:
    def join(room: str, identity: str, sources: Sequence[TrackSource]) -> None:
        memory_rooms.simulate_join(room, identity, tracks=sources)

    return Stage(engine=memory_rooms, join=join, media=memory_media)


# -- LiveKit ----------------------------------------------------------------------------------

_LK_KIND = {"camera": 1, "screen_share": 1, "microphone": 0, "screen_share_audio": 0}
_LK_SOURCE = {"camera": 1, "microphone": 2, "screen_share": 3, "screen_share_audio": 4}


@pytest.fixture
def twirp() -> Iterator[LiveKitTwirpServer]:
    with LiveKitTwirpServer(KEY, SECRET, narrow_grants=True) as server:
        yield server


@pytest.fixture
async def livekit_media(twirp: LiveKitTwirpServer) -> AsyncIterator[LiveKitMediaEngine]:
    engine = LiveKitMediaEngine(twirp.url, KEY, SECRET, timeout_seconds=2.0)
    await engine.start()
    yield engine
    await engine.aclose()


@pytest.fixture
def livekit_rooms(livekit_media: LiveKitMediaEngine) -> LiveKitRoomEngine:
    return LiveKitRoomEngine(livekit_media)


@pytest.fixture
def livekit_stage(
    livekit_rooms: LiveKitRoomEngine, livekit_media: LiveKitMediaEngine, twirp: LiveKitTwirpServer
) -> Stage:
    def join(room: str, identity: str, sources: Sequence[TrackSource]) -> None:
        tracks = [
            lk_models.TrackInfo(
                sid=f"TR_{identity}_{i}",
                type=_LK_KIND[s],  # type: ignore[arg-type]
                source=_LK_SOURCE[s],  # type: ignore[arg-type]
            )
            for i, s in enumerate(sources)
        ]
        twirp.add_participant(room, identity, tracks=tracks)

    return Stage(engine=livekit_rooms, join=join, media=livekit_media)


@pytest.fixture(params=["memory_stage", "livekit_stage"])
def stage(request: pytest.FixtureRequest) -> Stage:
    found: Stage = request.getfixturevalue(request.param)
    return found


@pytest.fixture
def engine(stage: Stage) -> RoomEngine:
    return stage.engine


# -- rooms --------------------------------------------------------------------------------------


async def test_create_applies_the_settings_and_a_second_create_changes_nothing(
    engine: RoomEngine,
) -> None:
    created, is_new = await engine.create_room(
        RoomRequest(
            name=ROOM,
            empty_timeout_seconds=600,
            departure_timeout_seconds=45,
            max_participants=8,
            metadata='{"topic": "standup"}',
        )
    )
    assert is_new
    assert created.name == ROOM and created.sid.startswith("RM_")
    assert (created.empty_timeout_seconds, created.departure_timeout_seconds) == (600, 45)
    assert (created.max_participants, created.metadata) == (8, '{"topic": "standup"}')
    assert (created.num_participants, created.num_publishers) == (0, 0)
    assert created.active_recording is False
    assert created.created_at.tzinfo is not None

    again, is_new = await engine.create_room(
        RoomRequest(name=ROOM, empty_timeout_seconds=5, max_participants=2, metadata="other")
    )
    assert not is_new
    assert again.sid == created.sid
    assert (again.empty_timeout_seconds, again.max_participants, again.metadata) == (
        600,
        8,
        '{"topic": "standup"}',
    )
    assert await engine.get_room(ROOM) == again


async def test_a_room_without_settings_gets_the_defaults(engine: RoomEngine) -> None:
    room, _ = await engine.create_room(RoomRequest(name=ROOM))
    assert (room.empty_timeout_seconds, room.departure_timeout_seconds) == (300, 20)
    assert (room.max_participants, room.metadata) == (0, "")


async def test_list_filters_by_prefix_and_orders_by_name(engine: RoomEngine) -> None:
    for name in (PREFIX + "b", OTHER_PREFIX + "a", PREFIX + "a", "outside"):
        await engine.create_room(RoomRequest(name=name))

    assert [r.name for r in await engine.list_rooms(prefix=PREFIX)] == [PREFIX + "a", PREFIX + "b"]
    assert [r.name for r in await engine.list_rooms(prefix=OTHER_PREFIX)] == [OTHER_PREFIX + "a"]
    assert [r.name for r in await engine.list_rooms()] == sorted(
        [PREFIX + "a", PREFIX + "b", OTHER_PREFIX + "a", "outside"]
    )
    assert await engine.list_rooms(prefix=PREFIX + "zz") == []


async def test_metadata_is_replaced_and_cleared(engine: RoomEngine) -> None:
    await engine.create_room(RoomRequest(name=ROOM, metadata="first"))
    assert (await engine.update_room_metadata(ROOM, "second")).metadata == "second"
    assert (await engine.get_room(ROOM)).metadata == "second"
    assert (await engine.update_room_metadata(ROOM, "")).metadata == ""


async def test_missing_rooms_are_not_found(engine: RoomEngine) -> None:
    missing = PREFIX + "nobody"
    for call in (
        engine.get_room(missing),
        engine.update_room_metadata(missing, "x"),
        engine.delete_room(missing),
        engine.list_participants(missing),
        engine.get_participant(missing, "alice"),
        engine.remove_participant(missing, "alice"),
        engine.send_data(missing, SendData(data=b"hi")),
    ):
        with pytest.raises(NotFound):
            await call


async def test_delete_ends_the_room_and_its_participants(stage: Stage) -> None:
    engine = stage.engine
    await engine.create_room(RoomRequest(name=ROOM))
    stage.join(ROOM, "alice", ["camera"])

    await engine.delete_room(ROOM)

    assert await engine.list_rooms(prefix=PREFIX) == []
    with pytest.raises(NotFound):
        await engine.get_participant(ROOM, "alice")
    with pytest.raises(NotFound):
        await engine.delete_room(ROOM)


async def test_a_recorded_room_says_so(stage: Stage) -> None:
    await stage.engine.create_room(RoomRequest(name=ROOM))
    egress = await stage.media.start_egress(
        EgressRequest(kind="room_composite", room_name=ROOM, outputs=[FileTarget(key="r/a.mp4")])
    )
    assert (await stage.engine.get_room(ROOM)).active_recording is True
    await stage.media.get_egress(egress.egress_id)
    await stage.media.stop_egress(egress.egress_id)
    await stage.media.get_egress(egress.egress_id)  # complete
    assert (await stage.engine.get_room(ROOM)).active_recording is False


# -- participants -------------------------------------------------------------------------------


async def test_participants_are_listed_by_identity_with_their_tracks(stage: Stage) -> None:
    engine = stage.engine
    await engine.create_room(RoomRequest(name=ROOM))
    assert await engine.list_participants(ROOM) == []

    stage.join(ROOM, "carol", [])
    stage.join(ROOM, "alice", ["camera", "microphone"])
    stage.join(ROOM, "bob", ["screen_share"])

    people = await engine.list_participants(ROOM)
    assert [p.identity for p in people] == ["alice", "bob", "carol"]
    alice = people[0]
    assert alice.sid and alice.state == "active" and alice.joined_at is not None
    assert [(t.kind, t.source, t.muted) for t in alice.tracks] == [
        ("video", "camera", False),
        ("audio", "microphone", False),
    ]
    assert all(t.sid for t in alice.tracks)
    assert alice.permission == ParticipantPermission(
        can_publish=True, can_subscribe=True, can_publish_data=True, hidden=False
    )
    assert await engine.get_participant(ROOM, "alice") == alice
    room = await engine.get_room(ROOM)
    assert (room.num_participants, room.num_publishers) == (3, 2)


async def test_unknown_participants_and_tracks_are_not_found(stage: Stage) -> None:
    engine = stage.engine
    await engine.create_room(RoomRequest(name=ROOM))
    stage.join(ROOM, "alice", ["microphone"])
    for call in (
        engine.get_participant(ROOM, "nobody"),
        engine.remove_participant(ROOM, "nobody"),
        engine.update_participant(ROOM, "nobody", ParticipantPatch(metadata="x")),
        engine.mute_track(ROOM, "nobody", "TR_x", True),
        engine.mute_track(ROOM, "alice", "TR_doesnotexist", True),
    ):
        with pytest.raises(NotFound):
            await call


async def test_update_sets_name_and_metadata_and_merges_attributes(stage: Stage) -> None:
    engine = stage.engine
    await engine.create_room(RoomRequest(name=ROOM))
    stage.join(ROOM, "alice", [])
    await engine.update_participant(
        ROOM, "alice", ParticipantPatch(attributes={"role": "host", "seat": "1"})
    )

    updated = await engine.update_participant(
        ROOM,
        "alice",
        ParticipantPatch(name="Alice", metadata='{"hand": true}', attributes={"seat": ""}),
    )

    assert (updated.name, updated.metadata) == ("Alice", '{"hand": true}')
    assert updated.attributes == {"role": "host"}
    assert await engine.get_participant(ROOM, "alice") == updated
    # Fields not given are left alone.
    kept = await engine.update_participant(ROOM, "alice", ParticipantPatch(name="Al"))
    assert (kept.name, kept.metadata, kept.attributes) == ("Al", '{"hand": true}', {"role": "host"})


async def test_a_permission_update_changes_only_the_flags_it_names(stage: Stage) -> None:
    engine = stage.engine
    await engine.create_room(RoomRequest(name=ROOM))
    stage.join(ROOM, "alice", ["camera"])

    updated = await engine.update_participant(
        ROOM, "alice", ParticipantPatch(permission=PermissionPatch(can_publish=False))
    )
    assert updated.permission == ParticipantPermission(
        can_publish=False, can_subscribe=True, can_publish_data=True, hidden=False
    )
    hidden = await engine.update_participant(
        ROOM, "alice", ParticipantPatch(permission=PermissionPatch(hidden=True))
    )
    assert hidden.permission == ParticipantPermission(
        can_publish=False, can_subscribe=True, can_publish_data=True, hidden=True
    )


async def test_mute_and_unmute_a_published_track(stage: Stage) -> None:
    engine = stage.engine
    await engine.create_room(RoomRequest(name=ROOM))
    stage.join(ROOM, "alice", ["camera", "microphone"])
    microphone = (await engine.get_participant(ROOM, "alice")).tracks[1]

    muted = await engine.mute_track(ROOM, "alice", microphone.sid, True)

    assert (muted.sid, muted.muted, muted.source) == (microphone.sid, True, "microphone")
    tracks = (await engine.get_participant(ROOM, "alice")).tracks
    assert [t.muted for t in tracks] == [False, True]
    assert (await engine.mute_track(ROOM, "alice", microphone.sid, False)).muted is False


async def test_remove_disconnects_a_participant(stage: Stage) -> None:
    engine = stage.engine
    await engine.create_room(RoomRequest(name=ROOM))
    stage.join(ROOM, "alice", ["camera"])
    stage.join(ROOM, "bob", [])

    await engine.remove_participant(ROOM, "alice")

    assert [p.identity for p in await engine.list_participants(ROOM)] == ["bob"]
    room = await engine.get_room(ROOM)
    assert (room.num_participants, room.num_publishers) == (1, 0)
    with pytest.raises(NotFound):
        await engine.remove_participant(ROOM, "alice")


async def test_send_data_to_a_room(stage: Stage) -> None:
    await stage.engine.create_room(RoomRequest(name=ROOM))
    await stage.engine.send_data(ROOM, SendData(data=b"\x00hello"))
    await stage.engine.send_data(
        ROOM,
        SendData(data=b"x", topic="chat", destination_identities=["alice"], reliable=False),
    )


# -- the simulated engine's own side -------------------------------------------------------------


async def test_simulator_keeps_what_was_sent_and_who_came_and_went(
    memory_rooms: InMemoryRoomEngine,
) -> None:
    engine = memory_rooms
    await engine.create_room(RoomRequest(name=ROOM, max_participants=2))
    packet = SendData(data=b"hi", topic="chat", destination_identities=["bob"])
    await engine.send_data(ROOM, packet)
    assert [(s.room, s.packet) for s in engine.sent_data] == [(ROOM, packet)]

    engine.simulate_join(ROOM, "alice")
    engine.simulate_join(ROOM, "bob", name="Bob", metadata="m", attributes={"k": "v"})
    engine.simulate_join(ROOM, "bob")  # joining again replaces the session: still two
    with pytest.raises(Conflict, match="full"):
        engine.simulate_join(ROOM, "carol")
    track = engine.simulate_publish(ROOM, "alice", "screen_share")
    assert (track.kind, track.source) == ("video", "screen_share")
    assert (await engine.get_room(ROOM)).num_publishers == 1
    engine.simulate_leave(ROOM, "alice")
    with pytest.raises(NotFound):
        engine.simulate_leave(ROOM, "alice")
    assert [p.identity for p in await engine.list_participants(ROOM)] == ["bob"]


async def test_simulated_join_creates_the_room_like_livekit(
    memory_rooms: InMemoryRoomEngine,
) -> None:
    memory_rooms.simulate_join(ROOM, "alice", tracks=["microphone"])
    room = await memory_rooms.get_room(ROOM)
    assert (room.num_participants, room.empty_timeout_seconds) == (1, 300)


async def test_simulated_rooms_without_a_media_engine_are_never_recorded(
    clock: ManualClock,
) -> None:
    engine = InMemoryRoomEngine(clock)
    room, _ = await engine.create_room(RoomRequest(name=ROOM))
    assert room.active_recording is False


# -- LiveKit: tokens and what goes over the wire ---------------------------------------------------


async def test_each_rpc_is_signed_with_exactly_the_grant_it_needs(
    livekit_stage: Stage, twirp: LiveKitTwirpServer
) -> None:
    engine = livekit_stage.engine
    await engine.create_room(RoomRequest(name=ROOM))
    livekit_stage.join(ROOM, "alice", ["camera"])
    await engine.list_rooms(prefix=PREFIX)
    await engine.update_room_metadata(ROOM, "m")
    await engine.list_participants(ROOM)
    track = (await engine.get_participant(ROOM, "alice")).tracks[0]
    await engine.update_participant(
        ROOM, "alice", ParticipantPatch(metadata="x", permission=PermissionPatch(hidden=True))
    )
    await engine.mute_track(ROOM, "alice", track.sid, True)
    await engine.send_data(ROOM, SendData(data=b"hi"))
    await engine.remove_participant(ROOM, "alice")
    await engine.delete_room(ROOM)

    methods = set()
    for call in twirp.state.calls:
        assert call.status == 200, (call.method, call.error_code)
        needed = REQUIRED_GRANTS[f"{call.service}/{call.method}"]
        video = (call.claims or {})["video"]
        if needed == "roomAdmin+room":
            assert (video["roomAdmin"], video["room"]) == (True, ROOM)
        else:
            assert video[needed] is True and "room" not in video
        methods.add(call.method)
    assert methods >= {
        "CreateRoom",
        "ListRooms",
        "UpdateRoomMetadata",
        "ListParticipants",
        "GetParticipant",
        "UpdateParticipant",
        "MutePublishedTrack",
        "SendData",
        "RemoveParticipant",
        "DeleteRoom",
    }


async def test_the_double_refuses_a_token_broader_than_the_rpc_needs(
    twirp: LiveKitTwirpServer, livekit_rooms: LiveKitRoomEngine
) -> None:
    broad = (
        api.AccessToken(KEY, SECRET)
        .with_grants(api.VideoGrants(room_list=True, room_create=True))
        .to_jwt()
    )
    async with api.LiveKitAPI.with_token(broad, url=twirp.url) as client:
        with pytest.raises(api.TwirpError) as refused:
            await client.room.list_rooms(lk_room.ListRoomsRequest())
    assert refused.value.code == "permission_denied"
    assert "roomCreate" in refused.value.message
    await livekit_rooms.list_rooms()  # the adapter's own token passes


async def test_livekit_create_is_an_upsert_which_is_why_the_adapter_looks_first(
    twirp: LiveKitTwirpServer, livekit_rooms: LiveKitRoomEngine
) -> None:
    async with api.LiveKitAPI(url=twirp.url, api_key=KEY, api_secret=SECRET) as client:
        await client.room.create_room(lk_room.CreateRoomRequest(name=ROOM, max_participants=3))
        raw = await client.room.create_room(
            lk_room.CreateRoomRequest(name=ROOM, max_participants=9)
        )
    assert raw.max_participants == 9  # LiveKit's own CreateRoom changed the room
    room, is_new = await livekit_rooms.create_room(RoomRequest(name=ROOM, max_participants=2))
    assert (is_new, room.max_participants) == (False, 9)  # Pulse's did not


async def test_livekit_permission_update_keeps_the_flags_pulse_does_not_show(
    livekit_stage: Stage, twirp: LiveKitTwirpServer
) -> None:
    twirp.add_participant(
        ROOM,
        "alice",
        permission=lk_models.ParticipantPermission(
            can_publish=True,
            can_subscribe=True,
            can_publish_data=True,
            can_update_metadata=True,
            can_publish_sources=[lk_models.TrackSource.MICROPHONE],
        ),
    )
    await livekit_stage.engine.update_participant(
        ROOM, "alice", ParticipantPatch(permission=PermissionPatch(can_subscribe=False))
    )
    permission = twirp.state.participants[ROOM]["alice"].permission
    assert (permission.can_publish, permission.can_subscribe) == (True, False)
    assert permission.can_update_metadata is True
    assert list(permission.can_publish_sources) == [lk_models.TrackSource.MICROPHONE]


async def test_livekit_data_packets_go_out_as_given(
    livekit_stage: Stage, twirp: LiveKitTwirpServer
) -> None:
    await livekit_stage.engine.create_room(RoomRequest(name=ROOM))
    await livekit_stage.engine.send_data(ROOM, SendData(data=b"\x01\x02"))
    await livekit_stage.engine.send_data(
        ROOM,
        SendData(data=b"x", topic="chat", destination_identities=["a", "b"], reliable=False),
    )
    first, second = twirp.state.sent_data
    assert (first.data, first.kind, first.HasField("topic")) == (b"\x01\x02", 0, False)
    assert len(first.nonce) == 16
    assert (second.kind, second.topic, list(second.destination_identities)) == (
        lk_models.DataPacket.Kind.LOSSY,
        "chat",
        ["a", "b"],
    )


async def test_livekit_create_sends_the_settings_once(
    livekit_stage: Stage, twirp: LiveKitTwirpServer
) -> None:
    await livekit_stage.engine.create_room(
        RoomRequest(name=ROOM, empty_timeout_seconds=60, max_participants=3)
    )
    await livekit_stage.engine.create_room(RoomRequest(name=ROOM, max_participants=9))
    (sent,) = [c.request for c in twirp.state.calls_to("CreateRoom")]
    assert isinstance(sent, lk_room.CreateRoomRequest)
    assert (sent.empty_timeout, sent.departure_timeout, sent.max_participants) == (60, 0, 3)
    assert twirp.state.rooms[ROOM].max_participants == 3


# -- LiveKit: faults ----------------------------------------------------------------------------


async def test_livekit_unavailable_is_unavailable_after_one_attempt(
    livekit_rooms: LiveKitRoomEngine, twirp: LiveKitTwirpServer
) -> None:
    twirp.set_unavailable()
    for call in (
        livekit_rooms.list_rooms(),
        livekit_rooms.create_room(RoomRequest(name=ROOM)),
        livekit_rooms.get_participant(ROOM, "alice"),
        livekit_rooms.mute_track(ROOM, "alice", "TR_x", True),
    ):
        with pytest.raises(Unavailable):
            await call
    assert len(twirp.state.calls) == 4


async def test_livekit_slow_answers_become_unavailable_within_the_timeout(
    twirp: LiveKitTwirpServer,
) -> None:
    media = LiveKitMediaEngine(twirp.url, KEY, SECRET, timeout_seconds=0.3)
    twirp.set_delay(3.0)
    try:
        begun = time.monotonic()
        with pytest.raises(Unavailable, match="within"):
            await LiveKitRoomEngine(media).list_rooms()
        assert time.monotonic() - begun < 1.5
    finally:
        twirp.set_delay(0)
        await media.aclose()


async def test_livekit_down_is_unavailable_quickly(twirp: LiveKitTwirpServer) -> None:
    media = LiveKitMediaEngine(twirp.url, KEY, SECRET, timeout_seconds=2.0)
    engine = LiveKitRoomEngine(media)
    twirp.stop()
    try:
        begun = time.monotonic()
        with pytest.raises(Unavailable):
            await engine.create_room(RoomRequest(name=ROOM))
        with pytest.raises(Unavailable):
            await engine.send_data(ROOM, SendData(data=b"x"))
        assert time.monotonic() - begun < 5
        twirp.start()
        await engine.list_rooms()
    finally:
        await media.aclose()


async def test_livekit_refusing_our_credentials_is_our_outage(twirp: LiveKitTwirpServer) -> None:
    media = LiveKitMediaEngine(twirp.url, KEY, "not-" + SECRET, timeout_seconds=2.0)
    try:
        with pytest.raises(Unavailable, match="credentials"):
            await LiveKitRoomEngine(media).delete_room(ROOM)
    finally:
        await media.aclose()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("not_found", NotFound),
        ("invalid_argument", InvalidInput),
        ("failed_precondition", InvalidInput),
        ("internal", Unavailable),
        ("unavailable", Unavailable),
        ("permission_denied", Unavailable),
        ("unauthenticated", Unavailable),
    ],
)
async def test_livekit_errors_are_translated(
    livekit_rooms: LiveKitRoomEngine,
    twirp: LiveKitTwirpServer,
    code: str,
    error: type[Exception],
) -> None:
    twirp.fail_next(code, "injected", method="MutePublishedTrack")
    with pytest.raises(error) as raised:
        await livekit_rooms.mute_track(ROOM, "alice", "TR_x", False)
    assert raised.value.__cause__ is not None
    assert len(twirp.state.calls) == 1


async def test_livekit_room_engine_shares_the_media_engines_session(
    livekit_rooms: LiveKitRoomEngine, livekit_media: LiveKitMediaEngine, twirp: LiveKitTwirpServer
) -> None:
    await asyncio.gather(livekit_media.ping(), livekit_rooms.list_rooms())
    session = livekit_media._session
    await livekit_rooms.list_rooms()
    assert session is not None and livekit_media._session is session
    assert "secret" not in repr(livekit_rooms).replace("secret='***'", "")
