"""Projects: CRUD, credentials issued once, and key rotation with a grace period."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta

import msgspec

from pulse_core import ids
from pulse_core.crypto import credentials
from pulse_core.errors import InvalidInput, NotFound, PermissionDenied
from pulse_core.models import (
    ManagementPrincipal,
    Page,
    PreviousCredential,
    Project,
    ProjectSettings,
    RateLimitSettings,
)
from pulse_core.models.audit import AuditRecord
from pulse_core.models.project import RATE_PERIODS
from pulse_core.models.redaction import redacted_repr
from pulse_core.net.url_guard import UrlGuard
from pulse_core.ports.clock import Clock
from pulse_core.ports.repositories import OrganizationRepository, ProjectRepository
from pulse_core.services import audit, pagination, validation
from pulse_core.services.quotas import QuotaService
from pulse_core.services.webhook_url_setting import WebhookUrlSetting

MAX_GRACE_PERIOD_SECONDS = 86_400
# Platform bounds for LiveKit token lifetimes; a project may only narrow them.
MIN_TOKEN_TTL_SECONDS = 60
MAX_TOKEN_TTL_SECONDS = 86_400
MAX_RATE_REQUESTS = 1_000_000


class ProjectPatch(msgspec.Struct, frozen=True, kw_only=True):
    """A partial update: ``UNSET`` keeps a field; ``None`` resets a setting to default."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    webhook_url: str | msgspec.UnsetType | None = msgspec.UNSET
    rate_limit: RateLimitSettings | msgspec.UnsetType | None = msgspec.UNSET
    token_ttl_default_seconds: int | msgspec.UnsetType | None = msgspec.UNSET
    token_ttl_max_seconds: int | msgspec.UnsetType | None = msgspec.UNSET


class IssuedProject(msgspec.Struct, frozen=True, kw_only=True):
    """A new project and the only copy of its secret that will ever exist."""

    project: Project
    api_secret: str

    def __repr__(self) -> str:
        return redacted_repr(self, ("api_secret",))


class KeyRotation(msgspec.Struct, frozen=True, kw_only=True):
    project: Project
    api_key: str
    api_secret: str
    previous_key_expires_at: datetime | None = None

    def __repr__(self) -> str:
        return redacted_repr(self, ("api_secret",))


def check_settings(
    settings: ProjectSettings, given: Collection[str] = ProjectSettings.__struct_fields__
) -> ProjectSettings:
    """Validate and normalize settings; ``InvalidInput`` names the bad field: of two that
    disagree, the one in ``given`` (the fields a change sets)."""
    webhook_url = settings.webhook_url
    if webhook_url is not None:
        webhook_url = validation.webhook_url(webhook_url, "webhook_url")
    rate = settings.rate_limit
    if rate is not None:
        validation.int_range(rate.requests, "rate_limit.requests", low=1, high=MAX_RATE_REQUESTS)
        if rate.period not in RATE_PERIODS:
            raise InvalidInput(
                f"rate_limit.period must be one of {', '.join(RATE_PERIODS)}",
                field="rate_limit.period",
            )
        if rate.burst is not None:
            validation.int_range(rate.burst, "rate_limit.burst", low=1, high=MAX_RATE_REQUESTS)
    ttl_max = settings.token_ttl_max_seconds
    if ttl_max is not None:
        validation.int_range(
            ttl_max, "token_ttl_max_seconds", low=MIN_TOKEN_TTL_SECONDS, high=MAX_TOKEN_TTL_SECONDS
        )
    ttl_default = settings.token_ttl_default_seconds
    default_kept = "token_ttl_default_seconds" not in given
    if ttl_default is not None and ttl_max is not None and ttl_default > ttl_max and default_kept:
        raise InvalidInput(
            f"token_ttl_max_seconds must be at least the project's token_ttl_default_seconds"
            f" ({ttl_default})",
            field="token_ttl_max_seconds",
        )
    if ttl_default is not None:
        validation.int_range(
            ttl_default,
            "token_ttl_default_seconds",
            low=MIN_TOKEN_TTL_SECONDS,
            high=ttl_max or MAX_TOKEN_TTL_SECONDS,
        )
    return msgspec.structs.replace(settings, webhook_url=webhook_url)


