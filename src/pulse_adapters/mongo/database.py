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

Indexes. :func:`~pulse_adapters.mongo.indexes.index_plan` is the single description of
every index Pulse relies on; :meth:`MongoDatabase.ensure_indexes` creates them (``pulse
db create-indexes`` calls it) and is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, InvalidURI, OperationFailure, PyMongoError
from pymongo.uri_parser import parse_uri

from pulse_adapters.mongo.errors import translate_errors
from pulse_adapters.mongo.indexes import IndexSpec, index_plan
from pulse_adapters.mongo.telemetry import TelemetryListener
from pulse_core.errors import Conflict, InvalidInput, Unavailable
from pulse_core.ports.telemetry import NO_TELEMETRY, Telemetry

Document = dict[str, Any]

# createIndexes answers these when an index of the same name (or key) exists with other
# options: typically the Go service's global unique `admin_email_1` or `users.email_1`
# (Pulse's are partial: a deleted organization or removed user frees its email).
_INDEX_CONFLICT_CODES = frozenset({85, 86})  # IndexOptionsConflict, IndexKeySpecsConflict


def check_uri(uri: str, *, timeout_seconds: float = 5.0) -> None:
    """Raise ``InvalidInput`` saying what is wrong with the connection string ``uri``
    (scheme, hosts, options), as pymongo's own parser finds it; the message never
    repeats the string (it may hold a password). A ``mongodb+srv://`` name is looked up
    in DNS (within ``timeout_seconds``), as the client would at its first call."""
    try:
        parse_uri(uri, connect_timeout=timeout_seconds)
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        raise InvalidInput(f"not a valid MongoDB connection string: {exc}") from exc


def where(uri: str) -> str:
    """The hosts of ``uri`` as written (``db1:27017,db2:27017``, or an SRV name), without
    user, password, database or options: what an error message may show."""
    rest = uri.partition("://")[2]
    hosts = rest.split("/", 1)[0].split("?", 1)[0]
    return hosts.rpartition("@")[2] or "(no host)"


class MongoDatabase:
    """An ``AsyncMongoClient`` bound to one database, with bounded timeouts.

    ``uri`` is any MongoDB connection string (``mongodb://`` or ``mongodb+srv://``);
    ``db_name`` the database (``MONGO_DB_NAME``). ``timeout_seconds`` bounds every
    operation (see the module doc). Datetimes come back timezone-aware in UTC. Each
    command is reported to ``telemetry`` (``mongodb``, the command's name).
    """

    def __init__(
        self,
        uri: str,
        db_name: str,
        *,
        timeout_seconds: float = 5.0,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        budget_ms = max(1, round(timeout_seconds * 1000))
        self._timeout_seconds = timeout_seconds
        self._where = where(uri)
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
            event_listeners=[] if telemetry is NO_TELEMETRY else [TelemetryListener(telemetry)],
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

        Raises :class:`~pulse_core.errors.Unavailable` naming the hosts and the timeout
        if the server cannot be reached within it, :class:`~pulse_core.errors.Conflict`
        as :meth:`ensure_indexes`.
        """
        try:
            await self.ping()
        except Unavailable as exc:
            raise Unavailable(
                f"MongoDB at {self._where} did not answer within {self._timeout_seconds:g} s"
                f" ({type(exc.__cause__).__name__})"
            ) from exc
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
        for spec in index_plan():
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
        f" Go service's global unique `admin_email_1` or `email_1` on users), drop it with"
        f" db.{collection}.dropIndex('<name>') and run `pulse db create-indexes` again."
        f" Server said: {exc}",
        code="index_conflict",
    )
