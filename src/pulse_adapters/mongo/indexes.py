"""Pulse's MongoDB schema: collection names, the fields indexes rely on, every index.

:func:`index_plan` is the single description of every index Pulse relies on, each with
its purpose; :meth:`~pulse_adapters.mongo.database.MongoDatabase.ensure_indexes` creates
them. Names are explicit and stable, in MongoDB's default ``<field>_<dir>`` style, so
that an index the original Go service already created with the same key and options
(``pulse_api_key_1``, ``timestamp_1``) is recognised as the same index instead of
conflicting with a differently named twin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pymongo import ASCENDING, DESCENDING, IndexModel

from pulse_core.models.events import EVENT_RETENTION_DAYS

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
SESSIONS = "sessions"
API_KEYS = "api_keys"
AUDIT_LOG = "audit_log"
IDEMPOTENCY_KEYS = "idempotency_keys"

#: Usage records expire 90 days after their ``timestamp`` (MongoDB's TTL monitor runs
#: about once a minute, so expiry is not to the second).
USAGE_TTL_SECONDS = 90 * 24 * 3600  # 7_776_000
#: Usage roll-ups expire 13 months (400 days) after their period start, through their
#: ``expires_at`` field (the TTL index expires at that date: ``expireAfterSeconds: 0``).
ROLLUP_RETENTION_DAYS = 400
#: Events expire ``EVENT_RETENTION_DAYS`` (30) after their ``timestamp``, the same way.
EVENT_TTL_SECONDS = EVENT_RETENTION_DAYS * 24 * 3600  # 2_592_000

#: Where an audited write carries its audit record until it is moved to ``audit_log``
#: (see :mod:`pulse_adapters.mongo.outbox`): a list of audit documents.
OUTBOX: Final = "audit_outbox"
#: Set (true) on a webhook endpoint whose deletion is under way: every read ignores it,
#: and it goes once its records are in ``audit_log``.
TOMBSTONE: Final = "deleted"
#: The collections whose writes take ``audit``; :meth:`MongoAuditRepository.settle`
#: sweeps their outboxes.
AUDITED_COLLECTIONS: Final = (ORGANIZATIONS, PROJECTS, USERS, SESSIONS, API_KEYS, WEBHOOK_ENDPOINTS)
#: The collections whose deletes really delete (through a tombstone, see above).
TOMBSTONED_COLLECTIONS: Final = (WEBHOOK_ENDPOINTS,)


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


# Sessions and API keys (pulse_adapters.mongo.users, pulse_adapters.mongo.keys).
_ACCESS_PLAN: tuple[IndexSpec, ...] = (
    IndexSpec(
        collection=SESSIONS,
        name="user_id_1",
        keys=(("user_id", ASCENDING),),
        purpose="end every session of a user at once (removal, role change)",
    ),
    IndexSpec(
        collection=SESSIONS,
        name="expires_at_1",
        keys=(("expires_at", ASCENDING),),
        purpose="purge expired sessions (purge_expired)",
    ),
    IndexSpec(
        collection=API_KEYS,
        name="api_key_1",
        keys=(("api_key", ASCENDING),),
        unique=True,
        purpose="authenticate by key; a key is never stored twice, revoked ones included",
    ),
    IndexSpec(
        collection=API_KEYS,
        name="project_id_1__id_1",
        keys=(("project_id", ASCENDING), ("_id", ASCENDING)),
        purpose="list a project's keys oldest first",
    ),
)

# The audit log (pulse_adapters.mongo.audit) and the outboxes that feed it. The log is
# only ever read newest first, one organization (or the platform: org_id absent) at a
# time, hence `_id` descending after the equality fields.
_AUDIT_PLAN: tuple[IndexSpec, ...] = (
    IndexSpec(
        collection=AUDIT_LOG,
        name="org_id_1__id_-1",
        keys=(("org_id", ASCENDING), ("_id", DESCENDING)),
        purpose="list an organization's audit records newest first (since applied on the way)",
    ),
    IndexSpec(
        collection=AUDIT_LOG,
        name="org_id_1_action_1__id_-1",
        keys=(("org_id", ASCENDING), ("action", ASCENDING), ("_id", DESCENDING)),
        purpose="list an organization's audit records of one action newest first",
    ),
    IndexSpec(
        collection=AUDIT_LOG,
        name="org_id_1_resource_id_1__id_-1",
        keys=(("org_id", ASCENDING), ("resource_id", ASCENDING), ("_id", DESCENDING)),
        purpose="list the audit records of one resource newest first",
    ),
    IndexSpec(
        collection=AUDIT_LOG,
        name="at_1",
        # Not a TTL index: the retention (AUDIT_RETENTION_DAYS) is a setting, and a TTL
        # index would pin it; purge_before deletes along this index instead.
        keys=(("at", ASCENDING),),
        purpose="purge records older than the retention (purge_before)",
    ),
    *(
        IndexSpec(
            collection=collection,
            name=f"{OUTBOX}._id_1",
            keys=((f"{OUTBOX}._id", ASCENDING),),
            # Only documents carrying a record not yet moved are indexed: normally none.
            partial_filter={f"{OUTBOX}._id": {"$exists": True}},
            purpose="find audit records a crash left inside written documents (settle)",
        )
        for collection in AUDITED_COLLECTIONS
    ),
    *(
        IndexSpec(
            collection=collection,
            name=f"{TOMBSTONE}_1",
            keys=((TOMBSTONE, ASCENDING),),
            # Only documents whose deletion is under way (or was cut short by a crash).
            partial_filter={TOMBSTONE: True},
            purpose="find documents a crash left half deleted (settle)",
        )
        for collection in TOMBSTONED_COLLECTIONS
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
        # Unique among users not removed only: removing a user frees its email. Same
        # device as admin_email_1: a partial filter can only test equality, so the
        # documents carry the derived `is_removed` flag.
        partial_filter={"is_removed": False},
        purpose="email is unique among users not removed; sign-in lookup",
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
    *_ACCESS_PLAN,
    *_AUDIT_PLAN,
    # -- idempotency_keys (pulse_adapters.mongo.idempotency) ----------------------------
    IndexSpec(
        collection=IDEMPOTENCY_KEYS,
        name="expires_at_1",
        keys=(("expires_at", ASCENDING),),
        expire_after_seconds=0,
        purpose="expire Idempotency-Key records at their expires_at, 24 hours after (TTL)",
    ),
)


def index_plan() -> tuple[IndexSpec, ...]:
    """Every index Pulse needs, in creation order (for docs, the CLI and tests)."""
    return _PLAN
