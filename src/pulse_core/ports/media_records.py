"""Media-record ports: which project owns each egress and ingress, and their last state.

Kept by Pulse so that an ownership check is one keyed read and a project's list is one
indexed range, never a scan of the media server. The rules of
:mod:`pulse_core.ports.repositories` apply, plus one: every read is scoped by
``project_id``, and a record of another project is ``None`` / absent / ``NotFound``
exactly as if it did not exist.

- ``list_page`` returns at most ``limit`` records of ``project_id`` (of ``room`` only
  when given) with ``id > after`` (``after`` None: from the start), in ascending id
  order, which is creation order.
- ``add`` raises ``Conflict`` when the id, or the ``engine_id`` (one engine object has
  one owner), is already stored; nothing is written then.
- ``update`` replaces the record with the same id *and* project; ``NotFound`` otherwise.
- A backend that is down or too slow raises ``Unavailable`` within its timeout.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

from pulse_core.models.media import Egress, Ingress
from pulse_core.ports.changes import kept


class EgressRecordRepository(abc.ABC):
    """Egress records (:class:`~pulse_core.models.media.Egress`). Kept after the egress
    ends: they are the project's history of recordings and streams."""

    @abc.abstractmethod
    async def add(self, egress: Egress) -> None:
        """Store ``egress``; ``Conflict`` if its id or engine id exists."""

    @abc.abstractmethod
    async def get_by_engine_id(self, engine_id: str) -> Egress | None:
        """The record of the media server's egress ``engine_id``, whichever project owns
        it, or None. Only for routing the media server's own events to their project:
        anything a tenant asks for goes through :meth:`get`."""

    @abc.abstractmethod
    async def get(self, project_id: str, egress_id: str) -> Egress | None:
        """The egress ``egress_id`` if ``project_id`` owns it, else None."""

    @abc.abstractmethod
    async def list_page(
        self, project_id: str, *, room: str | None, after: str | None, limit: int
    ) -> list[Egress]:
        """Egresses of ``project_id`` (whose ``room`` equals ``room`` when given), in
        id order."""

    @abc.abstractmethod
    async def update(self, egress: Egress) -> None:
        """Replace ``egress`` by id and project; ``NotFound`` if there is none."""

    @abc.abstractmethod
    async def change(
        self, project_id: str, egress_id: str, change: Callable[[Egress], Egress]
    ) -> Egress | None:
        """Replace the project's egress with ``change(stored)`` as one step, and return
        what is stored now; None (``change`` not called) when there is no such record.

        No other write lands between the read ``change`` is given and the write of its
        answer: the media server's webhook ending an egress (with its files) and a read
        refreshing its status from the engine both keep what the other wrote.
        ``change`` must be a pure function of the record, quick, and keep its id,
        project and engine id (``ValueError`` otherwise); answering ``stored`` itself
        writes nothing."""

    @abc.abstractmethod
    async def count_active(self, project_ids: Sequence[str]) -> int:
        """How many egresses of ``project_ids`` have not ended (``Egress.ended`` is
        False): what an organization's concurrent-egress limit counts."""


class IngressRecordRepository(abc.ABC):
    """Ingress records (:class:`~pulse_core.models.media.Ingress`); deleting an ingress
    deletes its record."""

    @abc.abstractmethod
    async def add(self, ingress: Ingress) -> None:
        """Store ``ingress``; ``Conflict`` if its id or engine id exists."""

    @abc.abstractmethod
    async def get_by_engine_id(self, engine_id: str) -> Ingress | None:
        """The record of the media server's ingress ``engine_id``, whichever project owns
        it, or None. Only for routing the media server's own events to their project:
        anything a tenant asks for goes through :meth:`get`."""

    @abc.abstractmethod
    async def get(self, project_id: str, ingress_id: str) -> Ingress | None:
        """The ingress ``ingress_id`` if ``project_id`` owns it, else None."""

    @abc.abstractmethod
    async def list_page(
        self, project_id: str, *, room: str | None, after: str | None, limit: int
    ) -> list[Ingress]:
        """Ingresses of ``project_id`` (of ``room`` when given), in id order."""

    @abc.abstractmethod
    async def update(self, ingress: Ingress) -> None:
        """Replace ``ingress`` by id and project; ``NotFound`` if there is none."""

    @abc.abstractmethod
    async def change(
        self, project_id: str, ingress_id: str, change: Callable[[Ingress], Ingress]
    ) -> Ingress | None:
        """As :meth:`EgressRecordRepository.change`, for an ingress: None (``change`` not
        called) when there is no such record, deleted meanwhile included."""

    @abc.abstractmethod
    async def count_active(self, project_ids: Sequence[str]) -> int:
        """How many ingresses of ``project_ids`` exist and have not ended (``Ingress.ended``
        is False): what an organization's concurrent-ingress limit counts."""

    @abc.abstractmethod
    async def delete(self, project_id: str, ingress_id: str) -> bool:
        """Delete the record if ``project_id`` owns it; whether there was one."""


def kept_ingress(stored: Ingress, changed: Ingress) -> Ingress:
    """What :meth:`IngressRecordRepository.change` asks of its function; adapters call it."""
    return kept(
        stored,
        changed,
        ("id", "project_id", "engine_id"),
        "an ingress change must keep the ingress's id, project and engine id",
    )


def kept_egress(stored: Egress, changed: Egress) -> Egress:
    """What :meth:`EgressRecordRepository.change` asks of its function; adapters call it."""
    return kept(
        stored,
        changed,
        ("id", "project_id", "engine_id"),
        "an egress change must keep the egress's id, project and engine id",
    )
