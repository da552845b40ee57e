"""Webhook endpoints and deliveries in the core: the retry schedule, Retry-After, 410,
disabling, dead letters, retry and replay, secret rotation, two tenants. A scripted
sender stands in for HTTP here; tests/http/test_webhooks.py posts to real receivers."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import (
    InMemoryDeliveryRepository,
    InMemoryEventRepository,
    InMemoryJobQueue,
    InMemoryLocks,
    InMemoryWebhookEndpointRepository,
)
from pulse_core import ids
from pulse_core.errors import Conflict, InvalidInput, NotFound, Unavailable
from pulse_core.models.events import EndpointPatch, EndpointSpec, Event
from pulse_core.models.jobs import QUEUE, DeliverWebhook, decode_job
from pulse_core.ports.webhook_sender import (
    DeliveryFailed,
    WebhookRequest,
    WebhookResponse,
    WebhookSender,
)
from pulse_core.services import webhook_deliveries
from pulse_core.services.delivery import UNEXPECTED, DeliveryService, RetrySchedule
from pulse_core.services.event_log import EventLog
from pulse_core.services.webhook_deliveries import Replayed
from pulse_core.services.webhooks import WebhookService
from tests.support.builders import org, project
from tests.support.urls import url_guard_for_tests

URL = "https://hooks.example.com/pulse"


class ScriptedSender(WebhookSender):
    """Answers from a script (a status, ``(status, retry_after)`` or an exception)."""

    def __init__(self) -> None:
        self.script: deque[object] = deque()
        self.sent: list[WebhookRequest] = []

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        self.sent.append(request)
        answer = self.script.popleft() if self.script else 200
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, tuple):
            return WebhookResponse(status_code=answer[0], retry_after_seconds=answer[1])
        assert isinstance(answer, int)
        return WebhookResponse(status_code=answer, excerpt=f"answer {answer}")


@dataclass
class World:
    clock: ManualClock
    sender: ScriptedSender = field(default_factory=ScriptedSender)

    def __post_init__(self) -> None:
        self.events = InMemoryEventRepository()
        self.endpoints = InMemoryWebhookEndpointRepository()
        self.deliveries = InMemoryDeliveryRepository()
        self.queue = InMemoryJobQueue(self.clock)
        self.log = EventLog(self.events, self.endpoints, self.deliveries, self.queue, self.clock)
        self.webhooks = WebhookService(
            self.endpoints,
            self.deliveries,
            self.events,
            self.log,
            self.clock,
            urls=url_guard_for_tests(),
            locks=InMemoryLocks(),
        )
        self.delivery = DeliveryService(
            self.events,
            self.endpoints,
            self.deliveries,
            self.sender,
            self.clock,
            urls=url_guard_for_tests(),
            schedule=RetrySchedule((0, 5, 60)),
            disable_after_seconds=3600,
            jitter=lambda delay: delay,
        )
        self.project = project(org().id)
        self.other = project(org().id)

    def event(self, type_: str = "room.started", *, project_id: str | None = None) -> Event:
        now = self.clock.now()
        return Event(
            id=ids.new_id(ids.EVENT, now_ms=ids.ms_of(now)),
            project_id=project_id or self.project.id,
            type=type_,  # type: ignore[arg-type]
            timestamp=now,
            data={"room": "demo"},
        )

    async def queued(self) -> list[DeliverWebhook]:
        jobs = await self.queue.reserve(QUEUE, "test", max_jobs=100, wait_seconds=0)
        for job in jobs:
            await self.queue.ack(QUEUE, job.id)
        decoded = [decode_job(job.payload) for job in jobs]
        return [job for job in decoded if isinstance(job, DeliverWebhook)]


@pytest.fixture
def world() -> World:
    # Started at the real time: the standardwebhooks library checks the timestamp.
    return World(ManualClock(datetime.now(tz=UTC)))


async def test_a_delivery_is_signed_for_the_standard_webhooks_library(world: World) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [delivery] = await world.log.publish(world.event())
    assert await world.delivery.attempt(world.project.id, delivery.id) is None
    [request] = world.sender.sent
    assert request.url == URL and [str(a) for a in request.addresses] == ["93.184.216.34"]
    received = Webhook(created.secret).verify(request.body, request.headers)
    assert received["type"] == "room.started" and received["project_id"] == world.project.id
    assert request.headers["webhook-id"] == delivery.event_id
    stored = await world.webhooks.get_delivery(world.project, delivery.id)
    assert stored.status == "succeeded" and stored.attempts[0].status_code == 200


async def test_the_schedule_then_the_dead_letter_then_a_retry_with_a_fresh_round(
    world: World,
) -> None:
    await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [delivery] = await world.log.publish(world.event())
    world.sender.script.extend([500, 500, 500])
    assert await world.delivery.attempt(world.project.id, delivery.id) == 5
    failed = await world.webhooks.get_delivery(world.project, delivery.id)
    assert failed.status == "failed" and failed.next_attempt_at == world.clock.now() + timedelta(
        seconds=5
    )
    assert await world.delivery.attempt(world.project.id, delivery.id) == 60
    assert await world.delivery.attempt(world.project.id, delivery.id) is None
    dead = await world.webhooks.get_delivery(world.project, delivery.id)
    assert dead.status == "dead" and [a.status_code for a in dead.attempts] == [500] * 3
    assert await world.delivery.attempt(world.project.id, delivery.id) is None  # stays dead

    await world.queued()
    retried = await world.webhooks.retry_delivery(world.project, delivery.id)
    assert retried.status == "pending" and retried.round_start == 3
    assert [j.delivery_id for j in await world.queued()] == [delivery.id]
    world.sender.script.append(500)
    assert await world.delivery.attempt(world.project.id, delivery.id) == 5  # a whole new round


async def test_a_retry_the_queue_cannot_take_changes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 (the job queue down) must not leave the delivery "pending" for ever."""
    await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [delivery] = await world.log.publish(world.event())
    world.sender.script.extend([500, 500, 500])
    for _ in range(3):
        await world.delivery.attempt(world.project.id, delivery.id)
    dead = await world.webhooks.get_delivery(world.project, delivery.id)
    assert dead.status == "dead"

    async def down(queue: str, payload: bytes, *, delay_seconds: float = 0) -> str:
        raise Unavailable("job queue backend (redis) is unavailable")

    monkeypatch.setattr(world.queue, "enqueue", down)
    with pytest.raises(Unavailable):
        await world.webhooks.retry_delivery(world.project, delivery.id)
    assert await world.webhooks.get_delivery(world.project, delivery.id) == dead


