"""Persistence ports.

Shared rules for every repository:

- ``list_page`` methods return at most ``limit`` live objects with ``id > after`` (``after``
  None means from the start), in ascending id order, which is creation order. Deleted
  (``is_deleted``) objects are never returned by ``get``/``list`` methods.
- ``add`` stores a new object and raises :class:`~pulse_core.errors.Conflict` when a
  uniqueness rule would break; nothing is written in that case.
- ``update`` replaces the stored object with the same id and raises
  :class:`~pulse_core.errors.NotFound` when there is none (deleted ones included, so a
  soft delete is an ``update`` with ``is_deleted=True``), or ``Conflict`` as ``add`` does.
- A backend that is down or too slow raises :class:`~pulse_core.errors.Unavailable`
  within the adapter's configured timeout, never hangs.
- A write that takes ``audit`` stores that :class:`~pulse_core.models.audit.AuditRecord`
  in the audit log as part of the same unit of work: the change is never stored without
  its record, and a write that fails (``Conflict``, ``NotFound``...) leaves no record.
  Backends without multi-document transactions carry the record inside the written
  document and move it to the log afterwards (:meth:`AuditRepository.settle`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from datetime import datetime

from pulse_core.models import Organization, Project
from pulse_core.models.audit import AuditRecord
from pulse_core.ports.changes import kept


class OrganizationRepository(abc.ABC):
    """Organizations. Unique rule: ``admin_email`` among live organizations (a deleted
    organization frees its email)."""

    @abc.abstractmethod
    async def add(self, org: Organization, *, audit: AuditRecord | None = None) -> None:
        """Store ``org``; ``Conflict`` if a live organization has its ``admin_email``."""

    @abc.abstractmethod
    async def get(self, org_id: str) -> Organization | None:
        """The live organization ``org_id``, or None (missing or deleted)."""

    @abc.abstractmethod
    async def list_page(self, *, after: str | None, limit: int) -> list[Organization]:
        """Live organizations after ``after`` in id order (see the module rules)."""

    @abc.abstractmethod
    async def update(self, org: Organization, *, audit: AuditRecord | None = None) -> None:
        """Replace ``org`` by id; ``NotFound`` if absent, ``Conflict`` on the email rule."""

    @abc.abstractmethod
    async def change(
        self,
        org_id: str,
        change: Callable[[Organization], Organization],
        *,
        audit: AuditRecord | None = None,
    ) -> Organization | None:
        """Replace the live organization with ``change(stored)`` as one step, and return
        what is stored now; None (``change`` not called) when there is no live
        organization ``org_id``. The rules of :meth:`ProjectRepository.change` apply: one
        step, so a change made while the organization is deleted does not bring it back;
        ``change`` pure and keeping the id (``ValueError`` otherwise); what it raises
        propagates; answering ``stored`` writes nothing. ``Conflict`` on the email rule,
        as :meth:`update`."""


class ProjectRepository(abc.ABC):
    """Projects and their credentials. Unique rule: an API key (current or previous) is
    never stored twice, deleted projects included."""

    @abc.abstractmethod
    async def add(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        """Store ``project``; ``Conflict`` if its ``api_key`` is already taken."""

    @abc.abstractmethod
    async def get(self, project_id: str) -> Project | None:
        """The live project ``project_id``, or None."""

    @abc.abstractmethod
    async def get_by_api_key(self, api_key: str) -> Project | None:
        """The live project whose current ``api_key`` or ``previous.api_key`` is
        ``api_key``, or None. Expiry of the previous key is the caller's business."""

    @abc.abstractmethod
    async def list_page(
        self, *, org_id: str | None, after: str | None, limit: int
    ) -> list[Project]:
        """Live projects, of ``org_id`` only unless it is None, in id order."""

    @abc.abstractmethod
    async def update(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        """Replace ``project`` by id; ``NotFound`` if absent, ``Conflict`` on a taken key."""

    @abc.abstractmethod
    async def change(
        self,
        project_id: str,
        change: Callable[[Project], Project],
        *,
        audit: AuditRecord | None = None,
    ) -> Project | None:
        """Replace the live project with ``change(stored)`` as one step, and return what
        is stored now; None (``change`` not called) when there is no live project
        ``project_id``.

        No other write to the project lands between the read ``change`` is given and
        the write of its answer: a settings change made while the keys are rotated keeps
        the new keys, and one made while the project is deleted does not bring it back.
        ``change`` must be a pure function of the project, quick, and keep its id and
        organization (``ValueError`` otherwise): an adapter may call it inside its
        transaction, on another thread, or again after losing a race. What ``change``
        raises propagates and nothing is written. Answering ``stored`` itself writes
        nothing, ``audit`` included. ``Conflict`` on a taken key, as :meth:`update`."""

    @abc.abstractmethod
    async def touch_keys(self, used: Mapping[str, datetime]) -> None:
        """Set ``key_last_used_at`` of each project id to the given time unless it holds
        a later one already (batched by the caller: never one write per request). Unknown
        ids are ignored; nothing else of the project changes (not ``updated_at``) and no
        audit record is written."""

    @abc.abstractmethod
    async def ids_of_organization(self, org_id: str) -> list[str]:
        """The ids of every project of ``org_id``, deleted ones included, in id order:
        what the organization's usage is summed over."""

    @abc.abstractmethod
    async def delete_for_organization(self, org_id: str, at: datetime) -> list[str]:
        """Soft-delete every live project of ``org_id`` at ``at``; return their ids."""


def kept_organization(stored: Organization, changed: Organization) -> Organization:
    """What :meth:`OrganizationRepository.change` asks of its function; adapters call it."""
    return kept(stored, changed, ("id",), "an organization change must keep the organization's id")


def kept_project(stored: Project, changed: Project) -> Project:
    """What :meth:`ProjectRepository.change` asks of its function; adapters call it."""
    return kept(
        stored,
        changed,
        ("id", "org_id"),
        "a project change must keep the project's id and organization",
    )
