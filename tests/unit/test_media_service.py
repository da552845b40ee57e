"""MediaService rules that the HTTP suite does not reach: recording ids, room
directories, redaction, compensation, vanished egresses, and (with LiveKit and S3) that
a file egress uploads exactly where the recordings list looks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pulse_adapters.clock import ManualClock
from pulse_adapters.livekit import LiveKitMediaEngine
from pulse_adapters.memory import (
    InMemoryEgressRecordRepository,
    InMemoryIngressRecordRepository,
    InMemoryMediaEngine,
    InMemoryObjectStorage,
)
from pulse_adapters.memory.usage import InMemoryConnectionRepository, InMemoryUsageRepository
from pulse_adapters.s3 import S3Config, S3ObjectStorage
from pulse_core import rooms
from pulse_core.errors import InvalidInput, NotFound, Unavailable
from pulse_core.livekit_webhooks.protocol import IngressState, Int64
from pulse_core.models import Project
from pulse_core.models.media import CreateIngress, Egress, FileOutputSpec, Ingress, StartEgress
from pulse_core.ports.storage import validate_key
from pulse_core.recordings import recording_id, recording_key, room_directory
from pulse_core.services.egress_plan import redact_stream_url
from pulse_core.services.media import MediaService
from pulse_core.services.metering import UsageMeter
from tests.support.builders import org, project
from tests.support.livekit_twirp_server import LiveKitTwirpServer
from tests.support.moto_server import MotoS3, moto_admin_client
from tests.support.urls import url_guard_for_tests

KEY, SECRET = "APIpulseUnit", "pulse-unit-secret-0123456789abcdefghijklmnop"


class Setup(msgspec.Struct, kw_only=True):
    service: MediaService
    engine: InMemoryMediaEngine
    storage: InMemoryObjectStorage
    egress: InMemoryEgressRecordRepository
    ingress: InMemoryIngressRecordRepository
    project: Project


@pytest.fixture
def setup(clock: ManualClock) -> Setup:
    storage = InMemoryObjectStorage(clock)
    engine = InMemoryMediaEngine(clock, file_sink=storage.put)
    egress, ingress = InMemoryEgressRecordRepository(), InMemoryIngressRecordRepository()
    service = MediaService(engine, egress, ingress, storage, clock, url_guard=url_guard_for_tests())
    return Setup(
        service=service,
        engine=engine,
        storage=storage,
        egress=egress,
        ingress=ingress,
        project=project(org().id),
    )


# -- pure helpers --------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=300).filter(lambda k: "\x00" not in k))
@example("rooms/demo/a.mp4")  # a key: its id names it
@example("rooms/../a.mp4")  # not a key: its id names nothing
def test_recording_ids_round_trip(key: str) -> None:
    try:
        rid = recording_id(key)
    except UnicodeEncodeError:  # lone surrogates cannot be keys at all
        return
    try:
        expected: str | None = validate_key(key)
    except InvalidInput:
        expected = None  # a key the key rules refuse: no id names it
    assert recording_key(rid) == expected
    assert rid.startswith("rec_") and "/" not in rid and "=" not in rid


def test_recording_ids_refuse_non_canonical_and_bad_keys() -> None:
    good = recording_id("rooms/demo/a.mp4")
    assert recording_key(good) == "rooms/demo/a.mp4"
    for bad in (
        good + "=",  # padding: another spelling of the same bytes
        good + "A",  # trailing bits: base64 that decodes, but not canonically
        recording_id("rooms/../../x.mp4"),
        recording_id("/abs.mp4"),
        recording_id("a//b.mp4"),
        "rec_" + "A" * 2000,
        "rec_@@",
        "rec_",
        "eg_01",
    ):
        assert recording_key(bad) is None, bad


@pytest.mark.parametrize(
    ("room", "directory"),
    [
        ("demo", "rooms/demo/"),
        (".", "rooms/%2E/"),
        ("..", "rooms/%2E./"),
        ("50% off", "rooms/50%25 off/"),
        ("%2E", "rooms/%252E/"),
        ("café ☕", "rooms/café ☕/"),
        (None, "web/"),
    ],
)
def test_room_directories_are_valid_and_distinct(room: str | None, directory: str) -> None:
    assert room_directory(room) == directory


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop",
            "rtmp://a.rtmp.youtube.com/live2/***mnop",
        ),
        ("rtmps://live.example.com:443/app/short", "rtmps://live.example.com:443/app/***"),
        ("rtmp://user:pass@host/app/streamkey-0123456789", "rtmp://***@host/app/***6789"),
        ("rtmp://host/app/key?token=secret", "rtmp://host/app/***?***"),
        ("rtmp://host", "rtmp://host"),
        ("rtmp://host/onlykey", "rtmp://host/***"),
        # The key is not always the last segment: everything after the application goes.
        ("rtmp://8.8.8.8/live2/abcd-efgh-ijkl-mnop/.", "rtmp://8.8.8.8/live2/***op/."),
        ("rtmp://host/app/inst/SECRETKEYLONGLONG/x", "rtmp://host/app/***NG/x"),
    ],
)
def test_stream_urls_are_redacted(url: str, redacted: str) -> None:
    assert redact_stream_url(url) == redacted


@given(
    key=st.text(alphabet="ABCDEFGHJKMNPQRSTVWXYZ0123456789", min_size=8, max_size=40),
    before=st.lists(st.sampled_from(["inst", "x", "."]), max_size=2),
    after=st.lists(st.sampled_from(["x", ".", "", "live"]), max_size=3),
)
def test_no_stream_key_survives_redaction_wherever_it_sits(
    key: str, before: list[str], after: list[str]
) -> None:
    url = "rtmp://live.example.com/app/" + "/".join([*before, key, *after])
    assert key[:-4] not in redact_stream_url(url).removeprefix("rtmp://live.example.com/app/")


# -- service rules ---------------------------------------------------------------------------


async def test_odd_room_names_record_into_their_own_directory(setup: Setup) -> None:
    service, me = setup.service, setup.project
    made = {}
    for room in ("..", "%2E.", "50% off"):
        egress = await service.start_egress(me, StartEgress(room=room))
        await service.stop_egress(me, egress.id)
        await service.get_egress(me, egress.id)
        made[room] = egress
    for room, egress in made.items():
        page = await service.list_recordings(me, room=room)
        assert [r.id for r in page.items] == [egress.outputs[0].recording_id]  # type: ignore[union-attr]
        assert page.items[0].room == room
        url = await service.recording_url(me, page.items[0].id)
        assert await setup.storage.fetch(url.url)


async def test_a_failed_ownership_record_stops_what_the_engine_started(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(_: object) -> None:
        raise Unavailable("database down")

    monkeypatch.setattr(setup.egress, "add", down)
    monkeypatch.setattr(setup.ingress, "add", down)
    with pytest.raises(Unavailable):
        await setup.service.start_egress(setup.project, StartEgress(room="demo"))
    (orphan,) = await setup.engine.list_egress()
    assert orphan.status in ("ending", "complete")  # stopped, not left recording
    with pytest.raises(Unavailable):
        await setup.service.create_ingress(
            setup.project, CreateIngress(room="demo", type="rtmp", participant_identity="x")
        )
    assert await setup.engine.list_ingress() == []


async def test_an_egress_the_engine_forgot_is_aborted(setup: Setup, clock: ManualClock) -> None:
    service, me = setup.service, setup.project
    egress = await service.start_egress(me, StartEgress(room="demo"))
    forgetful = InMemoryMediaEngine(clock)  # as after a restart of the simulated engine
    service = MediaService(
        forgetful,
        setup.egress,
        setup.ingress,
        setup.storage,
        clock,
        url_guard=url_guard_for_tests(),
    )

    listed = await service.list_egress(me)
    assert [(e.id, e.status) for e in listed.items] == [(egress.id, "aborted")]
    got = await service.get_egress(me, egress.id)
    assert got.status == "aborted" and got.error and got.ended_at is not None
    assert (await service.stop_egress(me, egress.id)).status == "aborted"


async def test_stop_racing_an_egress_that_ended_returns_it(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, me = setup.service, setup.project
    egress = await service.start_egress(me, StartEgress(room="demo"))
    await setup.engine.stop_egress(egress.engine_id)  # ended behind Pulse's back

    stopped = await service.stop_egress(me, egress.id)
    assert stopped.status == "complete"

    async def refuse(_: str) -> Any:
        raise AssertionError("an ended egress is not stopped again")

    monkeypatch.setattr(setup.engine, "stop_egress", refuse)
    monkeypatch.setattr(setup.engine, "get_egress", refuse)
    assert (await service.stop_egress(me, egress.id)).status == "complete"


async def test_ids_of_another_project_never_reach_the_engine(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, me, other = setup.service, setup.project, project(org().id)
    egress = await service.start_egress(me, StartEgress(room="demo"))
    ingress = await service.create_ingress(
        me, CreateIngress(room="demo", type="whip", participant_identity="x")
    )
    calls: list[str] = []
    for name in ("stop_egress", "get_egress", "delete_ingress", "get_ingress"):

        async def spy(*args: object, _name: str = name, **kwargs: object) -> Any:
            calls.append(_name)
            raise AssertionError("the engine must not be asked")

        monkeypatch.setattr(setup.engine, name, spy)
    for call in (
        service.get_egress(other, egress.id),
        service.stop_egress(other, egress.id),
        service.delete_ingress(other, ingress.id),
        service.get_ingress(other, ingress.id),
        service.get_egress(me, egress.engine_id),  # the engine's id is not an id here
    ):
        with pytest.raises(NotFound):
            await call
    assert calls == []


async def test_default_extensions(setup: Setup) -> None:
    service, me = setup.service, setup.project

    async def filepath(**fields: Any) -> str:
        egress = await service.start_egress(me, StartEgress(**fields))
        return egress.outputs[0].filepath  # type: ignore[union-attr]

    assert (await filepath(room="d", audio_only=True)).endswith(".ogg")
    assert (await filepath(room="d", kind="track", track_id="TR_1")).endswith(".webm")
    assert await filepath(room="d", output=FileOutputSpec(filepath="a/b")) == "a/b.mp4"
    assert await filepath(room="d", output=FileOutputSpec(filepath="a/B.MP4")) == "a/B.MP4"
    with pytest.raises(InvalidInput) as raised:
        await filepath(room="d", output=FileOutputSpec(filepath="x" * 300 + "/y.mp4"))
    assert raised.value.field == "output.filepath"


async def test_service_refuses_unknown_kinds_and_types_for_embedders(setup: Setup) -> None:
    with pytest.raises(InvalidInput) as kind:
        await setup.service.start_egress(setup.project, StartEgress(room="d", kind="movie"))
    assert kind.value.field == "kind"
    with pytest.raises(InvalidInput) as type_:
        await setup.service.create_ingress(
            setup.project, CreateIngress(room="d", type="srt", participant_identity="x")
        )
    assert type_.value.field == "type"


# -- LiveKit + S3: the file lands where the list looks ------------------------------------


@pytest.fixture
def twirp() -> Iterator[LiveKitTwirpServer]:
    with LiveKitTwirpServer(KEY, SECRET) as server:
        yield server


async def test_livekit_egress_uploads_where_the_recordings_list_looks(
    twirp: LiveKitTwirpServer, moto_s3: MotoS3, clock: ManualClock
) -> None:
    storage = S3ObjectStorage(
        S3Config(
            bucket=moto_s3.bucket,
            access_key_id=moto_s3.access_key_id,
            secret_access_key=moto_s3.secret_access_key,
            region=moto_s3.region,
            endpoint_url=moto_s3.endpoint_url,
            egress_endpoint_url="http://minio-for-egress:9000",
            force_path_style=True,
            prefix="pulse/",
            max_attempts=1,
        )
    )
    engine = LiveKitMediaEngine(twirp.url, KEY, SECRET, timeout_seconds=2.0)
    egress_records, ingress_records = (
        InMemoryEgressRecordRepository(),
        InMemoryIngressRecordRepository(),
    )
    service = MediaService(
        engine,
        egress_records,
        ingress_records,
        storage,
        clock,
        upload_target=storage,
        url_guard=url_guard_for_tests(),
    )
    me = project(org().id)
    try:
        egress = await service.start_egress(me, StartEgress(room="demo"))
        sent = twirp.state.egress_requests[egress.engine_id]
        (file_output,) = sent.file_outputs  # type: ignore[attr-defined]
        assert sent.room_name == rooms.to_livekit(me.id, "demo")  # type: ignore[attr-defined]
        s3 = file_output.s3
        assert (s3.bucket, s3.endpoint, s3.force_path_style) == (
            moto_s3.bucket,
            "http://minio-for-egress:9000",
            True,
        )
        assert (s3.access_key, s3.secret) == (moto_s3.access_key_id, moto_s3.secret_access_key)

        # The egress worker uploads to the filepath it was given...
        moto_admin_client(moto_s3.endpoint_url).put_object(
            Bucket=moto_s3.bucket, Key=file_output.filepath, Body=b"mp4 bytes"
        )
        assert (await service.stop_egress(me, egress.id)).status == "ending"
        assert (await service.get_egress(me, egress.id)).status == "complete"
        # ...which is exactly the recording the egress announced.
        (recording,) = (await service.list_recordings(me, room="demo")).items
        assert recording.id == egress.outputs[0].recording_id  # type: ignore[union-attr]
        assert recording.size == len(b"mp4 bytes")
        url = await service.recording_url(me, recording.id)
        assert moto_s3.bucket in url.url
    finally:
        await engine.aclose()
        await storage.aclose()


def test_records_never_keep_ingress_keys_in_their_repr() -> None:
    me = project(org().id)
    from datetime import UTC, datetime

    at = datetime(2030, 1, 1, tzinfo=UTC)
    ingress = Ingress(
        id="ig_1",
        project_id=me.id,
        engine_id="IN_1",
        type="rtmp",
        room="demo",
        livekit_room=rooms.to_livekit(me.id, "demo"),
        url="rtmp://h/live",
        stream_key="super-secret-key",
        participant_identity="x",
        created_at=at,
        updated_at=at,
    )
    assert "super-secret-key" not in repr(ingress)
    assert Egress.__struct_fields__  # the egress record has no stream key field at all
    assert not any("key" in name for name in Egress.__struct_fields__)


def test_names_stay_importable_from_the_service_module() -> None:
    # Embedders imported the request types and naming functions from the service
    # module before they moved to their own modules; those imports keep working.
    from pulse_core import recordings
    from pulse_core.models import media as models
    from pulse_core.services import egress_plan
    from pulse_core.services import media as service

    for name in ("StartEgress", "CreateIngress", "FileOutputSpec", "HlsOutputSpec"):
        assert getattr(service, name) is getattr(models, name)
    assert service.RtmpOutputSpec is models.RtmpOutputSpec
    assert service.OutputSpec == models.OutputSpec
    for name in ("recording_id", "recording_key", "room_directory"):
        assert getattr(service, name) is getattr(recordings, name)
    assert service.redact_stream_url is egress_plan.redact_stream_url
    assert service.DEFAULT_URL_EXPIRY_SECONDS == 3600


async def test_a_refresh_racing_the_media_servers_end_never_revives_the_egress(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook that ends an egress can land while a read is asking the engine: the
    read's older answer must not overwrite the end."""
    me = setup.project
    egress = await setup.service.start_egress(me, StartEgress(room="demo"))
    real_get = setup.engine.get_egress

    async def engine_answer_then_webhook(engine_id: str) -> Any:
        info = await real_get(engine_id)  # the engine's answer: still running
        stored = await setup.egress.get(me.id, egress.id)
        assert stored is not None and not stored.ended
        ended = msgspec.structs.replace(
            stored, status="complete", ended_at=stored.started_at, updated_at=stored.started_at
        )
        await setup.egress.update(ended)  # ...and the webhook lands meanwhile
        return info

    monkeypatch.setattr(setup.engine, "get_egress", engine_answer_then_webhook)
    seen = await setup.service.get_egress(me, egress.id)
    assert seen.status == "complete"
    stored = await setup.egress.get(me.id, egress.id)
    assert stored is not None and stored.status == "complete"