def queue_down(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(queue: str, payload: bytes, *, delay_seconds: float = 0) -> str:
        raise Unavailable("job queue backend (redis) is unavailable")

    monkeypatch.setattr(world.queue, "enqueue", down)


async def test_a_test_event_the_queue_cannot_take_is_given_up_not_left_pending(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    queue_down(world, monkeypatch)
    with pytest.raises(Unavailable):
        await world.webhooks.send_test(world.project, created.endpoint.id)
    [delivery] = (await world.webhooks.list_deliveries(world.project)).items
    assert (delivery.status, delivery.attempts) == ("dead", ())
    monkeypatch.undo()
    assert (await world.webhooks.retry_delivery(world.project, delivery.id)).status == "pending"
    assert [j.delivery_id for j in await world.queued()] == [delivery.id]


async def test_a_replay_the_queue_cannot_take_leaves_nothing_pending_and_can_be_run_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = world.clock.now()
    world.clock.advance(1)
    assert await world.log.publish(world.event()) == []  # before the endpoint: no delivery
    world.clock.advance(1)
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL + "/2"))
    queue_down(world, monkeypatch)
    with pytest.raises(Unavailable):
        await world.webhooks.replay(world.project, created.endpoint.id, since=start)
    [given_up] = (
        await world.webhooks.list_deliveries(world.project, endpoint_id=created.endpoint.id)
    ).items
    assert (given_up.status, given_up.attempts) == ("dead", ())
    monkeypatch.undo()
    replayed = await world.webhooks.replay(world.project, created.endpoint.id, since=start)
    assert replayed.count == 1
    assert [j.delivery_id for j in await world.queued()] == [given_up.id]


async def test_retry_after_is_honoured_on_429_and_503(world: World) -> None:
    await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [delivery] = await world.log.publish(world.event())
    world.sender.script.extend([(429, 120.0), (503, 1.0)])
    assert await world.delivery.attempt(world.project.id, delivery.id) == 120
    assert await world.delivery.attempt(world.project.id, delivery.id) == 60  # the larger


