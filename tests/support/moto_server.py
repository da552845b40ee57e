"""S3 for tests: moto's server mode on a loopback port, over real HTTP.

boto3 signs and sends real requests to it, so the S3 adapter's wire behaviour (addressing
style, presigned URLs, error codes, timeouts) is what is tested, not a patched client.
One server per test session; every test gets its own bucket, so tests never see each
other's objects. Credentials are fake and passed explicitly: no ``AWS_*`` variable is set.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.support.ports import wait_for_port
from tests.support.require import service_missing

MOTO_REGION = "us-east-1"
MOTO_ACCESS_KEY_ID = "pulse-test-access-key"
MOTO_SECRET_ACCESS_KEY = "pulse-test-secret-key"  # moto accepts any credentials


@dataclass(frozen=True)
class MotoS3:
    """One fresh, empty bucket on the session's moto server."""

    endpoint_url: str
    bucket: str
    region: str = MOTO_REGION
    access_key_id: str = MOTO_ACCESS_KEY_ID
    secret_access_key: str = MOTO_SECRET_ACCESS_KEY


def moto_admin_client(endpoint_url: str) -> Any:
    """A plain boto3 client for arranging and inspecting buckets behind the adapter's back."""
    session = boto3.session.Session(
        aws_access_key_id=MOTO_ACCESS_KEY_ID,
        aws_secret_access_key=MOTO_SECRET_ACCESS_KEY,
        region_name=MOTO_REGION,
    )
    return session.client("s3", endpoint_url=endpoint_url)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The base URL of a moto server running in this process."""
    # Imported here, not at the top: this plugin is loaded for every test run, and a
    # missing moto must skip the S3 tests, not break collection of the whole suite.
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # moto[server] is a test extra
        service_missing(f"moto[server] is not installed: {exc}")
    # Port 0: the kernel picks a free port while binding, so no other process can take it
    # between choosing and binding (the race a separate free_port() call would have).
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # start() waits for a "ready" event that is never set when binding fails, so start it
    # from a helper thread and give up after a bound instead of hanging the session.
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(timeout=15)
    if starter.is_alive():
        service_missing("moto server did not start within 15 s")
    _, port = server.get_host_and_port()
    if not wait_for_port(port, timeout=10):
        service_missing(f"moto server is not accepting connections on port {port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_admin(moto_endpoint: str) -> Iterator[Any]:
    client = moto_admin_client(moto_endpoint)
    yield client
    client.close()


@pytest.fixture
def moto_s3(moto_endpoint: str, moto_admin: Any) -> Iterator[MotoS3]:
    """A new bucket (unique name) on the moto server, removed after the test."""
    bucket = f"pulse-test-{uuid.uuid4().hex[:16]}"
    moto_admin.create_bucket(Bucket=bucket)
    yield MotoS3(endpoint_url=moto_endpoint, bucket=bucket)
    # Empty and drop the bucket so a long session does not pile objects up in memory.
    for page in moto_admin.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            moto_admin.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    moto_admin.delete_bucket(Bucket=bucket)
