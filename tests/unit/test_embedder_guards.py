"""What pulse_core refuses or hides when an embedder wires or calls it by hand: the
checks the HTTP shell's own input never needed, found by writing an embedder."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pulse_adapters
import pulse_core
import pulse_http
from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryProjectRepository
from pulse_adapters.memory.events import (
    InMemoryDeliveryRepository,
    InMemoryEventRepository,
    InMemoryWebhookEndpointRepository,
)
from pulse_adapters.memory.keys import InMemoryApiKeyRepository
from pulse_adapters.memory.queue import InMemoryJobQueue
from pulse_core import ids
from pulse_core.crypto.jwt import HS256Signer, HS256Verifier
from pulse_core.errors import InvalidInput
from pulse_core.models import ManagementPrincipal, PreviousCredential, Project, RateLimitSettings
from pulse_core.models.events import Event, NewEndpoint, SecretRotation, WebhookEndpoint
from pulse_core.models.project import ProjectSettings
from pulse_core.models.token import MintedToken
from pulse_core.services import (
    CredentialCache,
    CredentialCachingApiKeyRepository,
    CredentialCachingProjectRepository,
    EventLog,
    IssuedProject,
    KeyRotation,
    ManagementAuthenticator,
    ProjectAuthenticator,
)
from pulse_core.services.authentication import MAX_SUBJECT_LENGTH
from pulse_core.services.projects import check_settings
from pulse_core.services.webhook_deliveries import WebhookDeliveries

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
ORG = "org_01J0000000000000000000000A"
PROJECT = "prj_01J0000000000000000000000A"
_MS = int(NOW.timestamp() * 1000)
SECRETS = ("pulse_secret_TOPSECRET", "whsec_TOPSECRET", "hash-TOPSECRET", "lk-TOPSECRET")


# -- principals and management tokens ---------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "member"])
def test_an_owner_or_member_needs_the_organization_it_is_confined_to(role: Any) -> None:
    # Without one, "no organization" read as "every organization" in the project list.
    for org_id in (None, ""):
        with pytest.raises(ValueError, match="org_id"):
            ManagementPrincipal(subject="someone", role=role, org_id=org_id)
    confined = ManagementPrincipal(subject="someone", role=role, org_id=ORG)
    with pytest.raises(ValueError, match="org_id"):
        msgspec.structs.replace(confined, org_id=None)
    with pytest.raises(ValueError, match="role"):
        ManagementPrincipal(subject="someone", role="root", org_id=ORG)  # type: ignore[arg-type]
    assert ManagementPrincipal.system().is_admin


def test_an_empty_signing_key_is_refused_not_trusted() -> None:
    clock = ManualClock(NOW)
    for make in (HS256Signer, HS256Verifier):
        for empty in ("", b""):
            with pytest.raises(ValueError, match="empty"):
                make(empty)
    with pytest.raises(ValueError, match="empty"):
        ManagementAuthenticator("", clock)


_subjects = st.text(min_size=0, max_size=MAX_SUBJECT_LENGTH + 5)
_org_ids = st.one_of(
    st.none(),
    st.just(ORG),
    st.text(max_size=30),
    st.builds(lambda: ids.new_id(ids.ORGANIZATION, now_ms=_MS)),
)


@given(subject=_subjects, role=st.sampled_from(["admin", "owner", "member"]), org_id=_org_ids)
def test_what_mint_signs_authenticate_accepts(subject: str, role: str, org_id: str | None) -> None:
    auth = ManagementAuthenticator("k" * 32, ManualClock(NOW))
    try:
        token = auth.mint(subject, role=role, org_id=org_id)
    except ValueError:
        confined = org_id is not None and ids.is_valid_id(org_id, ids.ORGANIZATION)
        assert (
            not subject or len(subject) > MAX_SUBJECT_LENGTH or (role != "admin" and not confined)
        )
        return
    principal = auth.authenticate(token)
    assert (principal.subject, principal.role) == (subject, role)
    assert principal.org_id == (None if role == "admin" else org_id)


# -- secrets in reprs --------------------------------------------------------------------


def _project() -> Project:
    return Project(
        id=PROJECT,
        org_id=ORG,
        name="app",
        api_key="pulse_key_public",
        secret_hash="hash-TOPSECRET",
        previous=PreviousCredential(
            api_key="pulse_key_old", secret_hash="hash-TOPSECRET", expires_at=NOW
        ),
        created_at=NOW,
        updated_at=NOW,
    )


def _endpoint() -> WebhookEndpoint:
    return WebhookEndpoint(
        id="whe_01J0000000000000000000000A",
        project_id=PROJECT,
        url="https://hooks.example.com/pulse",
        secret="whsec_TOPSECRET",
        previous_secret="whsec_TOPSECRET",
        previous_secret_expires_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )


def test_models_holding_a_secret_never_show_it() -> None:
    project, endpoint = _project(), _endpoint()
    holders: list[object] = [
        project,
        project.previous,
        IssuedProject(project=project, api_secret="pulse_secret_TOPSECRET"),
        KeyRotation(project=project, api_key="pulse_key_new", api_secret="pulse_secret_TOPSECRET"),
        endpoint,
        NewEndpoint(endpoint=endpoint, secret="whsec_TOPSECRET"),
        SecretRotation(endpoint=endpoint, secret="whsec_TOPSECRET", previous_secret_expires_at=NOW),
        MintedToken(
            token="lk-TOPSECRET",
            identity="alice",
            room="demo",
            livekit_room="prj_x__demo",
            livekit_url="wss://lk.example.com",
            expires_at=NOW,
        ),
    ]
    for holder in holders:
        shown = repr(holder)
        assert not any(secret in shown for secret in SECRETS), shown
        assert "***" in shown
        assert type(holder).__name__ in shown
    # What is not secret still shows, to debug with.
    assert "pulse_key_public" in repr(project) and "hooks.example.com" in repr(endpoint)
    # Whether there is a previous secret is not the secret.
    assert "previous_secret=None" in repr(msgspec.structs.replace(endpoint, previous_secret=None))


_SECRET_FIELDS = {
    "secret",
    "api_secret",
    "secret_hash",
    "previous_secret",
    "password_hash",
    "invite_hash",
    "stream_key",
    "token",
    "access_token",
    "session_token",
}


def test_every_struct_with_a_secret_field_has_a_repr_of_its_own() -> None:
    """A new model with a secret must not fall back to msgspec's repr, which shows all."""
    found = []
    for module in pkgutil.walk_packages(pulse_core.__path__, "pulse_core."):
        for value in vars(importlib.import_module(module.name)).values():
            if (
                isinstance(value, type)
                and issubclass(value, msgspec.Struct)
                and value.__module__ == module.name
                and _SECRET_FIELDS & set(value.__struct_fields__)
            ):
                found.append(value)
                assert value.__repr__ is not msgspec.Struct.__repr__, value
    assert len(found) >= 15  # the walk found the models (a broken walk would pass)