async def test_410_disables_the_endpoint_and_ends_the_delivery(world: World) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [delivery] = await world.log.publish(world.event())
    world.sender.script.append(410)
    assert await world.delivery.attempt(world.project.id, delivery.id) is None
    endpoint = await world.webhooks.get_endpoint(world.project, created.endpoint.id)
    assert not endpoint.enabled and "410" in (endpoint.disabled_reason or "")
    assert (await world.webhooks.get_delivery(world.project, delivery.id)).status == "dead"
    assert await world.log.publish(world.event()) == []  # nothing to a disabled endpoint
    enabled = await world.webhooks.update_endpoint(
        world.project, endpoint.id, EndpointPatch(enabled=True)
    )
    assert enabled.enabled and enabled.disabled_reason is None


async def test_an_endpoint_failing_for_too_long_is_disabled(world: World) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    world.sender.script.extend([DeliveryFailed("connection failed")] * 10)
    [first] = await world.log.publish(world.event())
    await world.delivery.attempt(world.project.id, first.id)
    world.clock.advance(3601)
    [second] = await world.log.publish(world.event())
    assert await world.delivery.attempt(world.project.id, second.id) is None
    endpoint = await world.webhooks.get_endpoint(world.project, created.endpoint.id)
    assert not endpoint.enabled and "no successful delivery" in (endpoint.disabled_reason or "")
    attempt = (await world.webhooks.get_delivery(world.project, second.id)).attempts[0]
    assert attempt.status_code is None and attempt.error == "connection failed"


