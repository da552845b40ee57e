"""SQLite webhook endpoints: table ``webhook_endpoints`` (migration 4 of
:mod:`pulse_adapters.sqlite.schema`).

The whole endpoint is msgspec JSON in ``data``; reads and writes filter on ``project_id``,
so another project's id finds nothing. An audited write stores its record in the same
transaction as the change (:func:`~pulse_adapters.sqlite.audit.insert_audit`, after the
change succeeded).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import msgspec

from pulse_adapters.sqlite.audit import insert_audit
from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_adapters.sqlite.events import before_bound
from pulse_core.errors import NotFound
from pulse_core.models.audit import AuditRecord
from pulse_core.models.events import WebhookEndpoint
from pulse_core.ports.events import WebhookEndpointRepository, kept_endpoint

_ENCODER = msgspec.json.Encoder()
_ENDPOINT = msgspec.json.Decoder(WebhookEndpoint)

# The queries, named so that tests can check each one is served by an index.
ENDPOINT_INSERT = "INSERT INTO webhook_endpoints (id, project_id, data) VALUES (?, ?, ?)"
ENDPOINT_GET = "SELECT data FROM webhook_endpoints WHERE id = ? AND project_id = ?"
ENDPOINT_LIST = (
    "SELECT data FROM webhook_endpoints WHERE project_id = ? AND id < ? ORDER BY id DESC LIMIT ?"
)
ENDPOINT_LIST_ALL = "SELECT data FROM webhook_endpoints WHERE project_id = ? ORDER BY id"
ENDPOINT_UPDATE = "UPDATE webhook_endpoints SET data = ? WHERE id = ? AND project_id = ?"
ENDPOINT_DELETE = "DELETE FROM webhook_endpoints WHERE id = ? AND project_id = ?"


def _json(endpoint: WebhookEndpoint) -> str:
    return _ENCODER.encode(endpoint).decode()


class SqliteWebhookEndpointRepository(WebhookEndpointRepository):
    """Webhook endpoints in table ``webhook_endpoints``; the id is the primary key, so a
    taken id is a ``Conflict`` (``field="id"``)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, endpoint: WebhookEndpoint, *, audit: AuditRecord | None = None) -> None:
        row = (endpoint.id, endpoint.project_id, _json(endpoint))

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(ENDPOINT_INSERT, row)
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def get(self, project_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        def work(conn: sqlite3.Connection) -> WebhookEndpoint | None:
            row = conn.execute(ENDPOINT_GET, (endpoint_id, project_id)).fetchone()
            return None if row is None else _ENDPOINT.decode(row[0])

        return await self._db.read(work)

    async def list_page(
        self, project_id: str, *, before: str | None = None, limit: int
    ) -> list[WebhookEndpoint]:
        params = (project_id, before_bound(before), max(limit, 0))

        def work(conn: sqlite3.Connection) -> list[WebhookEndpoint]:
            return [_ENDPOINT.decode(data) for (data,) in conn.execute(ENDPOINT_LIST, params)]

        return await self._db.read(work)

    async def list_all(self, project_id: str) -> list[WebhookEndpoint]:
        def work(conn: sqlite3.Connection) -> list[WebhookEndpoint]:
            rows = conn.execute(ENDPOINT_LIST_ALL, (project_id,))
            return [_ENDPOINT.decode(data) for (data,) in rows]

        return await self._db.read(work)

    async def update(self, endpoint: WebhookEndpoint, *, audit: AuditRecord | None = None) -> None:
        params = (_json(endpoint), endpoint.id, endpoint.project_id)

        def work(conn: sqlite3.Connection) -> None:
            if conn.execute(ENDPOINT_UPDATE, params).rowcount == 0:
                raise NotFound("webhook endpoint not found")
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def change(
        self,
        project_id: str,
        endpoint_id: str,
        change: Callable[[WebhookEndpoint], WebhookEndpoint],
        *,
        audit: AuditRecord | None = None,
    ) -> WebhookEndpoint | None:
        # One write transaction (BEGIN IMMEDIATE): the read and the write hold the file's
        # write lock throughout, against this process's other calls and other processes.
        def work(conn: sqlite3.Connection) -> WebhookEndpoint | None:
            row = conn.execute(ENDPOINT_GET, (endpoint_id, project_id)).fetchone()
            if row is None:
                return None
            stored = _ENDPOINT.decode(row[0])
            changed = kept_endpoint(stored, change(stored))
            if changed != stored:
                conn.execute(ENDPOINT_UPDATE, (_json(changed), endpoint_id, project_id))
                if audit is not None:
                    insert_audit(conn, audit)
            return changed

        return await self._db.write(work)

    async def delete(
        self, project_id: str, endpoint_id: str, *, audit: AuditRecord | None = None
    ) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            existed = conn.execute(ENDPOINT_DELETE, (endpoint_id, project_id)).rowcount > 0
            if existed and audit is not None:
                insert_audit(conn, audit)
            return existed

        return await self._db.write(work)
