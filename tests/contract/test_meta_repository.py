"""The MetaRepository contract, on every adapter; and the pepper check built on it.

A changed API_KEY_PEPPER makes every stored API secret fail with 401; the check value
stored at the first start is what lets a later start say so instead
(:mod:`pulse_core.services.pepper`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pulse_adapters.memory import InMemoryMetaRepository
from pulse_adapters.mongo import MongoDatabase, MongoMetaRepository
from pulse_adapters.sqlite import SqliteDatabase, SqliteMetaRepository
from pulse_core.errors import Conflict
from pulse_core.ports.meta import MetaRepository
from pulse_core.services.pepper import CHECK_NAME, pepper_check_value, verify_pepper
from tests.support.mongo import MongoTestServer

META_BACKENDS = ["memory", "sqlite", "mongo"]


@pytest.fixture
async def memory_meta() -> AsyncIterator[MetaRepository]:
    yield InMemoryMetaRepository()


@pytest.fixture
async def sqlite_meta(tmp_path: Path) -> AsyncIterator[MetaRepository]:
    db = SqliteDatabase(tmp_path / "pulse.sqlite3")
    await db.connect()
    try:
        yield SqliteMetaRepository(db)
    finally:
        await db.close()


@pytest.fixture
async def mongo_meta(mongo_server: MongoTestServer) -> AsyncIterator[MetaRepository]:
    db = MongoDatabase(mongo_server.uri, mongo_server.new_db_name(), timeout_seconds=5.0)
    await db.connect()
    try:
        yield MongoMetaRepository(db)
    finally:
        await db.database.client.drop_database(db.database.name)
        await db.close()


@pytest.fixture(params=META_BACKENDS)
def meta(request: pytest.FixtureRequest) -> MetaRepository:
    chosen: MetaRepository = request.getfixturevalue(f"{request.param}_meta")
    return chosen


async def test_a_missing_name_is_none(meta: MetaRepository) -> None:
    assert await meta.get("nothing") is None


async def test_the_first_value_stays(meta: MetaRepository) -> None:
    assert await meta.put_if_absent("a", "first") == "first"
    assert await meta.put_if_absent("a", "second") == "first"
    assert await meta.get("a") == "first"
    assert await meta.put_if_absent("b", "other") == "other"
    assert await meta.get("a") == "first"


async def test_of_concurrent_first_writers_one_wins_for_all(meta: MetaRepository) -> None:
    results = await asyncio.gather(*(meta.put_if_absent("race", f"v{i}") for i in range(8)))
    assert len(set(results)) == 1
    assert await meta.get("race") == results[0]


async def test_a_changed_pepper_is_refused(meta: MetaRepository) -> None:
    await verify_pepper(meta, b"the-first-pepper")  # first start: stores the check value
    await verify_pepper(meta, b"the-first-pepper")  # same pepper: starts
    with pytest.raises(Conflict) as raised:
        await verify_pepper(meta, b"a-second-pepper")
    assert raised.value.code == "pepper_changed"
    assert "every existing API key would fail with 401" in raised.value.detail
    stored = await meta.get(CHECK_NAME)
    # The stored value is an HMAC under the pepper: it neither is nor contains it.
    assert stored == pepper_check_value(b"the-first-pepper")
    assert stored is not None and "the-first-pepper" not in stored
