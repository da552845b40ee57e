"""MongoDB organizations and projects (pulse_core.ports.repositories), on pymongo's
asyncio API.

Document layout. Collections and field names are the original Go service's, so operators,
dashboards and ad-hoc queries that know that database keep working; ``_id`` is Pulse's
prefixed string id (``org_…``, ``prj_…``, ``usr_…``, ``use_…``), which sorts by creation
time and is what cursor pagination walks. The mapping is spelled out in the
``*_to_document`` / ``*_from_document`` functions below, one pair per model (users,
sessions and keys: :mod:`pulse_adapters.mongo.users`, :mod:`pulse_adapters.mongo.keys`):

=============  ===================================================================
collection     fields (domain field in parentheses where the name differs)
=============  ===================================================================
organizations  _id (id), name, admin_email, plan, is_deleted, created_at,
               updated_at, deleted_at
projects       _id (id), org_id, name, pulse_api_key (api_key),
               pulse_api_secret_hash (secret_hash), previous_api_key,
               previous_api_secret_hash, previous_key_expires_at (previous.*),
               api_keys (derived: [current, previous], for the uniqueness index),
               webhook_url, rate_limit {requests, period, burst},
               token_ttl_default_seconds, token_ttl_max_seconds (settings.*),
               key_last_used_at (Pulse only: the Go service has no such field),
               is_deleted, created_at, updated_at, deleted_at
=============  ===================================================================

Rules of the mapping:

- ``None`` is never stored: an optional field that is None is absent from the document
  (and ``$unset`` by an update). Partial indexes rely on it (``previous_api_key`` is
  indexed only where it exists), and an absent field reads back as None.
- The secret hash is ``pulse_api_secret_hash``, not the Go service's ``pulse_api_secret``:
  Go stored a bcrypt hash there, Pulse stores HMAC-SHA256(pepper, secret) hex, and a
  distinct name makes sure a Go-era hash is never fed to the wrong verifier.
- Usage (``usage_metrics``, in :mod:`pulse_adapters.mongo.usage`) keeps the Go names
  ``event_type``/``value`` for Pulse's ``metric``/``quantity``.
- Datetimes are BSON dates: UTC, millisecond precision (microseconds are truncated on
  write) and read back timezone-aware. ``plan`` is read case-insensitively (Go wrote
  "Free"/"Pro"/"Enterprise").
- Updates ``$set`` the mapped fields and ``$unset`` the absent ones instead of replacing
  the document, so fields Pulse does not model (the Go service's ``storage_config``,
  ``region``...) survive an update.
- An audited write carries its record in ``audit_outbox`` until it is moved to
  ``audit_log`` (:mod:`pulse_adapters.mongo.outbox`); decoding ignores that field.

Every call runs inside :func:`~pulse_adapters.mongo.errors.translate_errors` and under the
database's operation timeout: a duplicate becomes ``Conflict`` (nothing is written: each
write is one single-document, atomic operation, its audit record included), a down or
slow server ``Unavailable``.
Every query is served by an index of :func:`~pulse_adapters.mongo.indexes.index_plan`
with exact bounds, sorted by ``_id`` on that index and limited, so no request scans a
collection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import msgspec
from pymongo import ASCENDING, UpdateOne

from pulse_adapters.mongo.changes import change_by_swap
from pulse_adapters.mongo.database import Document, MongoDatabase
from pulse_adapters.mongo.documents import (
    document_fields,
    page,
    page_filter,
    present,
    update_of,
)
from pulse_adapters.mongo.errors import translate_errors
from pulse_adapters.mongo.indexes import ORGANIZATIONS, PROJECTS
from pulse_adapters.mongo.outbox import Outbox, carrying, pushing
from pulse_core.errors import NotFound
from pulse_core.models import Organization, Project
from pulse_core.models.audit import AuditRecord
from pulse_core.ports.repositories import (
    OrganizationRepository,
    ProjectRepository,
    kept_organization,
    kept_project,
)

# -- organizations -----------------------------------------------------------------------


def organization_to_document(org: Organization) -> Document:
    """The ``organizations`` document of ``org`` (None values still present)."""
    return {
        "_id": org.id,
        "name": org.name,
        "admin_email": org.admin_email,
        "plan": org.plan,
        "is_deleted": org.is_deleted,
        "created_at": org.created_at,
        "updated_at": org.updated_at,
        "deleted_at": org.deleted_at,
    }


def organization_from_document(doc: Mapping[str, Any]) -> Organization:
    """The organization stored in ``doc``; ``msgspec.ValidationError`` if it is corrupt."""
    return msgspec.convert(
        {
            "id": doc["_id"],
            "name": doc["name"],
            "admin_email": doc["admin_email"],
            "plan": str(doc.get("plan") or "free").lower(),
            "is_deleted": bool(doc.get("is_deleted", False)),
            "created_at": doc["created_at"],
            "updated_at": doc["updated_at"],
            "deleted_at": doc.get("deleted_at"),
        },
        Organization,
    )


class MongoOrganizationRepository(OrganizationRepository):
    """Organizations in ``organizations``. The live-email rule is the partial unique index
    ``admin_email_1`` (``is_deleted: false``), so it holds across replicas and races."""

    def __init__(self, db: MongoDatabase) -> None:
        self._orgs = db.collection(ORGANIZATIONS)
        self._outbox = Outbox(db)

    async def add(self, org: Organization, *, audit: AuditRecord | None = None) -> None:
        with translate_errors("insert into organizations"):
            await self._orgs.insert_one(carrying(present(organization_to_document(org)), audit))
        await self._outbox.deliver(self._orgs, org.id, audit)

    async def get(self, org_id: str) -> Organization | None:
        with translate_errors("find in organizations"):
            doc = await self._orgs.find_one({"_id": org_id, "is_deleted": False})
        return None if doc is None else organization_from_document(doc)

    async def list_page(self, *, after: str | None, limit: int) -> list[Organization]:
        with translate_errors("list organizations"):
            docs = await page(self._orgs, page_filter({"is_deleted": False}, after), limit)
        return [organization_from_document(d) for d in docs]

    async def update(self, org: Organization, *, audit: AuditRecord | None = None) -> None:
        with translate_errors("update organizations"):
            result = await self._orgs.update_one(
                {"_id": org.id}, pushing(update_of(organization_to_document(org)), audit)
            )
        if result.matched_count == 0:
            raise NotFound("organization not found")
        await self._outbox.deliver(self._orgs, org.id, audit)

    async def change(
        self,
        org_id: str,
        change: Callable[[Organization], Organization],
        *,
        audit: AuditRecord | None = None,
    ) -> Organization | None:
        found = await change_by_swap(
            self._orgs,
            {"_id": org_id, "is_deleted": False},
            read=organization_from_document,
            change=lambda stored: kept_organization(stored, change(stored)),
            write=lambda changed: pushing(update_of(organization_to_document(changed)), audit),
            fields=document_fields(Organization),
            name=f"organization {org_id}",
        )
        if found is None:
            return None
        org, wrote = found
        if wrote:
            await self._outbox.deliver(self._orgs, org_id, audit)
        return org


# -- projects ----------------------------------------------------------------------------


def project_to_document(project: Project) -> Document:
    """The ``projects`` document of ``project`` (None values still present).

    ``api_keys`` is derived, never read back: it exists only so that the multikey unique
    index ``api_keys_1`` can forbid a key in any slot of two projects.
    """
    settings, previous = project.settings, project.previous
    rate_limit = settings.rate_limit
    return {
        "_id": project.id,
        "org_id": project.org_id,
        "name": project.name,
        "pulse_api_key": project.api_key,
        "pulse_api_secret_hash": project.secret_hash,
        "previous_api_key": previous.api_key if previous else None,
        "previous_api_secret_hash": previous.secret_hash if previous else None,
        "previous_key_expires_at": previous.expires_at if previous else None,
        "api_keys": [project.api_key, previous.api_key] if previous else [project.api_key],
        "webhook_url": settings.webhook_url,
        "rate_limit": None
        if rate_limit is None
        else present(
            {
                "requests": rate_limit.requests,
                "period": rate_limit.period,
                "burst": rate_limit.burst,
            }
        ),
        "token_ttl_default_seconds": settings.token_ttl_default_seconds,
        "token_ttl_max_seconds": settings.token_ttl_max_seconds,
        "key_last_used_at": project.key_last_used_at,
        "is_deleted": project.is_deleted,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
        "deleted_at": project.deleted_at,
    }


#: Every field of a ``projects`` document (``project_to_document``'s keys).
PROJECT_FIELDS: Final = (
    "_id",
    "org_id",
    "name",
    "pulse_api_key",
    "pulse_api_secret_hash",
    "previous_api_key",
    "previous_api_secret_hash",
    "previous_key_expires_at",
    "api_keys",
    "webhook_url",
    "rate_limit",
    "token_ttl_default_seconds",
    "token_ttl_max_seconds",
    "key_last_used_at",
    "is_deleted",
    "created_at",
    "updated_at",
    "deleted_at",
)


def project_from_document(doc: Mapping[str, Any]) -> Project:
    """The project stored in ``doc``; ``msgspec.ValidationError`` if it is corrupt.

    ``msgspec.convert`` builds the nested ``ProjectSettings``, ``RateLimitSettings`` and
    ``PreviousCredential`` from the plain mappings, validating literals on the way.
    """
    previous = None
    if doc.get("previous_api_key") is not None:
        previous = {
            "api_key": doc["previous_api_key"],
            "secret_hash": doc["previous_api_secret_hash"],
            "expires_at": doc["previous_key_expires_at"],
        }
    return msgspec.convert(
        {
            "id": doc["_id"],
            "org_id": doc["org_id"],
            "name": doc["name"],
            "settings": {
                "webhook_url": doc.get("webhook_url"),
                "rate_limit": doc.get("rate_limit"),
                "token_ttl_default_seconds": doc.get("token_ttl_default_seconds"),
                "token_ttl_max_seconds": doc.get("token_ttl_max_seconds"),
            },
            "api_key": doc["pulse_api_key"],
            "secret_hash": doc["pulse_api_secret_hash"],
            "previous": previous,
            "key_last_used_at": doc.get("key_last_used_at"),
            "is_deleted": bool(doc.get("is_deleted", False)),
            "created_at": doc["created_at"],
            "updated_at": doc["updated_at"],
            "deleted_at": doc.get("deleted_at"),
        },
        Project,
    )


class MongoProjectRepository(ProjectRepository):
    """Projects in ``projects``.

    Key uniqueness is enforced by the server, atomically, with no check-then-write race:
    ``pulse_api_key_1`` (current keys), ``previous_api_key_1`` (previous keys, partial on
    existence) and ``api_keys_1``, a multikey unique index over ``[current, previous]``
    that forbids a key being one project's current and another's previous. Deleted
    projects keep their documents, so their keys stay taken. The one gap: a document
    written by another tool without ``api_keys`` is outside ``api_keys_1``, so only the
    same-slot indexes protect its keys until Pulse rewrites it.
    """

    def __init__(self, db: MongoDatabase) -> None:
        self._projects = db.collection(PROJECTS)
        self._outbox = Outbox(db)

    async def add(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        document = carrying(present(project_to_document(project)), audit)
        with translate_errors("insert into projects"):
            await self._projects.insert_one(document)
        await self._outbox.deliver(self._projects, project.id, audit)

    async def get(self, project_id: str) -> Project | None:
        with translate_errors("find in projects"):
            doc = await self._projects.find_one({"_id": project_id, "is_deleted": False})
        return None if doc is None else project_from_document(doc)

    async def get_by_api_key(self, api_key: str) -> Project | None:
        # One equality lookup per unique index; the two slots are queried by their own
        # fields (not `api_keys`) so documents lacking the derived field are found too.
        query = {
            "$or": [{"pulse_api_key": api_key}, {"previous_api_key": api_key}],
            "is_deleted": False,
        }
        with translate_errors("find in projects by key"):
            doc = await self._projects.find_one(query)
        return None if doc is None else project_from_document(doc)

    async def list_page(
        self, *, org_id: str | None, after: str | None, limit: int
    ) -> list[Project]:
        base: Document = {"is_deleted": False}
        if org_id is not None:
            base = {"org_id": org_id, **base}
        with translate_errors("list projects"):
            docs = await page(self._projects, page_filter(base, after), limit)
        return [project_from_document(d) for d in docs]

    async def update(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        update = pushing(update_of(project_to_document(project)), audit)
        with translate_errors("update projects"):
            result = await self._projects.update_one({"_id": project.id}, update)
        if result.matched_count == 0:
            raise NotFound("project not found")
        await self._outbox.deliver(self._projects, project.id, audit)

    async def change(
        self,
        project_id: str,
        change: Callable[[Project], Project],
        *,
        audit: AuditRecord | None = None,
    ) -> Project | None:
        found = await change_by_swap(
            self._projects,
            {"_id": project_id, "is_deleted": False},
            read=project_from_document,
            change=lambda stored: kept_project(stored, change(stored)),
            write=lambda changed: pushing(update_of(project_to_document(changed)), audit),
            fields=PROJECT_FIELDS,
            name=f"project {project_id}",
        )
        if found is None:
            return None
        project, wrote = found
        if wrote:
            await self._outbox.deliver(self._projects, project_id, audit)
        return project

    async def touch_keys(self, used: Mapping[str, datetime]) -> None:
        if not used:
            return
        # `$max` sets the field when it is absent or earlier, in the server, atomically:
        # two replicas flushing their batches in either order keep the later time. By
        # `_id` only, so a document another tool wrote is touched the same way.
        writes = [
            UpdateOne({"_id": project_id}, {"$max": {"key_last_used_at": at}})
            for project_id, at in used.items()
        ]
        with translate_errors("touch projects' keys"):
            await self._projects.bulk_write(writes, ordered=False)

    async def ids_of_organization(self, org_id: str) -> list[str]:
        # Served by the (org_id, is_deleted, _id) index's prefix.
        with translate_errors("list the project ids of an organization"):
            found = await self._projects.find({"org_id": org_id}, {"_id": 1}).to_list()
        return sorted(str(doc["_id"]) for doc in found)

    async def delete_for_organization(self, org_id: str, at: datetime) -> list[str]:
        """Soft-delete every live project of ``org_id`` at ``at``; return their ids.

        Two steps, not one transaction (a standalone server has none): read the ids of the
        live projects, then ``update_many`` every project of the organization still live.
        Under concurrency:

        - a project another request deletes between the two steps is still returned (it is
          deleted either way; its ``deleted_at`` is that request's);
        - a project created in the organization between the two steps is deleted too and,
          since ``update_many`` does not say which documents it changed, the ids are read
          again (projects of the organization deleted at exactly ``at``) whenever it
          changed more documents than were read;
        - a project created after the ``update_many`` stays live: callers delete the
          organization first, so that no new project can be created in it.
        """
        live = {"org_id": org_id, "is_deleted": False}
        with translate_errors("delete projects of an organization"):
            found = await self._projects.find(live, {"_id": 1}).sort("_id", ASCENDING).to_list()
            ids = [str(d["_id"]) for d in found]
            if not ids:
                return []
            result = await self._projects.update_many(
                live, {"$set": {"is_deleted": True, "deleted_at": at, "updated_at": at}}
            )
            if result.modified_count > len(ids):
                late = await self._projects.find(
                    {"org_id": org_id, "is_deleted": True, "deleted_at": at}, {"_id": 1}
                ).to_list()
                ids = sorted({*ids, *(str(d["_id"]) for d in late)})
        return ids
