"""A project's keys (API.md, "Projects"): the pair made with the project, which has every
scope and is rotated with ``regenerate-keys``, and named keys with optional scopes and
expiry, created with their secret shown once and revoked at once.

``last_used_at`` is kept without a database write per request, for the first key
(``Project.key_last_used_at``) as for named keys: :class:`KeyUsage` notes each use in
process and the shell writes the latest times in one batch every few seconds (and at
stop).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import msgspec

from pulse_core import ids
from pulse_core.crypto import credentials
from pulse_core.errors import Conflict, InvalidInput, NotFound
from pulse_core.models import ManagementPrincipal, Page, Project
from pulse_core.models.audit import AuditRecord
from pulse_core.models.keys import PRIMARY_KEY_ID, SCOPES, ApiKey, Scope
from pulse_core.ports.clock import Clock
from pulse_core.ports.keys import ApiKeyRepository
from pulse_core.ports.locks import Locks
from pulse_core.ports.repositories import ProjectRepository
from pulse_core.services import audit, pagination, validation
from pulse_core.services.projects import ProjectService

MAX_KEYS_PER_PROJECT: Final = 50
#: The per-project keys lock (KeyService.create) is held for one read and one write.
KEYS_LOCK_LEASE_SECONDS: Final = 30.0
KEYS_LOCK_WAIT_SECONDS: Final = 10.0
PRIMARY_KEY_NAME: Final = "primary"


class KeyView(msgspec.Struct, frozen=True, kw_only=True):
    """A key as listed: never its secret (nor its hash)."""

    id: str
    name: str
    api_key: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class IssuedKey(msgspec.Struct, frozen=True, kw_only=True):
    """A new key and its secret (shown this once)."""

    key: KeyView
    api_secret: str

    def __repr__(self) -> str:
        return f"IssuedKey(key={self.key!r})"


def check_scopes(values: Sequence[str] | None) -> tuple[Scope, ...]:
    """Known scopes, each once, in the documented order; empty means every scope."""
    if values is None:
        return ()
    unknown = [v for v in values if v not in SCOPES]
    if unknown:
        raise InvalidInput(
            f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}", field="scopes"
        )
    return tuple(s for s in SCOPES if s in values)


def view_of(key: ApiKey) -> KeyView:
    return KeyView(
        id=key.id,
        name=key.name,
        api_key=key.api_key,
        scopes=key.scopes or SCOPES,
        # In UTC, keys stored before expiry times were normalized included.
        expires_at=None if key.expires_at is None else _in_utc(key.expires_at),
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
    )


class KeyService:
    """Keys of a project the management principal may see (``NotFound`` otherwise);
    members read, owners and admins write."""

    def __init__(
        self,
        keys: ApiKeyRepository,
        projects: ProjectService,
        clock: Clock,
        *,
        locks: Locks,
        pepper: bytes,
    ) -> None:
        self._locks = locks
        self._keys = keys
        self._projects = projects
        self._clock = clock
        self._pepper = pepper

    async def create(
        self,
        actor: ManagementPrincipal,
        project_id: str,
        *,
        name: str,
        scopes: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> IssuedKey:
        project = await self._projects.writable(actor, project_id)
        now = self._clock.now()
        if expires_at is not None:
            expires_at = _expiry(expires_at, now)
        api_key, api_secret = credentials.generate_api_key(), credentials.generate_api_secret()
        key = ApiKey(
            id=ids.new_id(ids.API_KEY, now_ms=ids.ms_of(now)),
            project_id=project.id,
            org_id=project.org_id,
            name=validation.name(name),
            api_key=api_key,
            secret_hash=credentials.hash_secret(api_secret, self._pepper),
            scopes=check_scopes(scopes),
            expires_at=expires_at,
            created_at=now,
        )
        # Count and add under one lock: two creations at the cap cannot both pass.
        async with self._locks.hold(
            f"keys:{project.id}",
            lease_seconds=KEYS_LOCK_LEASE_SECONDS,
            wait_seconds=KEYS_LOCK_WAIT_SECONDS,
        ):
            live = [
                k
                for k in await self._keys.list_for_project(project.id)
                if k.revoked_at is None and (k.expires_at is None or k.expires_at > now)
            ]
            if len(live) >= MAX_KEYS_PER_PROJECT:
                raise Conflict(
                    f"a project has at most {MAX_KEYS_PER_PROJECT} live keys; revoke unused ones",
                    code="too_many_keys",
                )
            await self._keys.add(key, audit=self._record(actor, "key.created", project, key.id))
        return IssuedKey(key=view_of(key), api_secret=api_secret)

    async def list(self, actor: ManagementPrincipal, project_id: str) -> list[KeyView]:
        """The project's first key, then every named key (revoked and expired ones
        too), oldest first. :meth:`page` is the API's paged list."""
        project = await self._projects.get(actor, project_id)
        named = await self._keys.list_for_project(project.id)
        return [_primary_of(project), *(view_of(k) for k in named)]

    async def page(
        self,
        actor: ManagementPrincipal,
        project_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[KeyView]:
        """One page of :meth:`list`: the first key (id ``primary``), then the named keys
        (revoked and expired ones too) oldest first; ``next_cursor`` is the id of the
        page's last key. ``InvalidInput`` names a bad ``limit`` or ``cursor``."""
        size = pagination.check_limit(limit)
        after = None
        if cursor != PRIMARY_KEY_ID:
            after = pagination.check_cursor(cursor, ids.API_KEY)
        project = await self._projects.get(actor, project_id)
        rows = [_primary_of(project)] if not cursor else []
        # One more than the page shows: it only says that there is more.
        named = await self._keys.list_page(project.id, after=after, limit=size + 1 - len(rows))
        rows += [view_of(k) for k in named]
        return pagination.page_of(rows, size, lambda k: k.id)

    async def revoke(self, actor: ManagementPrincipal, project_id: str, key_id: str) -> None:
        """Revoke a named key at once (idempotent). The first key is rotated instead."""
        project = await self._projects.writable(actor, project_id)
        if key_id == PRIMARY_KEY_ID:
            raise Conflict(
                "the project's first key is rotated with regenerate-keys, not revoked",
                code="primary_key",
            )
        key = (
            await self._keys.get(project.id, key_id)
            if ids.is_valid_id(key_id, ids.API_KEY)
            else None
        )
        if key is None:
            raise NotFound("key not found")
        if key.revoked_at is None:
            record = self._record(actor, "key.revoked", project, key.id)
            await self._keys.revoke(project.id, key.id, self._clock.now(), audit=record)

    def _record(
        self, actor: ManagementPrincipal, action: str, project: Project, key_id: str
    ) -> AuditRecord:
        return audit.by(
            self._clock,
            actor,
            action,
            resource_type="key",
            resource_id=key_id,
            org_id=project.org_id,
        )


def _primary_of(project: Project) -> KeyView:
    return KeyView(
        id=PRIMARY_KEY_ID,
        name=PRIMARY_KEY_NAME,
        api_key=project.api_key,
        scopes=SCOPES,
        expires_at=None,
        created_at=project.created_at,
        last_used_at=project.key_last_used_at,
    )


def _expiry(expires_at: datetime, now: datetime) -> datetime:
    """A caller's ``expires_at`` in UTC (API.md: timestamps are UTC), or ``InvalidInput``."""
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise InvalidInput("expires_at must be a future time with a time zone", field="expires_at")
    try:
        utc = expires_at.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is in year 10000 in UTC
        raise InvalidInput(
            "expires_at is past the end of the calendar", field="expires_at"
        ) from None
    if utc <= now:
        raise InvalidInput("expires_at must be a future time with a time zone", field="expires_at")
    return utc


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # not representable in UTC: shown as it was stored
        return moment


class KeyUsage:
    """When each key was last used, noted per request, written in batches: named keys
    through the key repository (``touch``), each project's own pair through the project
    repository (``touch_keys``)."""

    def __init__(self, keys: ApiKeyRepository, projects: ProjectRepository, clock: Clock) -> None:
        self._keys = keys
        self._projects = projects
        self._clock = clock
        self._named: dict[str, float] = {}  # key id -> when
        self._primary: dict[str, float] = {}  # project id -> when its own pair was used

    def used(self, key_id: str, project_id: str) -> None:
        """Note a use of ``key_id`` of ``project_id`` now (:data:`PRIMARY_KEY_ID`: the
        project's own pair). One dict write: this is on every project request."""
        if key_id == PRIMARY_KEY_ID:
            self._primary[project_id] = self._clock.time()
        else:
            self._named[key_id] = self._clock.time()

    async def flush(self) -> int:
        """Write what was noted since the last flush; how many keys. Each repository's
        batch is written even when the other's failed; a failed write keeps its times
        for the next flush, and the first failure is raised."""
        named, self._named = self._named, {}
        primary, self._primary = self._primary, {}
        batches = (
            (named, False, self._keys.touch),
            (primary, True, self._projects.touch_keys),
        )
        written = 0
        failure: BaseException | None = None
        for seen, of_projects, write in batches:
            if not seen:
                continue
            if failure is not None and not isinstance(failure, Exception):
                self._keep(of_projects, seen)  # cancelled: nothing more now
                continue
            try:
                await write({k: _utc(t) for k, t in seen.items()})
            except BaseException as exc:  # cancelled at shutdown too: keep them for the stop flush
                self._keep(of_projects, seen)
                failure = failure or exc
            else:
                written += len(seen)
        if failure is not None:
            raise failure
        return written

    def _keep(self, of_projects: bool, seen: dict[str, float]) -> None:
        """Put back times a write could not store, keeping any later use noted since,
        into the dict current now (another flush may have swapped it during the write)."""
        pending = self._primary if of_projects else self._named
        for key, at in seen.items():
            pending[key] = max(at, pending.get(key, at))


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