class ProjectService:
    def __init__(
        self,
        organizations: OrganizationRepository,
        projects: ProjectRepository,
        clock: Clock,
        *,
        pepper: bytes,
        webhook_urls: UrlGuard,
        webhook_url: WebhookUrlSetting | None = None,
        quotas: QuotaService | None = None,
        on_deleted: Callable[[Sequence[str]], Awaitable[object]] | None = None,
    ) -> None:
        # Runs with the id of a project just deleted: the container has the media it
        # left running stopped there (pulse_core.services.media_teardown).
        self._on_deleted = on_deleted
        self._quotas = quotas
        # Without it (an embedder with no webhooks), ``webhook_url`` is only stored.
        self._webhook_url = webhook_url
        self._webhook_urls = webhook_urls
        self._orgs = organizations
        self._projects = projects
        self._clock = clock
        self._pepper = pepper

    async def create(
        self,
        actor: ManagementPrincipal,
        *,
        org_id: str,
        name: str,
        settings: ProjectSettings | None = None,
    ) -> IssuedProject:
        """A project with a fresh key pair; admins or the organization's owner."""
        if not ids.is_valid_id(org_id, ids.ORGANIZATION) or not actor.can_read(org_id):
            raise NotFound("organization not found", field="org_id")
        if await self._orgs.get(org_id) is None:
            raise NotFound("organization not found", field="org_id")
        if not actor.can_write(org_id):
            raise PermissionDenied("members may not create projects")
        now = self._clock.now()
        api_key, api_secret = credentials.generate_api_key(), credentials.generate_api_secret()
        project = Project(
            id=ids.new_id(ids.PROJECT, now_ms=ids.ms_of(now)),
            org_id=org_id,
            name=validation.name(name),
            settings=await self._checked(settings or ProjectSettings()),
            api_key=api_key,
            secret_hash=credentials.hash_secret(api_secret, self._pepper),
            created_at=now,
            updated_at=now,
        )
        record = self._record(actor, "project.created", project)
        if self._quotas is None:
            await self._projects.add(project, audit=record)
        else:
            async with self._quotas.project_slot(org_id):
                await self._projects.add(project, audit=record)
        await self._saved(None, project, actor)
        return IssuedProject(project=project, api_secret=api_secret)

    async def get(self, actor: ManagementPrincipal, project_id: str) -> Project:
        project = None
        if ids.is_valid_id(project_id, ids.PROJECT):
            project = await self._projects.get(project_id)
        if project is None or not actor.can_read(project.org_id):
            raise NotFound("project not found")
        return project

    async def list(
        self,
        actor: ManagementPrincipal,
        *,
        org_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Project]:
        """Projects the actor may see, of ``org_id`` when given (``NotFound`` if that
        organization is not the actor's)."""
        size = pagination.check_limit(limit)
        after = pagination.check_cursor(cursor, ids.PROJECT)
        if org_id is not None and (
            not ids.is_valid_id(org_id, ids.ORGANIZATION) or not actor.can_read(org_id)
        ):
            raise NotFound("organization not found", field="org_id")
        scope = org_id if org_id is not None or actor.is_admin else actor.org_id
        rows = await self._projects.list_page(org_id=scope, after=after, limit=size + 1)
        return pagination.page_of(rows, size, lambda p: p.id)

    async def update(
        self, actor: ManagementPrincipal, project_id: str, patch: ProjectPatch
    ) -> Project:
        project = await self.writable(actor, project_id)
        changes = {
            field: getattr(patch, field)
            for field in ProjectSettings.__struct_fields__
            if getattr(patch, field) is not msgspec.UNSET
        }
        # Checked here on the settings as read (the URL's addresses need a lookup), and
        # again, without the lookup, on the settings as stored when the change is made.
        checked = await self._checked(
            msgspec.structs.replace(project.settings, **changes), given=changes
        )
        if self._webhook_url is not None:
            await self._webhook_url.check(project, checked.webhook_url)
        name = project.name if patch.name is msgspec.UNSET else validation.name(patch.name)
        now = self._clock.now()

        def apply(stored: Project) -> Project:
            settings = check_settings(msgspec.structs.replace(stored.settings, **changes), changes)
            if settings == stored.settings and name == stored.name:
                return stored
            return msgspec.structs.replace(stored, name=name, settings=settings, updated_at=now)

        updated = await self._change(project, apply, actor, "project.updated")
        if updated != project:
            await self._saved(project, updated, actor)
        return updated

    async def delete(self, actor: ManagementPrincipal, project_id: str) -> None:
        """Soft delete; its keys stop working at once on this process."""
        project = await self.writable(actor, project_id)
        now = self._clock.now()

        def apply(stored: Project) -> Project:
            return msgspec.structs.replace(stored, is_deleted=True, deleted_at=now, updated_at=now)

        await self._change(project, apply, actor, "project.deleted")
        if self._on_deleted is not None:
            await self._on_deleted([project.id])

    async def regenerate_keys(
        self, actor: ManagementPrincipal, project_id: str, *, grace_period_seconds: int = 0
    ) -> KeyRotation:
        """A new key pair. The current pair keeps working for ``grace_period_seconds``
        (0..86400; 0 revokes it at once). A pair still in an earlier grace period is
        revoked now: at most two pairs are ever live."""
        if not 0 <= grace_period_seconds <= MAX_GRACE_PERIOD_SECONDS:
            raise InvalidInput(
                f"grace_period_seconds must be between 0 and {MAX_GRACE_PERIOD_SECONDS}",
                field="grace_period_seconds",
            )
        project = await self.writable(actor, project_id)
        now = self._clock.now()
        api_key, api_secret = credentials.generate_api_key(), credentials.generate_api_secret()
        secret_hash = credentials.hash_secret(api_secret, self._pepper)

        def apply(stored: Project) -> Project:
            # The pair kept for the grace period is the one stored now, whatever was read.
            previous = None
            if grace_period_seconds > 0:
                previous = PreviousCredential(
                    api_key=stored.api_key,
                    secret_hash=stored.secret_hash,
                    expires_at=now + timedelta(seconds=grace_period_seconds),
                )
            return msgspec.structs.replace(
                stored,
                api_key=api_key,
                secret_hash=secret_hash,
                previous=previous,
                key_last_used_at=None,  # a new pair: not used yet
                updated_at=now,
            )

        updated = await self._change(project, apply, actor, "project.keys_regenerated")
        return KeyRotation(
            project=updated,
            api_key=api_key,
            api_secret=api_secret,
            previous_key_expires_at=updated.previous.expires_at if updated.previous else None,
        )

    async def _change(
        self,
        project: Project,
        apply: Callable[[Project], Project],
        actor: ManagementPrincipal,
        action: str,
    ) -> Project:
        """``apply`` to the project as stored now (``ProjectRepository.change``);
        ``NotFound`` if it was deleted meanwhile."""
        changed = await self._projects.change(
            project.id, apply, audit=self._record(actor, action, project)
        )
        if changed is None:
            raise NotFound("project not found")
        return changed

    def _record(self, actor: ManagementPrincipal, action: str, project: Project) -> AuditRecord:
        return audit.by(
            self._clock,
            actor,
            action,
            resource_type="project",
            resource_id=project.id,
            org_id=project.org_id,
        )

    async def _saved(
        self, before: Project | None, after: Project, actor: ManagementPrincipal
    ) -> None:
        if self._webhook_url is not None:
            await self._webhook_url.follow(before, after, by=actor.caller())

    async def _checked(
        self,
        settings: ProjectSettings,
        given: Collection[str] = ProjectSettings.__struct_fields__,
    ) -> ProjectSettings:
        """:func:`check_settings`, then the address policy for the webhook URL (Pulse
        will post to it from inside the operator's network)."""
        settings = check_settings(settings, given)
        if settings.webhook_url is not None:
            await self._webhook_urls.check(settings.webhook_url, "webhook_url")
        return settings

    async def writable(self, actor: ManagementPrincipal, project_id: str) -> Project:
        """The project if the actor may change it and what is in it (its webhooks, rooms,
        media): admins and its organization's owner. ``NotFound`` if the actor may not
        see it, ``PermissionDenied`` if they may only read it."""
        project = await self.get(actor, project_id)
        if not actor.can_write(project.org_id):
            raise PermissionDenied("members may not change projects")
        return project