async def test_a_sender_defect_is_a_failed_attempt_on_the_schedule(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [delivery] = await world.log.publish(world.event())
    world.sender.script.append(RuntimeError("unable to perform operation on <transport>"))
    assert await world.delivery.attempt(world.project.id, delivery.id) == 5
    failed = await world.webhooks.get_delivery(world.project, delivery.id)
    assert failed.status == "failed"
    assert [(a.status_code, a.error) for a in failed.attempts] == [(None, UNEXPECTED)]
    assert "unable to perform" not in (failed.attempts[0].error or "")  # not shown to users
    [logged] = [r for r in caplog.records if r.getMessage() == "webhook_sender_failed"]
    assert logged.exc_info is not None


async def test_an_address_refused_at_delivery_time_is_a_failed_attempt(world: World) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    # The name now resolves inside the operator's network (DNS changed since it was saved).
    internal = await world.endpoints.get(world.project.id, created.endpoint.id)
    assert internal is not None
    await world.endpoints.update(
        internal.__class__(**{**_fields(internal), "url": "https://hooks.internal.test/x"})
    )
    [delivery] = await world.log.publish(world.event())
    assert await world.delivery.attempt(world.project.id, delivery.id) == 5
    assert world.sender.sent == []  # never connected
    attempt = (await world.webhooks.get_delivery(world.project, delivery.id)).attempts[0]
    assert "private address" in (attempt.error or "")


async def test_event_type_filters_and_two_projects(world: World) -> None:
    ours = await world.webhooks.create_endpoint(
        world.project, EndpointSpec(url=URL, event_types=("recording.ready",))
    )
    await world.webhooks.create_endpoint(world.other, EndpointSpec(url=URL))
    assert await world.log.publish(world.event("room.started")) == []
    [delivery] = await world.log.publish(world.event("recording.ready"))
    assert delivery.endpoint_id == ours.endpoint.id
    with pytest.raises(NotFound):
        await world.webhooks.get_endpoint(world.other, ours.endpoint.id)
    with pytest.raises(NotFound):
        await world.webhooks.get_delivery(world.other, delivery.id)
    with pytest.raises(NotFound):
        await world.webhooks.retry_delivery(world.other, delivery.id)
    theirs = await world.webhooks.list_deliveries(world.other)
    assert theirs.items == []


async def test_publishing_twice_delivers_once(world: World) -> None:
    await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    event = world.event()
    [first] = await world.log.publish(event)
    assert await world.delivery.attempt(world.project.id, first.id) is None
    assert await world.log.publish(event) == []  # applied again (a worker died): no new send
    assert len(world.sender.sent) == 1


async def test_rotation_signs_with_both_secrets_during_the_grace_period(world: World) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    rotated = await world.webhooks.rotate_secret(
        world.project, created.endpoint.id, grace_period_seconds=60
    )
    [delivery] = await world.log.publish(world.event())
    await world.delivery.attempt(world.project.id, delivery.id)
    request = world.sender.sent[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (created.secret, rotated.secret):
        Webhook(secret).verify(request.body, request.headers)
    assert world.webhooks.grace_until(rotated.endpoint) == rotated.previous_secret_expires_at
    world.clock.advance(61)
    assert world.webhooks.grace_until(rotated.endpoint) is None
    [later] = await world.log.publish(world.event())
    await world.delivery.attempt(world.project.id, later.id)
    assert len(world.sender.sent[-1].headers["webhook-signature"].split(" ")) == 1


async def test_replay_queues_what_did_not_succeed_in_the_window(world: World) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    start = world.clock.now()
    world.sender.script.extend([200, 500, 500, 500])
    delivered = []
    for _ in range(2):
        [d] = await world.log.publish(world.event())
        delivered.append(d)
        world.clock.advance(1)
    await world.delivery.attempt(world.project.id, delivered[0].id)  # succeeds
    for _ in range(3):
        await world.delivery.attempt(world.project.id, delivered[1].id)  # dies
    await world.queued()
    replayed = await world.webhooks.replay(
        world.project, created.endpoint.id, since=start, until=None
    )
    assert replayed == Replayed(count=1, next_cursor=None)
    assert [j.delivery_id for j in await world.queued()] == [delivered[1].id]


@pytest.mark.parametrize(("events", "bound"), [(7, 4), (8, 4), (3, 4), (4, 4)])
async def test_a_replay_past_its_bound_goes_on_from_its_cursor_until_the_window_is_done(
    world: World, monkeypatch: pytest.MonkeyPatch, events: int, bound: int
) -> None:
    monkeypatch.setattr(webhook_deliveries, "MAX_REPLAY_EVENTS", bound)
    monkeypatch.setattr(webhook_deliveries, "_REPLAY_PAGE", 2)
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    world.clock.advance(1)
    start = world.clock.now()
    made = []
    for _ in range(events):
        [d] = await world.log.publish_unqueued(world.event())
        made.append(d.delivery.id)
        world.clock.advance(1)
    [outside] = await world.log.publish_unqueued(world.event())  # at `until`: left out
    until = world.clock.now()
    world.clock.advance(1)

    calls, queued, cursor = [], [], None
    while len(calls) < 10:
        replayed = await world.webhooks.replay(
            world.project, created.endpoint.id, since=start, until=until, cursor=cursor
        )
        calls.append(replayed.count)
        queued += [j.delivery_id for j in await world.queued()]
        cursor = replayed.next_cursor
        if cursor is None:
            break
    # Every event of the window once, newest first, at most `bound` a call; a window of
    # exactly `bound` events takes a second call that finds nothing more.
    assert queued == made[::-1] and outside.delivery.id not in queued
    assert all(count <= bound for count in calls) and sum(calls) == events
    assert len(calls) == events // bound + 1


async def test_a_replay_window_the_wrong_way_round_names_the_field_given(world: World) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    now = world.clock.now()
    for since, until, named in (
        (now + timedelta(hours=1), None, "since"),  # until left out: now
        (now, None, "since"),
        (now - timedelta(hours=1), now - timedelta(hours=2), "until"),
        (now - timedelta(hours=1), now - timedelta(hours=1), "until"),
    ):
        with pytest.raises(InvalidInput) as refused:
            await world.webhooks.replay(
                world.project, created.endpoint.id, since=since, until=until
            )
        assert refused.value.field == named


async def test_a_replay_cursor_that_is_no_event_id_is_refused(world: World) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    for cursor in ("whd_01M8T76XCQ3V4A7Y5QH2R9N1KD", "evt_", "nonsense"):
        with pytest.raises(InvalidInput) as refused:
            await world.webhooks.replay(
                world.project,
                created.endpoint.id,
                since=world.clock.now() - timedelta(hours=1),
                until=None,
                cursor=cursor,
            )
        assert refused.value.field == "cursor"


async def test_a_replay_leaves_out_other_endpoints_test_events(world: World) -> None:
    start = world.clock.now()
    first = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    other = await world.webhooks.send_test(world.project, first.endpoint.id)
    world.clock.advance(1)
    second = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL + "/2"))
    own = await world.webhooks.send_test(world.project, second.endpoint.id)
    world.clock.advance(1)
    published = await world.log.publish(world.event())
    assert {d.endpoint_id for d in published} == {first.endpoint.id, second.endpoint.id}
    world.clock.advance(1)  # `until` (now) is exclusive
    await world.queued()
    replayed = await world.webhooks.replay(
        world.project, second.endpoint.id, since=start, until=None
    )
    queued = [j.delivery_id for j in await world.queued()]
    # Its own test and the room event, queued (or restarted) once each; not the other's.
    assert replayed.count == 2
    assert own.id in queued and other.id not in queued


