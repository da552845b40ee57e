"""The MediaEngine contract, on the simulated engine and on LiveKit.

The LiveKit run is the real ``livekit-api`` SDK over HTTP against the Twirp test server
(tests/support/livekit_twirp_server/), which checks the SDK's JWT and grants and
validates requests as livekit-server does. The shared suite sees only the port; after it
come tests of each adapter's own side (the simulated engine's files, LiveKit's faults,
credentials, timeouts and what goes over the wire).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from livekit.protocol import egress as lk_egress

from pulse_adapters.clock import ManualClock
from pulse_adapters.livekit import LiveKitMediaEngine, LiveKitRoomEngine
from pulse_adapters.memory import InMemoryMediaEngine
from pulse_adapters.memory.media_engine import PLACEHOLDER
from pulse_core.errors import Conflict, InvalidInput, NotFound, Unavailable
from pulse_core.ports.media import (
    EgressRequest,
    FileTarget,
    IngressRequest,
    MediaEngine,
    SegmentsTarget,
    StreamTarget,
)
from pulse_core.ports.storage import EgressUploadConfig
from tests.support.livekit_twirp_server import LiveKitTwirpServer

KEY = "APIpulseContractKey"
SECRET = "pulse-contract-secret-0123456789abcdefghijkl"
ROOM = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9W_demo"
OTHER_ROOM = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9W_other"
STREAM = "rtmp://live.example.com/app/sk-0123456789abcdef"


@dataclass
class Sink:
    """The simulated engine's file sink, recording what it was given."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    async def __call__(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        self.files[key] = (data, content_type)


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def memory_media_engine(clock: ManualClock, sink: Sink) -> InMemoryMediaEngine:
    return InMemoryMediaEngine(clock, file_sink=sink)


@pytest.fixture
def twirp() -> Iterator[LiveKitTwirpServer]:
    with LiveKitTwirpServer(KEY, SECRET) as server:
        yield server


@pytest.fixture
async def livekit_media_engine(twirp: LiveKitTwirpServer) -> AsyncIterator[LiveKitMediaEngine]:
    engine = LiveKitMediaEngine(twirp.url, KEY, SECRET, timeout_seconds=2.0)
    await engine.start()
    yield engine
    await engine.aclose()


@pytest.fixture(params=["memory_media_engine", "livekit_media_engine"])
def engine(request: pytest.FixtureRequest) -> MediaEngine:
    engine: MediaEngine = request.getfixturevalue(request.param)
    return engine


def file_request(room: str = ROOM, key: str = "projects/p/recordings/x.mp4") -> EgressRequest:
    return EgressRequest(kind="room_composite", room_name=room, outputs=[FileTarget(key=key)])


REQUESTS = {
    "room_composite": EgressRequest(
        kind="room_composite",
        room_name=ROOM,
        layout="grid",
        outputs=[FileTarget(key="r/composite.mp4")],
    ),
    "track_composite": EgressRequest(
        kind="track_composite",
        room_name=ROOM,
        audio_track_id="TR_audio",
        video_track_id="TR_video",
        outputs=[
            SegmentsTarget(
                playlist_key="r/hls/index.m3u8", segment_prefix="r/hls/s", segment_duration=4
            )
        ],
    ),
    "track": EgressRequest(
        kind="track", room_name=ROOM, track_id="TR_video", outputs=[FileTarget(key="r/t.webm")]
    ),
    "participant": EgressRequest(
        kind="participant",
        room_name=ROOM,
        participant_identity="alice",
        outputs=[StreamTarget(urls=[STREAM])],
    ),
    "web": EgressRequest(
        kind="web", url="https://example.com/show", outputs=[FileTarget(key="w/page.mp4")]
    ),
}


# -- egress --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(REQUESTS))
async def test_every_kind_starts_then_becomes_active(engine: MediaEngine, kind: str) -> None:
    request = REQUESTS[kind]
    started = await engine.start_egress(request)

    assert started.egress_id
    assert started.kind == kind
    assert started.status == "starting"
    assert started.room_name == request.room_name
    assert started.started_at is not None and started.ended_at is None
    now = await engine.get_egress(started.egress_id)
    assert now.status == "active"
    assert now.egress_id == started.egress_id


