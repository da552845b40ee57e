"""S3 adapter specifics: failures become Unavailable quickly, egress upload settings,
key prefix, bucket helper, presigning. Everything goes over real HTTP (moto server or a
port where nothing listens)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pulse_adapters.s3 import S3Config, S3ObjectStorage
from pulse_core.errors import Unavailable
from pulse_core.ports.storage import EgressUploadTarget, ObjectStorage
from tests.support.moto_server import MotoS3
from tests.support.ports import free_port


def config(moto: MotoS3, **overrides: Any) -> S3Config:
    settings: dict[str, Any] = {
        "bucket": moto.bucket,
        "region": moto.region,
        "endpoint_url": moto.endpoint_url,
        "access_key_id": moto.access_key_id,
        "secret_access_key": moto.secret_access_key,
        "force_path_style": True,
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "max_attempts": 2,
    }
    settings.update(overrides)
    return S3Config(**settings)


@pytest.fixture
def dead_endpoint() -> str:
    # Nothing listens on a port we just released: connections are refused at once.
    return f"http://127.0.0.1:{free_port()}"


async def test_refused_connection_is_unavailable_quickly(dead_endpoint: str) -> None:
    storage: ObjectStorage = S3ObjectStorage(
        config(MotoS3(endpoint_url=dead_endpoint, bucket="pulse-recordings"))
    )
    operations = [
        lambda: storage.put("prj_a/1.mp4", b"x"),
        lambda: storage.stat("prj_a/1.mp4"),
        lambda: storage.list(prefix="prj_a/", limit=10),
        lambda: storage.presigned_url("prj_a/1.mp4", expires_in=60),
        lambda: storage.delete("prj_a/1.mp4"),
        storage.ping,
    ]
    for operation in operations:
        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            await operation()
        # A hang check: two attempts with one short backoff, never a retry storm.
        assert time.monotonic() - started < 5
        assert caught.value.__cause__ is not None  # the boto error is chained
        # What reaches API callers names neither the endpoint nor the bucket.
        assert dead_endpoint.split("//")[1] not in caught.value.detail
        assert "pulse-recordings" not in caught.value.detail
    await storage.aclose()


async def test_missing_bucket_is_unavailable_until_ensured(moto_s3: MotoS3) -> None:
    storage = S3ObjectStorage(config(moto_s3, bucket=moto_s3.bucket + "-new"))
    with pytest.raises(Unavailable, match="does not exist"):
        await storage.ping()
    with pytest.raises(Unavailable, match="does not exist") as caught:
        await storage.list(prefix="", limit=1)
    assert moto_s3.bucket not in caught.value.detail  # it reaches API callers

    await storage.ensure_bucket()
    await storage.ensure_bucket()  # idempotent

    await storage.ping()
    await storage.put("prj_a/1.mp4", b"x")
    assert [o.key for o in await storage.list(prefix="", limit=10)] == ["prj_a/1.mp4"]
    await storage.delete("prj_a/1.mp4")
    await storage.aclose()


async def test_egress_upload_config(moto_s3: MotoS3) -> None:
    storage = S3ObjectStorage(config(moto_s3, prefix="pulse/", region="eu-west-3"))
    target: EgressUploadTarget = storage

    upload = await target.egress_upload_config()

    assert upload.bucket == moto_s3.bucket
    assert upload.endpoint == moto_s3.endpoint_url
    assert upload.region == "eu-west-3"
    assert upload.force_path_style is True
    assert upload.key_prefix == "pulse/"
    assert (upload.access_key, upload.secret) == (moto_s3.access_key_id, moto_s3.secret_access_key)
    assert upload.object_key("prj_a/r/1.mp4") == "pulse/prj_a/r/1.mp4"
    assert moto_s3.secret_access_key not in repr(upload)
    assert moto_s3.secret_access_key not in repr(storage.config)


async def test_egress_endpoint_override_and_aws_defaults() -> None:
    aws = S3ObjectStorage(
        S3Config(bucket="b", access_key_id="AKIA", secret_access_key="s", region="us-west-2")
    )
    upload = await aws.egress_upload_config()
    assert (upload.endpoint, upload.force_path_style, upload.key_prefix) == (None, False, "")

    minio = S3ObjectStorage(
        S3Config(
            bucket="b",
            access_key_id="k",
            secret_access_key="s",
            endpoint_url="http://localhost:9000",
            egress_endpoint_url="http://minio:9000",
            force_path_style=True,
        )
    )
    assert (await minio.egress_upload_config()).endpoint == "http://minio:9000"


async def test_files_egress_writes_under_the_prefix_are_listed(
    moto_s3: MotoS3, moto_admin: Any
) -> None:
    storage = S3ObjectStorage(config(moto_s3, prefix="pulse/"))
    upload = await storage.egress_upload_config()
    # What LiveKit egress does: upload to bucket key object_key(storage key).
    moto_admin.put_object(
        Bucket=upload.bucket, Key=upload.object_key("prj_a/r/egress.mp4"), Body=b"video"
    )
    moto_admin.put_object(Bucket=moto_s3.bucket, Key="outside/prj_a/r/x.mp4", Body=b"no")
    moto_admin.put_object(Bucket=moto_s3.bucket, Key="pulse/prj_a/r/", Body=b"")  # a folder

    listed = await storage.list(prefix="prj_a/", limit=10)

    assert [(o.key, o.size) for o in listed] == [("prj_a/r/egress.mp4", 5)]
    await storage.put("prj_a/r/api.mp4", b"x")
    keys = [o["Key"] for o in moto_admin.list_objects_v2(Bucket=moto_s3.bucket)["Contents"]]
    assert "pulse/prj_a/r/api.mp4" in keys
    await storage.aclose()


async def test_presigned_url_carries_the_expiry_and_public_endpoint(moto_s3: MotoS3) -> None:
    storage = S3ObjectStorage(
        config(moto_s3, presign_endpoint_url="https://media.example.com", prefix="pulse/")
    )
    await storage.put("prj_a/1.mp4", b"x")

    url = await storage.presigned_url("prj_a/1.mp4", expires_in=900)

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.netloc == "media.example.com"
    assert parts.path == f"/{moto_s3.bucket}/pulse/prj_a/1.mp4"
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    await storage.aclose()


@pytest.mark.parametrize(
    "overrides",
    [
        {"bucket": ""},
        {"prefix": "pulse"},
        {"prefix": "/pulse/"},
        {"prefix": "../"},
        {"endpoint_url": "minio:9000"},
        {"max_attempts": 0},
        {"max_attempts": 10},
        {"connect_timeout": 0},
        {"secret_access_key": ""},
    ],
)
def test_bad_settings_fail_at_construction(overrides: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"bucket": "b", "access_key_id": "k", "secret_access_key": "s"}
    settings.update(overrides)
    with pytest.raises(ValueError):
        S3Config(**settings)


async def test_skipped_folder_markers_do_not_shorten_a_page(
    moto_s3: MotoS3, moto_admin: Any
) -> None:
    # Console-made "folders" are objects too; S3 counts them against MaxKeys, so the
    # adapter must continue to the next S3 page or callers would stop paginating early.
    for key in ("pulse/prj_a/", "pulse/prj_a/1.mp4", "pulse/prj_a/r/", "pulse/prj_a/r/2.mp4"):
        moto_admin.put_object(Bucket=moto_s3.bucket, Key=key, Body=b"")
    storage = S3ObjectStorage(config(moto_s3, prefix="pulse/"))

    first = await storage.list(prefix="prj_a/", limit=2)
    rest = await storage.list(prefix="prj_a/", limit=2, after=first[-1].key)

    assert [o.key for o in first] == ["prj_a/1.mp4", "prj_a/r/2.mp4"]
    assert rest == []
    await storage.aclose()
