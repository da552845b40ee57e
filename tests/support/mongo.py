"""The MongoDB the tests run against: a real one if ``PULSE_TEST_MONGO_URI`` is set,
otherwise the mongomock-backed wire-protocol server of ``tests/support/mongo_wire_server``.

Either way the real pymongo driver talks to it over TCP. One server per test session;
each test gets its own database (:meth:`MongoTestServer.new_db_name`) and drops it after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from tests.support.mongo_wire_server import MongoWireServer

ENV_URI = "PULSE_TEST_MONGO_URI"


@dataclass(frozen=True)
class MongoTestServer:
    """Where the tests' MongoDB is; ``wire`` is None when it is a real server."""

    uri: str
    wire: MongoWireServer | None = None

    @property
    def is_real(self) -> bool:
        return self.wire is None

    @staticmethod
    def new_db_name() -> str:
        """A database name no other test uses (MongoDB allows 63 characters)."""
        return f"pulse_test_{uuid.uuid4().hex[:16]}"


def _check_reachable(uri: str) -> None:
    # A wrong PULSE_TEST_MONGO_URI must fail loudly and once, not as N timeouts.
    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=3000)
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        pytest.fail(f"{ENV_URI}={uri} is not reachable: {exc}", pytrace=False)
    finally:
        client.close()


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[MongoTestServer]:
    uri = os.environ.get(ENV_URI, "").strip()
    if uri:
        _check_reachable(uri)
        yield MongoTestServer(uri=uri)
        return
    with MongoWireServer() as wire:
        yield MongoTestServer(uri=wire.uri, wire=wire)