async def test_list_by_room_shows_that_rooms_egresses_oldest_first(engine: MediaEngine) -> None:
    first = await engine.start_egress(file_request())
    other = await engine.start_egress(file_request(OTHER_ROOM))
    second = await engine.start_egress(file_request())

    in_room = await engine.list_egress(room_name=ROOM)
    assert [e.egress_id for e in in_room] == [first.egress_id, second.egress_id]
    assert [e.egress_id for e in await engine.list_egress(room_name=OTHER_ROOM)] == [
        other.egress_id
    ]
    assert {e.egress_id for e in await engine.list_egress()} >= {
        first.egress_id,
        other.egress_id,
        second.egress_id,
    }
    assert await engine.list_egress(room_name=ROOM + "-nobody") == []


async def test_stop_answers_ending_then_complete_and_stopping_again_conflicts(
    engine: MediaEngine,
) -> None:
    started = await engine.start_egress(file_request())
    await engine.get_egress(started.egress_id)  # active

    stopping = await engine.stop_egress(started.egress_id)
    assert stopping.status == "ending"
    done = await engine.get_egress(started.egress_id)
    assert done.status == "complete"
    assert done.ended_at is not None and done.started_at is not None
    assert done.ended_at >= done.started_at
    with pytest.raises(Conflict):
        await engine.stop_egress(started.egress_id)


async def test_a_starting_egress_can_be_stopped(engine: MediaEngine) -> None:
    started = await engine.start_egress(file_request())
    assert (await engine.stop_egress(started.egress_id)).status == "ending"


async def test_unknown_ids_are_not_found(engine: MediaEngine) -> None:
    with pytest.raises(NotFound):
        await engine.get_egress("EG_doesnotexist")
    with pytest.raises(NotFound):
        await engine.stop_egress("EG_doesnotexist")
    with pytest.raises(NotFound):
        await engine.get_ingress("IN_doesnotexist")
    with pytest.raises(NotFound):
        await engine.delete_ingress("IN_doesnotexist")


@pytest.mark.parametrize(
    "bad_url",
    ["http://live.example.com/app/key", "javascript:alert(1)", "srt://host:9000", "rtmp:///nohost"],
)
async def test_stream_urls_must_be_rtmp(engine: MediaEngine, bad_url: str) -> None:
    request = EgressRequest(
        kind="room_composite", room_name=ROOM, outputs=[StreamTarget(urls=[STREAM, bad_url])]
    )
    with pytest.raises(InvalidInput):
        await engine.start_egress(request)
    assert await engine.list_egress(room_name=ROOM) == []


@pytest.mark.parametrize(
    "request_",
    [
        EgressRequest(kind="room_composite", room_name=ROOM, outputs=[]),
        EgressRequest(kind="room_composite", outputs=[FileTarget(key="a.mp4")]),
        EgressRequest(kind="web", outputs=[FileTarget(key="a.mp4")]),
        EgressRequest(kind="participant", room_name=ROOM, outputs=[FileTarget(key="a.mp4")]),
        EgressRequest(kind="track", room_name=ROOM, outputs=[FileTarget(key="a.mp4")]),
        EgressRequest(kind="track_composite", room_name=ROOM, outputs=[FileTarget(key="a.mp4")]),
    ],
    ids=["no-output", "no-room", "web-no-url", "no-identity", "no-track", "no-tracks"],
)
async def test_incomplete_requests_are_invalid(
    engine: MediaEngine, request_: EgressRequest
) -> None:
    with pytest.raises(InvalidInput):
        await engine.start_egress(request_)


# -- ingress -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rtmp", "whip"])
async def test_push_ingress_has_a_url_and_a_stream_key(engine: MediaEngine, kind: str) -> None:
    created = await engine.create_ingress(
        IngressRequest(
            type=kind,  # type: ignore[arg-type]
            room_name=ROOM,
            participant_identity="obs",
            participant_name="OBS",
            name="ig_test",
        )
    )

    assert created.ingress_id and created.type == kind
    assert created.url.startswith("rtmp://" if kind == "rtmp" else "http")
    assert created.stream_key and len(created.stream_key) >= 8
    assert created.room_name == ROOM
    assert (created.participant_identity, created.participant_name) == ("obs", "OBS")
    assert created.status == "inactive"
    assert await engine.get_ingress(created.ingress_id) == created
    again = await engine.create_ingress(
        IngressRequest(type=kind, room_name=ROOM, participant_identity="obs2")  # type: ignore[arg-type]
    )
    assert again.stream_key != created.stream_key


async def test_url_ingress_pulls_its_source_without_a_key(engine: MediaEngine) -> None:
    source = "https://cdn.example.com/live/stream.m3u8"
    created = await engine.create_ingress(
        IngressRequest(type="url", room_name=ROOM, participant_identity="cdn", url=source)
    )
    assert created.url == source
    assert created.stream_key is None
    assert created.participant_name is None


