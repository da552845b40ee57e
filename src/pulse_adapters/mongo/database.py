"""One MongoDB database as Pulse's shared persistence: the client, its timeouts, its indexes.

Create one :class:`MongoDatabase` per process, ``await connect()`` it at startup, hand it
to the repositories, ``await close()`` it on shutdown. Constructing it does no I/O.

Timeouts. Every operation is bounded by ``timeout_seconds``, through pymongo's
client-side operation timeout (``timeoutMS``): it covers server selection, connection
checkout, the round trip and any automatic retry, so a dead, unreachable or stalled
server surfaces as :class:`~pulse_core.errors.Unavailable` after about
``timeout_seconds``, never as a hang. ``serverSelectionTimeoutMS``, ``connectTimeoutMS``
and ``socketTimeoutMS`` are set to the same budget so that no single phase can outlive
it even in code paths that bypass ``timeoutMS`` (the monitor's own sockets, for one).
Keyword options win over the same options in the URI.

Indexes. :func:`index_plan` is the single description of every index Pulse relies on;
:meth:`MongoDatabase.ensure_indexes` creates them (``pulse db create-indexes`` calls it)
and is idempotent. Names are explicit and stable, in MongoDB's default ``<field>_<dir>``
style, so that an index the original Go service already created with the same key and
options (``pulse_api_key_1``, ``email_1``, ``timestamp_1``) is recognised as the same
index instead of conflicting with a differently named twin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import pymongo
from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from pulse_adapters.mongo.errors import translate_errors
from pulse_core.errors import Conflict
from pulse_core.models.events import EVENT_RETENTION_DAYS

Document = dict[str, Any]

# Collection names of the original Go service.
ORGANIZATIONS = "organizations"
PROJECTS = "projects"
USERS = "users"
USAGE_METRICS = "usage_metrics"
USAGE_ROLLUPS = "usage_rollups"
OPEN_CONNECTIONS = "open_connections"
MEDIA_EGRESS = "media_egress"
MEDIA_INGRESS = "media_ingress"
EVENTS = "events"
WEBHOOK_ENDPOINTS = "webhook_endpoints"
WEBHOOK_DELIVERIES = "webhook_deliveries"

#: Usage records expire 90 days after their ``timestamp`` (MongoDB's TTL monitor runs
#: about once a minute, so expiry is not to the second).
USAGE_TTL_SECONDS = 90 * 24 * 3600  # 7_776_000
#: Usage roll-ups expire 13 months (400 days) after their period start, through their
#: ``expires_at`` field (the TTL index expires at that date: ``expireAfterSeconds: 0``).
ROLLUP_RETENTION_DAYS = 400
#: Events expire ``EVENT_RETENTION_DAYS`` (30) after their ``timestamp``, the same way.
EVENT_TTL_SECONDS = EVENT_RETENTION_DAYS * 24 * 3600  # 2_592_000

# createIndexes answers these when an index of the same name (or key) exists with other
# options: typically the Go service's global `admin_email_1`.
_INDEX_CONFLICT_CODES = frozenset({85, 86})  # IndexOptionsConflict, IndexKeySpecsConflict


@dataclass(frozen=True, kw_only=True)
class IndexSpec:
    """One index of :func:`index_plan`: where, on what, with which options, and why."""

    collection: str
    name: str
    keys: tuple[tuple[str, int], ...]
    purpose: str
    unique: bool = False
    partial_filter: Mapping[str, Any] | None = None
    expire_after_seconds: int | None = None
    options: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        options: dict[str, Any] = {"name": self.name}
        if self.unique:
            options["unique"] = True
        if self.partial_filter is not None:
            options["partialFilterExpression"] = dict(self.partial_filter)
        if self.expire_after_seconds is not None:
            options["expireAfterSeconds"] = self.expire_after_seconds
        object.__setattr__(self, "options", options)

    def model(self) -> IndexModel:
        return IndexModel(list(self.keys), **self.options)


# Ownership records of egress and ingress (pulse_adapters.mongo.media_records): the
# same three indexes on both collections.
_MEDIA_RECORD_PLAN: tuple[IndexSpec, ...] = tuple(
    spec
    for collection, what in ((MEDIA_EGRESS, "egress"), (MEDIA_INGRESS, "ingress"))
    for spec in (
        IndexSpec(
            collection=collection,
            name="engine_id_1",
            keys=(("engine_id", ASCENDING),),
            unique=True,
            purpose=f"one {what} of the media server has one owner; lookup by engine id",
        ),
        IndexSpec(
            collection=collection,
            name="project_id_1__id_1",
            keys=(("project_id", ASCENDING), ("_id", ASCENDING)),
            purpose=f"list a project's {what} in id order",
        ),
        IndexSpec(
            collection=collection,
            name="project_id_1_room_1__id_1",
            keys=(("project_id", ASCENDING), ("room", ASCENDING), ("_id", ASCENDING)),
            purpose=f"list a project's {what} of one room in id order",
        ),
    )
)

# The event log, webhook endpoints and deliveries (pulse_adapters.mongo.events). Every
# list is one project's range of `_id`, newest first: MongoDB walks these ascending
# indexes backwards, so ascending keys serve both directions (endpoints fan out oldest
# first) and keep the `<field>_1` names.
_EVENT_PLAN: tuple[IndexSpec, ...] = (
    IndexSpec(
        collection=EVENTS,
        name="project_id_1__id_1",
        keys=(("project_id", ASCENDING), ("_id", ASCENDING)),
        purpose="list a project's events newest first (time window applied on the way)",
    ),
    IndexSpec(
        collection=EVENTS,
        name="project_id_1_type_1__id_1",
        keys=(("project_id", ASCENDING), ("type", ASCENDING), ("_id", ASCENDING)),
        purpose="list a project's events of some types newest first (one range per type)",
    ),
    IndexSpec(
        collection=EVENTS,
        name="timestamp_1",
        keys=(("timestamp", ASCENDING),),
        expire_after_seconds=EVENT_TTL_SECONDS,
        purpose="expire events 30 days after their timestamp (TTL); purge_before",
    ),
    IndexSpec(
        collection=WEBHOOK_ENDPOINTS,
        name="project_id_1__id_1",
        keys=(("project_id", ASCENDING), ("_id", ASCENDING)),
        purpose="list a project's webhook endpoints (pages newest first, fan-out oldest first)",
    ),
    IndexSpec(
        collection=WEBHOOK_DELIVERIES,
        name="project_id_1__id_1",
        keys=(("project_id", ASCENDING), ("_id", ASCENDING)),
        purpose="list a project's deliveries newest first",
    ),
    IndexSpec(
        collection=WEBHOOK_DELIVERIES,
        name="project_id_1_endpoint_id_1__id_1",
        keys=(("project_id", ASCENDING), ("endpoint_id", ASCENDING), ("_id", ASCENDING)),
        purpose="list an endpoint's deliveries newest first; delete them with the endpoint",
    ),
    IndexSpec(
        collection=WEBHOOK_DELIVERIES,
        name="project_id_1_event_id_1__id_1",
        keys=(("project_id", ASCENDING), ("event_id", ASCENDING), ("_id", ASCENDING)),
        purpose="list an event's deliveries (one per endpoint) newest first",
    ),
    IndexSpec(
        collection=WEBHOOK_DELIVERIES,
        name="project_id_1_status_1__id_1",
        keys=(("project_id", ASCENDING), ("status", ASCENDING), ("_id", ASCENDING)),
        purpose="list a project's deliveries in one status newest first",
    ),
)

# Usage metering (pulse_adapters.mongo.usage), beyond usage_metrics' own indexes below.
_USAGE_PLAN: tuple[IndexSpec, ...] = (
    IndexSpec(
        collection=USAGE_METRICS,
        name="pending_since_1",
        keys=(("pending_since", ASCENDING),),
        # Only records whose roll-ups are unfinished carry the field: a tiny index.
        partial_filter={"pending_since": {"$exists": True}},
        purpose="find records a crashed or failed record() left pending (repair)",
    ),
    IndexSpec(
        collection=USAGE_ROLLUPS,
        name="project_id_1_granularity_1_period_start_1",
        keys=(("project_id", ASCENDING), ("granularity", ASCENDING), ("period_start", ASCENDING)),
        purpose="totals: a project's hourly or daily roll-ups over a time range",
    ),
    IndexSpec(
        collection=USAGE_ROLLUPS,
        name="expires_at_1",
        keys=(("expires_at", ASCENDING),),
        expire_after_seconds=0,
        purpose="expire roll-ups 13 months (400 days) after their period start (TTL); purge",
    ),
    IndexSpec(
        collection=OPEN_CONNECTIONS,
        name="project_id_1_livekit_room_1_joined_at_1_participant_sid_1",
        keys=(
            ("project_id", ASCENDING),
            ("livekit_room", ASCENDING),
            ("joined_at", ASCENDING),
            ("participant_sid", ASCENDING),
        ),
        purpose="list a room's open connections oldest first; the rooms with open connections",
    ),
)


_PLAN: tuple[IndexSpec, ...] = (
    # -- organizations ---------------------------------------------------------------
    IndexSpec(
        collection=ORGANIZATIONS,
        name="admin_email_1",
        keys=(("admin_email", ASCENDING),),
        unique=True,
        # Unique among live organizations only: deleting an organization frees its email.
        partial_filter={"is_deleted": False},
        purpose="admin_email is unique among live organizations",
    ),
    IndexSpec(
        collection=ORGANIZATIONS,
        name="is_deleted_1__id_1",
        keys=(("is_deleted", ASCENDING), ("_id", ASCENDING)),
        purpose="list live organizations in id order (cursor pagination)",
    ),
    # -- projects ----------------------------------------------------------------------
    IndexSpec(
        collection=PROJECTS,
        name="pulse_api_key_1",
        keys=(("pulse_api_key", ASCENDING),),
        unique=True,
        purpose="authenticate by current key; a current key is never stored twice",
    ),
    IndexSpec(
        collection=PROJECTS,
        name="previous_api_key_1",
        keys=(("previous_api_key", ASCENDING),),
        unique=True,
        # Most projects have no previous key and Pulse never stores null there, so only
        # documents holding one are indexed (a plain unique index would collide on null).
        partial_filter={"previous_api_key": {"$exists": True}},
        purpose="authenticate by previous key during a rotation's grace period",
    ),
    IndexSpec(
        collection=PROJECTS,
        name="api_keys_1",
        keys=(("api_keys", ASCENDING),),
        unique=True,
        # `api_keys` holds [current, previous] of each project; a unique index on an
        # array field is enforced across documents for every element, so a key can never
        # be one project's current and another's previous, atomically, with no race.
        partial_filter={"api_keys": {"$exists": True}},
        purpose="a key is never held by two projects, whichever slot holds it",
    ),
    IndexSpec(
        collection=PROJECTS,
        name="org_id_1_is_deleted_1__id_1",
        keys=(("org_id", ASCENDING), ("is_deleted", ASCENDING), ("_id", ASCENDING)),
        purpose="list an organization's live projects in id order; cascade delete",
    ),
    IndexSpec(
        collection=PROJECTS,
        name="is_deleted_1__id_1",
        keys=(("is_deleted", ASCENDING), ("_id", ASCENDING)),
        purpose="list all live projects in id order (platform admins)",
    ),
    # -- users -------------------------------------------------------------------------
    IndexSpec(
        collection=USERS,
        name="email_1",
        keys=(("email", ASCENDING),),
        unique=True,
        purpose="email is unique across the platform; login lookup",
    ),
    IndexSpec(
        collection=USERS,
        name="org_id_1__id_1",
        keys=(("org_id", ASCENDING), ("_id", ASCENDING)),
        purpose="list an organization's users in id order",
    ),
    # -- usage_metrics -------------------------------------------------------------------
    IndexSpec(
        collection=USAGE_METRICS,
        name="project_id_1__id_1",
        keys=(("project_id", ASCENDING), ("_id", ASCENDING)),
        purpose="list a project's usage in id order (time filter applied on the way)",
    ),
    IndexSpec(
        collection=USAGE_METRICS,
        name="timestamp_1",
        keys=(("timestamp", ASCENDING),),
        expire_after_seconds=USAGE_TTL_SECONDS,
        purpose="expire usage records 90 days after their timestamp (TTL)",
    ),
    *_USAGE_PLAN,
    *_MEDIA_RECORD_PLAN,
    *_EVENT_PLAN,
)


def index_plan() -> tuple[IndexSpec, ...]:
    """Every index Pulse needs, in creation order (for docs, the CLI and tests)."""
    return _PLAN


class MongoDatabase:
    """An ``AsyncMongoClient`` bound to one database, with bounded timeouts.

    ``uri`` is any MongoDB connection string (``mongodb://`` or ``mongodb+srv://``);
    ``db_name`` the database (``MONGO_DB_NAME``). ``timeout_seconds`` bounds every
    operation (see the module doc). Datetimes come back timezone-aware in UTC.
    """

    def __init__(self, uri: str, db_name: str, *, timeout_seconds: float = 5.0) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        budget_ms = max(1, round(timeout_seconds * 1000))
        self._timeout_seconds = timeout_seconds
        # AsyncMongoClient connects lazily (on the first operation, inside the running
        # event loop), so building it here does no I/O and needs no loop.
        self._client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri,
            tz_aware=True,
            tzinfo=UTC,
            serverSelectionTimeoutMS=budget_ms,
            connectTimeoutMS=budget_ms,
            socketTimeoutMS=budget_ms,
            timeoutMS=budget_ms,
            appname="pulse",
        )
        self._db: AsyncDatabase[Document] = self._client[db_name]

    @property
    def timeout_seconds(self) -> float:
        return self._timeout_seconds

    @property
    def database(self) -> AsyncDatabase[Document]:
        """The pymongo database, for tooling and tests; repositories use :meth:`collection`."""
        return self._db

    def collection(self, name: str) -> AsyncCollection[Document]:
        return self._db[name]

    async def connect(self) -> None:
        """Check the server answers, then make sure every index exists.

        Raises :class:`~pulse_core.errors.Unavailable` if the server cannot be reached
        within the timeout, :class:`~pulse_core.errors.Conflict` as :meth:`ensure_indexes`.
        """
        await self.ping()
        await self.ensure_indexes()

    async def close(self) -> None:
        """Close every connection; the object must not be used afterwards."""
        await self._client.close()

    async def ping(self) -> None:
        """Return when the server answers; else raise ``Unavailable`` within the timeout."""
        with translate_errors("ping"):
            await self._client.admin.command("ping")

    async def ensure_indexes(self, *, timeout_seconds: float | None = None) -> list[str]:
        """Create every index of :func:`index_plan` that is missing; return the names of
        all of them, qualified by collection (``"projects.pulse_api_key_1"``), in plan order.

        Idempotent: an index that exists with the same name, key and options is left
        alone. ``timeout_seconds`` (default: the database's) bounds each collection's
        ``createIndexes``; give ``pulse db create-indexes`` a longer one on big existing
        collections, whose index builds take time (a build that times out on the client
        keeps running on the server).

        Raises ``Conflict`` (``code="index_conflict"``) when an index of the same name or
        key exists with other options, naming it and the way out; ``Conflict`` with the
        field when existing documents violate a new unique index; ``Unavailable`` when
        the server is down or too slow.
        """
        by_collection: dict[str, list[IndexSpec]] = {}
        for spec in _PLAN:
            by_collection.setdefault(spec.collection, []).append(spec)
        names: list[str] = []
        budget = self._timeout_seconds if timeout_seconds is None else timeout_seconds
        with pymongo.timeout(budget):
            for collection, specs in by_collection.items():
                names.extend(await self._create_indexes(collection, specs))
        return names

    async def _create_indexes(self, collection: str, specs: Sequence[IndexSpec]) -> list[str]:
        try:
            with translate_errors(f"create indexes on {collection}"):
                names = await self._db[collection].create_indexes([s.model() for s in specs])
        except OperationFailure as exc:
            if exc.code not in _INDEX_CONFLICT_CODES:
                raise
            raise _index_conflict(collection, specs, exc) from exc
        return [f"{collection}.{name}" for name in names]


def _index_conflict(collection: str, specs: Sequence[IndexSpec], exc: PyMongoError) -> Conflict:
    wanted = ", ".join(s.name for s in specs)
    return Conflict(
        f"collection {collection!r} has an index with the name or key of one of Pulse's"
        f" ({wanted}) but other options; if it was created by an older deployment (e.g. the"
        f" Go service's global unique `admin_email_1`), drop it with"
        f" db.{collection}.dropIndex('<name>') and run `pulse db create-indexes` again."
        f" Server said: {exc}",
        code="index_conflict",
    )
