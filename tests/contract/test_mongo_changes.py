"""The Mongo adapter's compare and swap (``pulse_adapters.mongo.changes``): a write that
lands between a change's read and its swap makes the swap miss, including a write that
sets a field the read document did not have.

The write in between is made at the driver: :class:`InterferingDatabase` hands the
repositories collections that, right after answering a ``find_one``, apply an update of
the test's to the document found, as another replica would. Runs on the session's
MongoDB (the wire server, or ``PULSE_TEST_MONGO_URI``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from pulse_adapters.mongo import MongoDatabase, MongoProjectRepository, MongoUserRepository
from pulse_adapters.mongo.media_records import MongoEgressRecordRepository
from pulse_adapters.mongo.repositories import PROJECT_FIELDS, project_to_document
from pulse_core import ids, rooms
from pulse_core.models.media import Egress, FileOutput
from tests.support import builders
from tests.support.mongo import MongoTestServer

T0 = builders.T0


class _Interfering:
    def __init__(self, inner: Any, db: InterferingDatabase) -> None:
        self._inner, self._db = inner, db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        doc = await self._inner.find_one(*args, **kwargs)
        update, self._db.meanwhile = self._db.meanwhile, None
        if update is not None and doc is not None:
            await self._inner.update_one({"_id": doc["_id"]}, update)
        return doc


class InterferingDatabase(MongoDatabase):
    #: Applied once, to the next document a ``find_one`` answers, after it answered.
    meanwhile: dict[str, Any] | None = None

    def collection(self, name: str) -> Any:
        return _Interfering(super().collection(name), self)


@pytest.fixture
async def db(mongo_server: MongoTestServer) -> AsyncIterator[InterferingDatabase]:
    database = InterferingDatabase(mongo_server.uri, mongo_server.new_db_name(), timeout_seconds=5)
    await database.connect()
    try:
        yield database
    finally:
        await database.database.client.drop_database(database.database.name)
        await database.close()


async def test_a_field_set_meanwhile_survives_a_replacing_change(db: InterferingDatabase) -> None:
    records = MongoEgressRecordRepository(db)
    project_id = builders.project("org_a").id
    egress_id = ids.new_id(ids.EGRESS, now_ms=ids.ms_of(T0))
    egress = Egress(
        id=egress_id,
        project_id=project_id,
        engine_id="EG_" + egress_id[-12:],
        kind="room_composite",
        room="demo",
        livekit_room=rooms.to_livekit(project_id, "demo"),
        status="active",
        outputs=[FileOutput(filepath="a.mp4", recording_id="rec_a")],
        started_at=T0,
        updated_at=T0,
    )  # no error: the stored document has no such field
    await records.add(egress)
    db.meanwhile = {"$set": {"error": "disk full"}}
    changed = await records.change(
        project_id, egress_id, lambda s: msgspec.structs.replace(s, status="ending")
    )
    assert changed is not None and (changed.status, changed.error) == ("ending", "disk full")
    assert await records.get(project_id, egress_id) == changed


async def test_a_sign_in_recorded_meanwhile_survives_an_updating_change(
    db: InterferingDatabase,
) -> None:
    users = MongoUserRepository(db)
    ada = builders.user("org_a")  # never signed in: no last_login_at field
    await users.add(ada)
    signed_in = T0 + timedelta(minutes=1)
    db.meanwhile = {"$set": {"last_login_at": signed_in}}
    changed = await users.change(ada.id, lambda u: msgspec.structs.replace(u, name="Ada L."))
    assert changed is not None and changed.last_login_at == signed_in
    assert await users.get(ada.id) == changed


async def test_a_project_change_sees_every_field_it_may_hold(db: InterferingDatabase) -> None:
    project = builders.project("org_a")
    assert set(PROJECT_FIELDS) == set(project_to_document(project))
    projects = MongoProjectRepository(db)
    await projects.add(msgspec.structs.replace(project, previous=None))
    db.meanwhile = {"$set": {"key_last_used_at": T0 + timedelta(minutes=1)}}
    changed = await projects.change(project.id, lambda p: msgspec.structs.replace(p, name="App"))
    assert changed is not None and changed.key_last_used_at == T0 + timedelta(minutes=1)