async def test_ingress_list_by_room_and_delete(engine: MediaEngine) -> None:
    a = await engine.create_ingress(
        IngressRequest(type="rtmp", room_name=ROOM, participant_identity="a")
    )
    b = await engine.create_ingress(
        IngressRequest(type="whip", room_name=OTHER_ROOM, participant_identity="b")
    )

    assert [i.ingress_id for i in await engine.list_ingress(room_name=ROOM)] == [a.ingress_id]
    assert {i.ingress_id for i in await engine.list_ingress()} == {a.ingress_id, b.ingress_id}
    deleted = await engine.delete_ingress(a.ingress_id)
    assert (deleted.ingress_id, deleted.room_name, deleted.type) == (a.ingress_id, ROOM, "rtmp")
    assert (deleted.started_at_ns, deleted.ended_at_ns) == (0, 0)  # nobody ever published
    assert await engine.list_ingress(room_name=ROOM) == []
    with pytest.raises(NotFound):
        await engine.get_ingress(a.ingress_id)
    with pytest.raises(NotFound):
        await engine.delete_ingress(a.ingress_id)
    assert (await engine.get_ingress(b.ingress_id)).ingress_id == b.ingress_id


@pytest.mark.parametrize("ended", [False, True], ids=["publishing", "ended"])
async def test_livekit_ingress_reports_its_last_session_to_the_nanosecond(
    twirp: LiveKitTwirpServer, livekit_media_engine: LiveKitMediaEngine, ended: bool
) -> None:
    """The session's times come through exact (usage records are keyed on the start),
    from a read and from the deletion that cuts the publisher off."""
    created = await livekit_media_engine.create_ingress(
        IngressRequest(type="rtmp", room_name=ROOM, participant_identity="obs")
    )
    started, ended_at = 1_764_000_000_123_456_789, 1_764_000_061_987_654_321
    state = twirp.state.ingresses[created.ingress_id].state
    state.status = state.ENDPOINT_INACTIVE if ended else state.ENDPOINT_PUBLISHING
    state.started_at = started
    state.ended_at = ended_at if ended else 0
    read = await livekit_media_engine.get_ingress(created.ingress_id)
    assert read.status == ("inactive" if ended else "publishing")
    assert (read.started_at_ns, read.ended_at_ns) == (started, ended_at if ended else 0)
    deleted = await livekit_media_engine.delete_ingress(created.ingress_id)
    assert (deleted.started_at_ns, deleted.ended_at_ns) == (started, ended_at if ended else 0)


@pytest.mark.parametrize(
    "request_",
    [
        IngressRequest(type="url", room_name=ROOM, participant_identity="x"),
        IngressRequest(type="url", room_name=ROOM, participant_identity="x", url="ftp://h/a"),
        IngressRequest(type="url", room_name=ROOM, participant_identity="", url="https://h/a"),
        IngressRequest(type="url", room_name="", participant_identity="x", url="https://h/a"),
    ],
    ids=["no-url", "ftp", "no-identity", "no-room"],
)
async def test_bad_pull_ingress_is_invalid(engine: MediaEngine, request_: IngressRequest) -> None:
    with pytest.raises(InvalidInput):
        await engine.create_ingress(request_)


async def test_ping_answers_and_aclose_is_idempotent(engine: MediaEngine) -> None:
    await engine.ping()
    await engine.aclose()
    await engine.aclose()


# -- the simulated engine ------------------------------------------------------------------


async def test_simulated_engine_writes_files_only_once_complete(
    memory_media_engine: InMemoryMediaEngine, sink: Sink
) -> None:
    engine = memory_media_engine
    file_egress = await engine.start_egress(file_request(key="p/rooms/demo/a.mp4"))
    hls = await engine.start_egress(REQUESTS["track_composite"])
    for started in (file_egress, hls):
        await engine.get_egress(started.egress_id)
        await engine.stop_egress(started.egress_id)
    assert sink.files == {}

    await engine.list_egress(room_name=ROOM)

    assert sink.files["p/rooms/demo/a.mp4"] == (PLACEHOLDER, "video/mp4")
    playlist, content_type = sink.files["r/hls/index.m3u8"]
    assert content_type == "application/vnd.apple.mpegurl"
    assert b"#EXTM3U" in playlist and b"s_00000.ts" in playlist
    assert "r/hls/s_00000.ts" in sink.files