# -- the event log -----------------------------------------------------------------------


def _log(clock: ManualClock) -> tuple[EventLog, InMemoryEventRepository]:
    events = InMemoryEventRepository()
    log = EventLog(
        events,
        InMemoryWebhookEndpointRepository(),
        InMemoryDeliveryRepository(),
        InMemoryJobQueue(clock),
        clock,
    )
    return log, events


def _event(**changes: Any) -> Event:
    event = Event(
        id=ids.new_id(ids.EVENT, now_ms=_MS),
        project_id=PROJECT,
        type="room.started",
        timestamp=NOW,
        data={"room": "demo"},
    )
    return msgspec.structs.replace(event, **changes)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "order.paid"}, "type"),
        ({"id": "not-an-event-id"}, "id"),
        ({"id": ids.new_id(ids.DELIVERY, now_ms=_MS)}, "id"),
        ({"timestamp": NOW.replace(tzinfo=None)}, "timestamp"),
    ],
)
async def test_an_event_no_reader_could_read_back_is_refused(
    changes: dict[str, Any], field: str
) -> None:
    clock = ManualClock(NOW)
    log, events = _log(clock)
    with pytest.raises(InvalidInput) as refused:
        await log.publish(_event(**changes))
    assert refused.value.field == field
    with pytest.raises(InvalidInput):
        await log.publish_unqueued(_event(**changes))
    await log.publish(_event())  # the log still reads back
    assert len(await events.list_page(PROJECT, limit=10)) == 1


async def test_a_time_without_a_zone_is_refused_naming_its_parameter() -> None:
    clock = ManualClock(NOW)
    log, events = _log(clock)
    project = _project()
    naive = NOW.replace(tzinfo=None)
    for kwargs, field in (({"since": naive}, "since"), ({"until": naive}, "until")):
        with pytest.raises(InvalidInput) as refused:
            await log.list(project, **kwargs)
        assert refused.value.field == field
    replays = WebhookDeliveries(
        InMemoryWebhookEndpointRepository(), InMemoryDeliveryRepository(), events, log, clock
    )
    for since, until, field in (
        (naive, None, "since"),
        (NOW - timedelta(hours=1), naive, "until"),
    ):
        with pytest.raises(InvalidInput) as refused:
            await replays.replay(_endpoint(), since=since, until=until)
        assert refused.value.field == field


# -- settings and wiring -------------------------------------------------------------------


def test_a_rate_limit_period_outside_the_documented_ones_is_refused() -> None:
    for period in ("hour", "day", ""):
        settings = ProjectSettings(rate_limit=RateLimitSettings(requests=5, period=period))  # type: ignore[arg-type]
        with pytest.raises(InvalidInput) as refused:
            check_settings(settings)
        assert refused.value.field == "rate_limit.period"
    for period in ("second", "minute"):
        check_settings(ProjectSettings(rate_limit=RateLimitSettings(requests=5, period=period)))  # type: ignore[arg-type]


def test_the_authenticator_refuses_key_and_project_repositories_of_two_caches() -> None:
    clock = ManualClock(NOW)
    cache, other = CredentialCache(clock), CredentialCache(clock)
    projects = CredentialCachingProjectRepository(InMemoryProjectRepository(), cache)
    keys = InMemoryApiKeyRepository()
    with pytest.raises(ValueError, match="one cache"):
        ProjectAuthenticator(
            projects, clock, pepper=b"p", keys=CredentialCachingApiKeyRepository(keys, other)
        )
    ProjectAuthenticator(
        projects, clock, pepper=b"p", keys=CredentialCachingApiKeyRepository(keys, cache)
    )


def test_every_package_says_it_is_typed() -> None:
    for package in (pulse_core, pulse_adapters, pulse_http):
        assert (Path(package.__path__[0]) / "py.typed").is_file(), package.__name__