async def test_a_disabled_endpoint_gets_its_test_event_once_and_nothing_else(
    world: World,
) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    endpoint_id = created.endpoint.id
    await world.webhooks.update_endpoint(world.project, endpoint_id, EndpointPatch(enabled=False))
    passed = await world.webhooks.send_test(world.project, endpoint_id)
    assert await world.delivery.attempt(world.project.id, passed.id) is None
    assert (await world.webhooks.get_delivery(world.project, passed.id)).status == "succeeded"
    world.sender.script.append(500)
    failed = await world.webhooks.send_test(world.project, endpoint_id)
    assert await world.delivery.attempt(world.project.id, failed.id) is None  # no retry
    assert (await world.webhooks.get_delivery(world.project, failed.id)).status == "dead"
    assert len(world.sender.sent) == 2
    endpoint = await world.webhooks.get_endpoint(world.project, endpoint_id)
    assert not endpoint.enabled  # a test passing does not turn it back on
    assert await world.log.publish(world.event()) == []


async def test_bad_endpoint_input_names_the_field(world: World) -> None:
    cases = [
        (EndpointSpec(url="ftp://hooks.example.com"), "url"),
        (EndpointSpec(url="http://127.0.0.1/hook"), "url"),
        (EndpointSpec(url=URL, event_types=("room.exploded",)), "event_types[0]"),
        (EndpointSpec(url=URL, description="x" * 501), "description"),
    ]
    for spec, field_name in cases:
        with pytest.raises(InvalidInput) as caught:
            await world.webhooks.create_endpoint(world.project, spec)
        assert caught.value.field == field_name
    with pytest.raises(InvalidInput):
        await world.webhooks.rotate_secret(
            world.project, "whe_01J0000000000000000000000A", grace_period_seconds=-1
        )


def _fields(struct: object) -> dict[str, object]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}  # type: ignore[attr-defined]