async def test_simulated_engine_fails_an_egress_whose_file_cannot_be_stored(
    clock: ManualClock,
) -> None:
    async def broken(key: str, data: bytes, *, content_type: str = "") -> None:
        raise Unavailable("disk full")

    engine = InMemoryMediaEngine(clock, file_sink=broken)
    started = await engine.start_egress(file_request())
    await engine.stop_egress(started.egress_id)
    failed = await engine.get_egress(started.egress_id)
    assert failed.status == "failed"
    assert failed.error is not None and "disk full" in failed.error


# -- LiveKit: what goes over the wire ------------------------------------------------------

UPLOAD = EgressUploadConfig(
    bucket="recordings",
    region="auto",
    endpoint="https://acct.r2.cloudflarestorage.com",
    force_path_style=True,
    access_key="AKIAPULSE",
    secret="s3-secret-value",
    key_prefix="pulse/",
)


async def test_livekit_file_outputs_carry_the_s3_upload(
    livekit_media_engine: LiveKitMediaEngine, twirp: LiveKitTwirpServer
) -> None:
    request = EgressRequest(
        kind="room_composite",
        room_name=ROOM,
        outputs=[
            FileTarget(key="projects/p/recordings/rooms/demo/a.ogg"),
            SegmentsTarget(
                playlist_key="projects/p/recordings/rooms/demo/h/index.m3u8",
                segment_prefix="projects/p/recordings/rooms/demo/h/segment",
                segment_duration=6,
            ),
        ],
        upload=UPLOAD,
    )
    started = await livekit_media_engine.start_egress(request)

    sent = twirp.state.egress_requests[started.egress_id]
    assert isinstance(sent, lk_egress.RoomCompositeEgressRequest)
    (file_output,) = sent.file_outputs
    assert file_output.filepath == "pulse/projects/p/recordings/rooms/demo/a.ogg"
    assert file_output.file_type == lk_egress.EncodedFileType.OGG
    s3 = file_output.s3
    assert (s3.bucket, s3.region, s3.endpoint) == ("recordings", "auto", UPLOAD.endpoint)
    assert s3.force_path_style is True
    assert (s3.access_key, s3.secret) == ("AKIAPULSE", "s3-secret-value")
    (segments,) = sent.segment_outputs
    assert segments.playlist_name == "pulse/projects/p/recordings/rooms/demo/h/index.m3u8"
    assert segments.filename_prefix == "pulse/projects/p/recordings/rooms/demo/h/segment"
    assert segments.segment_duration == 6 and segments.s3.bucket == "recordings"
    # What LiveKit echoes never carries the secret.
    assert "s3-secret-value" not in str(twirp.state.egresses[started.egress_id])


async def test_livekit_streams_and_sources_go_out_intact(
    livekit_media_engine: LiveKitMediaEngine, twirp: LiveKitTwirpServer
) -> None:
    started = await livekit_media_engine.start_egress(REQUESTS["participant"])
    sent = twirp.state.egress_requests[started.egress_id]
    assert isinstance(sent, lk_egress.ParticipantEgressRequest)
    assert (sent.room_name, sent.identity) == (ROOM, "alice")
    assert list(sent.stream_outputs[0].urls) == [STREAM]
    assert sent.stream_outputs[0].protocol == lk_egress.StreamProtocol.RTMP

    track = await livekit_media_engine.start_egress(REQUESTS["track"])
    sent_track = twirp.state.egress_requests[track.egress_id]
    assert isinstance(sent_track, lk_egress.TrackEgressRequest)
    assert (sent_track.track_id, sent_track.file.filepath) == ("TR_video", "r/t.webm")
    assert not sent_track.file.HasField("s3")  # no upload config: the worker's own disk


# -- LiveKit: faults -------------------------------------------------------------------------


async def test_livekit_unavailable_is_unavailable_after_one_attempt(
    livekit_media_engine: LiveKitMediaEngine, twirp: LiveKitTwirpServer
) -> None:
    twirp.set_unavailable()
    for call in (
        livekit_media_engine.ping(),
        livekit_media_engine.start_egress(file_request()),
        livekit_media_engine.list_egress(room_name=ROOM),
    ):
        with pytest.raises(Unavailable):
            await call
    # No retry storm: one request per call, however the SDK would like to fail over.
    assert len(twirp.state.calls) == 3


async def test_livekit_refusing_our_credentials_is_our_outage_not_the_callers(
    twirp: LiveKitTwirpServer,
) -> None:
    engine = LiveKitMediaEngine(twirp.url, KEY, "not-" + SECRET, timeout_seconds=2.0)
    try:
        with pytest.raises(Unavailable, match="credentials") as raised:
            await engine.start_egress(file_request())
        assert raised.value.__cause__ is not None
    finally:
        await engine.aclose()
    assert len(twirp.state.calls) == 1
    assert twirp.state.calls[0].status == 401