async def test_an_ingress_deleted_while_a_list_asks_the_engine_does_not_fail_the_list(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = setup.project
    ingress = await setup.service.create_ingress(
        me, CreateIngress(room="demo", type="whip", participant_identity="x")
    )
    real_list = setup.engine.list_ingress

    async def engine_answer_then_delete(**kwargs: Any) -> Any:
        infos = await real_list(**kwargs)
        assert await setup.ingress.delete(me.id, ingress.id)  # another request, meanwhile
        return [msgspec.structs.replace(i, status="publishing") for i in infos]

    monkeypatch.setattr(setup.engine, "list_ingress", engine_answer_then_delete)
    listed = await setup.service.list_ingress(me)
    assert [i.id for i in listed.items] == [ingress.id]  # as it was when listed
    assert await setup.ingress.get(me.id, ingress.id) is None  # and not written back


async def test_an_ingress_whose_session_cannot_be_metered_is_not_deleted(
    setup: Setup, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metering the session of a deleted ingress is what stands in for LiveKit's late
    report of it: if the usage store is down, the record stays (the call fails), so that
    the report, when it comes, still finds the record and meters the session."""
    usage = InMemoryUsageRepository()
    meter = UsageMeter(usage, InMemoryConnectionRepository(), clock)
    service = MediaService(
        setup.engine,
        setup.egress,
        setup.ingress,
        setup.storage,
        clock,
        url_guard=url_guard_for_tests(),
        meter=meter,
    )
    me = setup.project
    ingress = await service.create_ingress(
        me, CreateIngress(room="demo", type="rtmp", participant_identity="obs")
    )
    record = await setup.ingress.get(me.id, ingress.id)
    assert record is not None
    started = clock.now() - timedelta(seconds=90)
    setup.engine.simulate_session(record.engine_id, started_at_ns=_ns(started))

    async def down(records: object) -> int:
        raise Unavailable("usage store down")

    monkeypatch.setattr(usage, "record", down)
    with pytest.raises(Unavailable):
        await service.delete_ingress(me, ingress.id)
    assert await setup.ingress.get(me.id, ingress.id) is not None
    monkeypatch.undo()

    # The store is back: LiveKit's report finds the record and meters the 2 minutes
    # (here by the same call the worker makes for it).
    await meter.ingress_ended(
        record,
        IngressState(started_at=Int64(_ns(started)), ended_at=Int64(_ns(clock.now()))),
        clock.now(),
    )
    totals = await usage.totals(
        [me.id],
        granularity="day",
        since=started - timedelta(days=1),
        until=clock.now() + timedelta(days=1),
        metrics=["ingress_minutes"],
    )
    assert sum(t.quantity for t in totals) == 2


def _ns(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
