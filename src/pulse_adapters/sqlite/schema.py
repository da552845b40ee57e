"""The schema of Pulse's SQLite file: its migrations, in order, and the version they reach.

:class:`~pulse_adapters.sqlite.database.SqliteDatabase` applies the ones a file lacks when
it connects. The tables are read and written by the adapters of this package
(``repositories``, ``media_records``, ``queue``, ``events``, ``webhook_endpoints``,
``usage``, ``users``, ``keys``, ``audit``).
"""

from __future__ import annotations

# Migration N (1-based) brings a database from ``PRAGMA user_version`` N-1 to N. Append
# new migrations, never edit a released one: files in the field are at every version.
#
# Each table keeps the columns that are looked up, ordered or unique as real columns and
# the whole domain struct as msgspec JSON in ``data``: the models can grow fields without
# a migration, and the database still enforces every uniqueness rule itself.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE organizations (
            id          TEXT    NOT NULL PRIMARY KEY,
            admin_email TEXT    NOT NULL,
            is_deleted  INTEGER NOT NULL CHECK (is_deleted IN (0, 1)),
            data        TEXT    NOT NULL
        )
        """,
        # A deleted organization frees its email: the rule only covers live rows.
        """
        CREATE UNIQUE INDEX organizations_live_admin_email
            ON organizations (admin_email) WHERE is_deleted = 0
        """,
        # list_page walks live rows in id order without visiting deleted ones.
        "CREATE INDEX organizations_live_id ON organizations (id) WHERE is_deleted = 0",
        """
        CREATE TABLE projects (
            id               TEXT    NOT NULL PRIMARY KEY,
            org_id           TEXT    NOT NULL,
            api_key          TEXT    NOT NULL,
            previous_api_key TEXT,
            is_deleted       INTEGER NOT NULL CHECK (is_deleted IN (0, 1)),
            data             TEXT    NOT NULL
        )
        """,
        "CREATE INDEX projects_live_org_id ON projects (org_id, id) WHERE is_deleted = 0",
        "CREATE INDEX projects_live_id ON projects (id) WHERE is_deleted = 0",
        # Every key a project holds (current and previous), one row each. Its primary key
        # is what makes a key unique ACROSS both project columns, which two UNIQUE column
        # constraints cannot express. Deleted projects keep their rows: their keys stay
        # reserved. The triggers below keep it in step with `projects` inside the very
        # statement that writes the project, so no code path can forget it.
        """
        CREATE TABLE project_keys (
            api_key    TEXT NOT NULL PRIMARY KEY,
            project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE
        )
        """,
        "CREATE INDEX project_keys_project_id ON project_keys (project_id)",
        """
        CREATE TRIGGER projects_keys_after_insert AFTER INSERT ON projects
        BEGIN
            INSERT INTO project_keys (api_key, project_id) VALUES (NEW.api_key, NEW.id);
            INSERT INTO project_keys (api_key, project_id)
                SELECT NEW.previous_api_key, NEW.id
                WHERE NEW.previous_api_key IS NOT NULL
                  AND NEW.previous_api_key <> NEW.api_key;
        END
        """,
        # A rotation frees the key that dropped out, as the in-memory reference does.
        """
        CREATE TRIGGER projects_keys_after_update
        AFTER UPDATE OF api_key, previous_api_key ON projects
        BEGIN
            DELETE FROM project_keys WHERE project_id = OLD.id;
            INSERT INTO project_keys (api_key, project_id) VALUES (NEW.api_key, NEW.id);
            INSERT INTO project_keys (api_key, project_id)
                SELECT NEW.previous_api_key, NEW.id
                WHERE NEW.previous_api_key IS NOT NULL
                  AND NEW.previous_api_key <> NEW.api_key;
        END
        """,
        """
        CREATE TABLE users (
            id     TEXT NOT NULL PRIMARY KEY,
            email  TEXT NOT NULL,
            org_id TEXT NOT NULL,
            data   TEXT NOT NULL
        )
        """,
        "CREATE UNIQUE INDEX users_email ON users (email)",
        "CREATE INDEX users_org_id ON users (org_id, id)",
        # `timestamp_us`: microseconds since the epoch, UTC; integers compare exactly, where
        # RFC 3339 strings with different offsets would not.
        """
        CREATE TABLE usage_records (
            id           TEXT    NOT NULL PRIMARY KEY,
            project_id   TEXT    NOT NULL,
            timestamp_us INTEGER NOT NULL,
            data         TEXT    NOT NULL
        )
        """,
        "CREATE INDEX usage_records_project_id ON usage_records (project_id, id)",
    ),
    # 2: media records (pulse_adapters.sqlite.media_records). Ownership of each egress and
    # ingress: every read is by (project_id, id) or a project's range, optionally one
    # room's. `engine_id` is the media server's id; unique, so no engine object ever has
    # two owners.
    (
        """
        CREATE TABLE egress_records (
            id         TEXT NOT NULL PRIMARY KEY,
            project_id TEXT NOT NULL,
            room       TEXT,
            engine_id  TEXT NOT NULL,
            data       TEXT NOT NULL
        )
        """,
        "CREATE UNIQUE INDEX egress_records_engine_id ON egress_records (engine_id)",
        "CREATE INDEX egress_records_project_id ON egress_records (project_id, id)",
        "CREATE INDEX egress_records_project_room ON egress_records (project_id, room, id)",
        """
        CREATE TABLE ingress_records (
            id         TEXT NOT NULL PRIMARY KEY,
            project_id TEXT NOT NULL,
            room       TEXT NOT NULL,
            engine_id  TEXT NOT NULL,
            data       TEXT NOT NULL
        )
        """,
        "CREATE UNIQUE INDEX ingress_records_engine_id ON ingress_records (engine_id)",
        "CREATE INDEX ingress_records_project_id ON ingress_records (project_id, id)",
        "CREATE INDEX ingress_records_project_room ON ingress_records (project_id, room, id)",
    ),
    # 3: the durable job queue (pulse_adapters.sqlite.queue). Times are microseconds
    # since the epoch (the queue's clock). `seq` is enqueue order, so jobs due at the
    # same instant leave in the order they came (ids are random within a millisecond).
    # A job is runnable once `runnable_at_us` has passed: its due time while it is
    # free, the end of its reservation while it is reserved (an expired reservation is
    # runnable again). One index serves reserve(); the other serves the oldest-due stat.
    (
        """
        CREATE TABLE queue_jobs (
            seq               INTEGER NOT NULL PRIMARY KEY,
            id                TEXT    NOT NULL UNIQUE,
            queue             TEXT    NOT NULL,
            payload           BLOB    NOT NULL,
            attempts          INTEGER NOT NULL,
            run_at_us         INTEGER NOT NULL,
            reserved_by       TEXT,
            reserved_until_us INTEGER,
            runnable_at_us    INTEGER NOT NULL
                GENERATED ALWAYS AS (coalesce(reserved_until_us, run_at_us)) VIRTUAL,
            CHECK ((reserved_by IS NULL) = (reserved_until_us IS NULL))
        )
        """,
        "CREATE INDEX queue_jobs_runnable ON queue_jobs (queue, runnable_at_us, seq)",
        "CREATE INDEX queue_jobs_run_at ON queue_jobs (queue, run_at_us)",
        # Dead letters, listed newest first by `seq` (the order they were given up in).
        """
        CREATE TABLE queue_dead_jobs (
            seq        INTEGER NOT NULL PRIMARY KEY,
            id         TEXT    NOT NULL,
            queue      TEXT    NOT NULL,
            payload    BLOB    NOT NULL,
            reason     TEXT    NOT NULL,
            attempts   INTEGER NOT NULL,
            dead_at_us INTEGER NOT NULL
        )
        """,
        "CREATE INDEX queue_dead_jobs_queue ON queue_dead_jobs (queue, seq)",
    ),
    # 4: the event log, webhook endpoints and deliveries (pulse_adapters.sqlite.events,
    # .webhook_endpoints).
    # Every read is by (project_id, id) or a project's range walked newest first, whole or
    # narrowed by one equality (an event's type; a delivery's endpoint, event or status);
    # each such range has an index ending in `id`, so no page needs a sort. No foreign
    # keys, as on MongoDB: events and deliveries are purged by age, each along its own
    # key, and a deleted endpoint's unsent deliveries by the caller (drop_unsent).
    (
        """
        CREATE TABLE events (
            id           TEXT    NOT NULL PRIMARY KEY,
            project_id   TEXT    NOT NULL,
            type         TEXT    NOT NULL,
            timestamp_us INTEGER NOT NULL,
            data         TEXT    NOT NULL
        )
        """,
        "CREATE INDEX events_project_id ON events (project_id, id)",
        "CREATE INDEX events_project_type ON events (project_id, type, id)",
        # purge_before deletes by age, across projects.
        "CREATE INDEX events_timestamp ON events (timestamp_us)",
        """
        CREATE TABLE webhook_endpoints (
            id         TEXT NOT NULL PRIMARY KEY,
            project_id TEXT NOT NULL,
            data       TEXT NOT NULL
        )
        """,
        "CREATE INDEX webhook_endpoints_project_id ON webhook_endpoints (project_id, id)",
        """
        CREATE TABLE webhook_deliveries (
            id          TEXT NOT NULL PRIMARY KEY,
            project_id  TEXT NOT NULL,
            endpoint_id TEXT NOT NULL,
            event_id    TEXT NOT NULL,
            status      TEXT NOT NULL,
            data        TEXT NOT NULL
        )
        """,
        "CREATE INDEX webhook_deliveries_project_id ON webhook_deliveries (project_id, id)",
        """
        CREATE INDEX webhook_deliveries_project_endpoint
            ON webhook_deliveries (project_id, endpoint_id, id)
        """,
        """
        CREATE INDEX webhook_deliveries_project_event
            ON webhook_deliveries (project_id, event_id, id)
        """,
        """
        CREATE INDEX webhook_deliveries_project_status
            ON webhook_deliveries (project_id, status, id)
        """,
    ),
    # 5: usage metering (pulse_adapters.sqlite.usage). Migration 1's `usage_records` was
    # never written in production, so it is dropped rather than converted. Records are
    # kept for dedupe and purge only (never listed), so their columns are the record's
    # fields and no `data`. Roll-ups are one row per (project, granularity, UTC period
    # start, metric, kind): WITHOUT ROWID makes that primary key the table's own b-tree,
    # so a project's month of totals is one range of it. Times are exact integer
    # microseconds since the epoch, UTC, as in the other tables.
    (
        "DROP TABLE usage_records",
        """
        CREATE TABLE usage_records (
            id           TEXT    NOT NULL PRIMARY KEY,
            project_id   TEXT    NOT NULL,
            metric       TEXT    NOT NULL,
            kind         TEXT    NOT NULL,
            quantity     INTEGER NOT NULL,
            timestamp_us INTEGER NOT NULL
        )
        """,
        # purge deletes by age, across projects.
        "CREATE INDEX usage_records_timestamp ON usage_records (timestamp_us)",
        """
        CREATE TABLE usage_rollups (
            project_id      TEXT    NOT NULL,
            granularity     TEXT    NOT NULL CHECK (granularity IN ('hour', 'day')),
            period_start_us INTEGER NOT NULL,
            metric          TEXT    NOT NULL,
            kind            TEXT    NOT NULL,
            quantity        INTEGER NOT NULL,
            PRIMARY KEY (project_id, granularity, period_start_us, metric, kind)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX usage_rollups_period_start ON usage_rollups (period_start_us)",
        # One row per connection still open; `participant_sid` is LiveKit's id of one
        # connection, unique within a project. The room index ends in the listing order
        # (oldest first, then sid), so list_room needs no sort and list_rooms reads it
        # alone (covering) in room order.
        """
        CREATE TABLE open_connections (
            project_id      TEXT    NOT NULL,
            participant_sid TEXT    NOT NULL,
            livekit_room    TEXT    NOT NULL,
            joined_at_us    INTEGER NOT NULL,
            data            TEXT    NOT NULL,
            PRIMARY KEY (project_id, participant_sid)
        ) WITHOUT ROWID
        """,
        """
        CREATE INDEX open_connections_room
            ON open_connections (project_id, livekit_room, joined_at_us, participant_sid)
        """,
    ),
    # 6: access (pulse_adapters.sqlite.users, .keys, .audit). Migration 1's `users` was
    # never written in production, so it is dropped (its indexes with it) rather than
    # converted. A removed user keeps its row for the audit trail, so the email rule and
    # the listing cover rows with `removed_at_us IS NULL` only (partial indexes; queries
    # spell that exact condition so the planner can use them). `org_id` is NULL for a
    # platform admin. Times are exact integer microseconds since the epoch, UTC.
    (
        "DROP TABLE users",
        """
        CREATE TABLE users (
            id            TEXT    NOT NULL PRIMARY KEY,
            email         TEXT    NOT NULL,
            org_id        TEXT,
            removed_at_us INTEGER,
            data          TEXT    NOT NULL
        )
        """,
        "CREATE UNIQUE INDEX users_present_email ON users (email) WHERE removed_at_us IS NULL",
        "CREATE INDEX users_present_org_id ON users (org_id, id) WHERE removed_at_us IS NULL",
        # Revoking a user's sessions walks them by user, in id order (no sort);
        # purge_expired deletes by expiry.
        """
        CREATE TABLE sessions (
            id            TEXT    NOT NULL PRIMARY KEY,
            user_id       TEXT    NOT NULL,
            expires_at_us INTEGER NOT NULL,
            revoked_at_us INTEGER,
            data          TEXT    NOT NULL
        )
        """,
        "CREATE INDEX sessions_user_id ON sessions (user_id, id)",
        "CREATE INDEX sessions_expires_at ON sessions (expires_at_us)",
        # A key stays unique after revocation: its row is never deleted. `last_used_at_us`
        # is a column so that touch() moves it forward only, in SQL.
        """
        CREATE TABLE api_keys (
            id              TEXT    NOT NULL PRIMARY KEY,
            project_id      TEXT    NOT NULL,
            api_key         TEXT    NOT NULL,
            last_used_at_us INTEGER,
            data            TEXT    NOT NULL
        )
        """,
        "CREATE UNIQUE INDEX api_keys_api_key ON api_keys (api_key)",
        "CREATE INDEX api_keys_project_id ON api_keys (project_id, id)",
        # The audit log, read one organization at a time (NULL: the platform's own
        # records) newest first, whole or narrowed by one equality; each such range has an
        # index ending in `id`, so no page needs a sort. Purged by age, across organizations.
        """
        CREATE TABLE audit_log (
            id          TEXT    NOT NULL PRIMARY KEY,
            org_id      TEXT,
            at_us       INTEGER NOT NULL,
            action      TEXT    NOT NULL,
            resource_id TEXT,
            data        TEXT    NOT NULL
        )
        """,
        "CREATE INDEX audit_log_org_id ON audit_log (org_id, id)",
        "CREATE INDEX audit_log_org_action ON audit_log (org_id, action, id)",
        "CREATE INDEX audit_log_org_resource ON audit_log (org_id, resource_id, id)",
        "CREATE INDEX audit_log_at ON audit_log (at_us)",
    ),
    # 7: an organization's projects, deleted ones included (its usage is summed over
    # them all: deleting a project must not hand its month's minutes back).
    ("CREATE INDEX projects_org_id ON projects (org_id, id)",),
    # 8: named values the deployment keeps about itself (the API key pepper's check
    # value, pulse_core.services.pepper); read and written by `meta`.
    ("CREATE TABLE meta (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)",),
    # 9: the answers of writes sent with an Idempotency-Key, per caller and key, for 24
    # hours (pulse_adapters.sqlite.idempotency). `response` is NULL while the first
    # request runs; claims purge expired rows along `expires_at_us`.
    (
        """
        CREATE TABLE idempotency_keys (
            scope          TEXT    NOT NULL,
            key            TEXT    NOT NULL,
            fingerprint    TEXT    NOT NULL,
            token          TEXT    NOT NULL,
            lease_until_us INTEGER NOT NULL,
            expires_at_us  INTEGER NOT NULL,
            response       BLOB,
            PRIMARY KEY (scope, key)
        )
        """,
        "CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at_us)",
    ),
    # 10: when a project's own key pair was last used (pulse_adapters.sqlite.repositories,
    # touch_keys). A column, as `api_keys.last_used_at_us` is, so that the time moves
    # forward only, in SQL; NULL (never used) for every existing row, as `data` says.
    ("ALTER TABLE projects ADD COLUMN key_last_used_at_us INTEGER",),
)

SCHEMA_VERSION = len(MIGRATIONS)
"""The ``PRAGMA user_version`` this code creates and expects."""