@pytest.mark.parametrize(
    "body", [b"<html><body>Welcome to nginx!</body></html>", b"\xff\xff\xff\xff", b'{"rooms": 1}']
)
async def test_a_200_that_is_not_livekits_answer_is_unavailable(body: bytes) -> None:
    """Another service on LIVEKIT_HOST (a proxy's page, a captive portal) answers 200."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = LiveKitMediaEngine(f"http://127.0.0.1:{port}", KEY, SECRET, timeout_seconds=2.0)
    room_engine = LiveKitRoomEngine(engine)
    try:
        for call in (
            engine.start_egress(file_request()),
            engine.list_egress(room_name=ROOM),
            room_engine.list_rooms(),
        ):
            with pytest.raises(Unavailable, match="could not be read") as raised:
                await call
            assert raised.value.__cause__ is not None
    finally:
        await engine.aclose()
        server.close()
        await server.wait_closed()


async def test_livekit_slow_answers_become_unavailable_within_the_timeout(
    twirp: LiveKitTwirpServer,
) -> None:
    engine = LiveKitMediaEngine(twirp.url, KEY, SECRET, timeout_seconds=0.3)
    twirp.set_delay(3.0)
    try:
        begun = time.monotonic()
        with pytest.raises(Unavailable, match="within"):
            await engine.get_egress("EG_slow")
        assert time.monotonic() - begun < 1.5
    finally:
        twirp.set_delay(0)
        await engine.aclose()


async def test_livekit_down_is_unavailable_quickly(twirp: LiveKitTwirpServer) -> None:
    engine = LiveKitMediaEngine(twirp.url, KEY, SECRET, timeout_seconds=2.0)
    twirp.stop()
    try:
        begun = time.monotonic()
        with pytest.raises(Unavailable):
            await engine.ping()
        with pytest.raises(Unavailable):
            await engine.create_ingress(
                IngressRequest(type="rtmp", room_name=ROOM, participant_identity="x")
            )
        assert time.monotonic() - begun < 5
        # And back once the server is.
        twirp.start()
        await engine.ping()
    finally:
        await engine.aclose()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("not_found", NotFound),
        ("invalid_argument", InvalidInput),
        ("failed_precondition", InvalidInput),
        ("already_exists", Conflict),
        ("internal", Unavailable),
        ("resource_exhausted", Unavailable),
        ("unavailable", Unavailable),
        ("bad_route", Unavailable),
        ("permission_denied", Unavailable),
        ("unauthenticated", Unavailable),
    ],
)
async def test_livekit_errors_are_translated(
    livekit_media_engine: LiveKitMediaEngine,
    twirp: LiveKitTwirpServer,
    code: str,
    error: type[Exception],
) -> None:
    twirp.fail_next(code, "injected")
    with pytest.raises(error) as raised:
        await livekit_media_engine.start_egress(file_request())
    assert raised.value.__cause__ is not None
    assert len(twirp.state.calls) == 1


async def test_livekit_stop_of_an_ended_egress_is_a_conflict(
    livekit_media_engine: LiveKitMediaEngine, twirp: LiveKitTwirpServer
) -> None:
    started = await livekit_media_engine.start_egress(file_request())
    twirp.advance_egress(started.egress_id, "EGRESS_FAILED", error="boom")
    with pytest.raises(Conflict):
        await livekit_media_engine.stop_egress(started.egress_id)
    failed = await livekit_media_engine.get_egress(started.egress_id)
    assert (failed.status, failed.error) == ("failed", "boom")


async def test_livekit_engine_reopens_after_aclose_and_shares_one_session(
    livekit_media_engine: LiveKitMediaEngine, twirp: LiveKitTwirpServer
) -> None:
    await asyncio.gather(*(livekit_media_engine.ping() for _ in range(5)))
    await livekit_media_engine.aclose()
    await livekit_media_engine.ping()
    assert len(twirp.state.calls_to("ListRooms")) == 6


def test_livekit_engine_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="url"):
        LiveKitMediaEngine("ftp://lk", KEY, SECRET)
    with pytest.raises(ValueError, match="api_key"):
        LiveKitMediaEngine("https://lk.example.com", "", SECRET)
    with pytest.raises(ValueError, match="timeout"):
        LiveKitMediaEngine("https://lk.example.com", KEY, SECRET, timeout_seconds=0)
    assert SECRET not in repr(LiveKitMediaEngine("wss://lk.example.com", KEY, SECRET))