async def test_a_first_attempt_posts_what_its_creator_holds_and_saves_like_any_other(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker applying an event attempts each new delivery with the endpoint and event
    it was made from: no read before the POST; the outcome is saved as any attempt's, and
    what is not finished is said (a delay) for the caller to queue."""
    await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [outgoing] = await world.log.publish_unqueued(world.event())
    assert await world.queued() == []  # publish_unqueued queues nothing

    reads: list[str] = []
    for name, repository in (("events", world.events), ("endpoints", world.endpoints)):
        original = repository.get

        async def counted(*args: object, _original=original, _name=name) -> object:  # type: ignore[no-untyped-def]
            reads.append(_name)
            return await _original(*args)

        monkeypatch.setattr(repository, "get", counted)
    send = world.sender.send

    async def posted(request: WebhookRequest) -> WebhookResponse:
        reads.append("POST")
        return await send(request)

    monkeypatch.setattr(world.sender, "send", posted)
    world.sender.script.append(500)
    delay = await world.delivery.first_attempt(outgoing)
    assert reads[0] == "POST" and reads.count("POST") == 1  # nothing read before it
    assert delay == 5
    stored = await world.deliveries.get(world.project.id, outgoing.delivery.id)
    assert stored is not None and stored.status == "failed" and len(stored.attempts) == 1

    # The retry, through the queue, reads everything again as every attempt does.
    reads.clear()
    assert await world.delivery.attempt(world.project.id, outgoing.delivery.id) is None
    assert reads[:3] == ["endpoints", "events", "POST"]
    stored = await world.deliveries.get(world.project.id, outgoing.delivery.id)
    assert stored is not None and stored.status == "succeeded" and len(stored.attempts) == 2


async def test_a_success_recorded_meanwhile_by_another_run_is_kept(world: World) -> None:
    # A job that outlived its visibility timeout runs twice at once: the run that fails
    # after the other one succeeded adds its attempt but does not undo the success.
    await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [outgoing] = await world.log.publish_unqueued(world.event())
    send = world.sender.send

    async def other_run_succeeds_first(request: WebhookRequest) -> WebhookResponse:
        world.sender.send = send  # type: ignore[method-assign]
        assert await world.delivery.attempt(world.project.id, outgoing.delivery.id) is None
        return WebhookResponse(status_code=500)

    world.sender.send = other_run_succeeds_first  # type: ignore[method-assign]
    assert await world.delivery.first_attempt(outgoing) is None  # nothing left to retry
    stored = await world.deliveries.get(world.project.id, outgoing.delivery.id)
    assert stored is not None and stored.status == "succeeded"
    assert sorted(a.status_code or 0 for a in stored.attempts) == [200, 500]


async def test_a_delivery_deleted_during_its_post_ends_quietly(world: World) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [outgoing] = await world.log.publish_unqueued(world.event())
    send = world.sender.send

    async def endpoint_deleted_meanwhile(request: WebhookRequest) -> WebhookResponse:
        await world.webhooks.delete_endpoint(world.project, created.endpoint.id)
        return await send(request)

    world.sender.send = endpoint_deleted_meanwhile  # type: ignore[method-assign]
    world.sender.script.append(500)
    assert await world.delivery.first_attempt(outgoing) is None  # no retry of nothing
    assert await world.deliveries.get(world.project.id, outgoing.delivery.id) is None


async def test_deleting_an_endpoint_keeps_its_log_and_drops_what_is_still_to_send(
    world: World,
) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    endpoint_id = created.endpoint.id
    other = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL + "/b"))
    sent, died, failing, queued = [
        next(d for d in await world.log.publish(world.event()) if d.endpoint_id == endpoint_id)
        for _ in range(4)
    ]
    world.sender.script.extend([200, 500, 500, 500, 500])
    attempts = [sent, died, died, died, failing]
    delays = [await world.delivery.attempt(world.project.id, d.id) for d in attempts]
    assert delays == [None, 5, 60, None, 5]

    await world.webhooks.delete_endpoint(world.project, endpoint_id)

    log = await world.webhooks.list_deliveries(world.project, endpoint_id=endpoint_id)
    assert {(d.id, d.status) for d in log.items} == {(sent.id, "succeeded"), (died.id, "dead")}
    for dropped in (failing, queued):
        with pytest.raises(NotFound):
            await world.webhooks.get_delivery(world.project, dropped.id)
        assert await world.delivery.attempt(world.project.id, dropped.id) is None
    with pytest.raises(Conflict, match="the endpoint was deleted"):
        await world.webhooks.retry_delivery(world.project, died.id)
    assert (await world.webhooks.get_delivery(world.project, died.id)).status == "dead"
    # The other endpoint's deliveries, and the other project's, are untouched.
    mine = await world.webhooks.list_deliveries(world.project, endpoint_id=other.endpoint.id)
    assert len(mine.items) == 4 and {d.status for d in mine.items} == {"pending"}


async def test_a_retry_racing_its_endpoints_deletion_ends_dead_not_pending(world: World) -> None:
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [delivery] = await world.log.publish(world.event())
    world.sender.script.extend([500, 500, 500])
    while await world.delivery.attempt(world.project.id, delivery.id) is not None:
        pass
    endpoints_get = world.endpoints.get

    async def deleted_right_after_the_check(project_id: str, endpoint_id: str) -> object:
        world.endpoints.get = endpoints_get  # type: ignore[method-assign]
        found = await endpoints_get(project_id, endpoint_id)
        await world.webhooks.delete_endpoint(world.project, created.endpoint.id)
        return found

    world.endpoints.get = deleted_right_after_the_check  # type: ignore[method-assign]
    assert (await world.webhooks.retry_delivery(world.project, delivery.id)).status == "pending"
    assert await world.delivery.attempt(world.project.id, delivery.id) is None
    ended = await world.webhooks.get_delivery(world.project, delivery.id)
    assert ended.status == "dead" and ended.attempts[-1].error == "the endpoint was deleted"
    assert len(world.sender.sent) == 3
