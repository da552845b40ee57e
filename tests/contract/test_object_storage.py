"""The ObjectStorage contract, run against every adapter.

The shared suite sees only the port plus a ``fetch(url) -> bytes`` that plays the part of
whoever serves a download URL: S3 itself (moto, over HTTP), the HTTP shell's download
route (``LocalObjectStorage.verify_download``), or the memory adapter's own resolver.
Adapter-specific behaviour (signature tampering, expiry, filesystem layout) is tested
after the shared suite against the concrete adapter.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from mypy_boto3_s3.client import S3Client

from pulse_adapters.clock import ManualClock
from pulse_adapters.local import LocalObjectStorage
from pulse_adapters.local.storage import DOWNLOAD_PATH
from pulse_adapters.memory import InMemoryObjectStorage
from pulse_adapters.s3 import S3Config, S3ObjectStorage, create_s3_client
from pulse_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unavailable
from pulse_core.ports.storage import MAX_URL_EXPIRY_SECONDS, ObjectStorage
from tests.support.moto_server import MotoS3

SIGNING_KEY = b"k" * 32
BASE_URL = "https://pulse.test"


@dataclass(frozen=True)
class Case:
    storage: ObjectStorage
    fetch: Callable[[str], Awaitable[bytes]]


def local_fetcher(storage: LocalObjectStorage) -> Callable[[str], Awaitable[bytes]]:
    """What the HTTP shell's download route does with a request for ``url``."""

    async def fetch(url: str) -> bytes:
        parts = urlsplit(url)
        assert url.startswith(BASE_URL + DOWNLOAD_PATH)
        key = unquote(parts.path[len(DOWNLOAD_PATH) :])
        query = parse_qs(parts.query)
        path = await storage.verify_download(key, query["expires"][0], query["signature"][0])
        return await asyncio.to_thread(path.read_bytes)

    return fetch


async def http_fetch(url: str) -> bytes:
    def get() -> bytes:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bytes(response.read())

    return await asyncio.to_thread(get)


def s3_config(moto: MotoS3, **overrides: object) -> S3Config:
    settings: dict[str, object] = {
        "bucket": moto.bucket,
        "region": moto.region,
        "endpoint_url": moto.endpoint_url,
        "access_key_id": moto.access_key_id,
        "secret_access_key": moto.secret_access_key,
        "force_path_style": True,
        "connect_timeout": 1.0,
        "read_timeout": 5.0,
        "max_attempts": 1,
    }
    settings.update(overrides)
    return S3Config(**settings)  # type: ignore[arg-type]


@pytest.fixture
def memory_storage(clock: ManualClock) -> Case:
    storage = InMemoryObjectStorage(clock, base_url="memory://media")
    return Case(storage=storage, fetch=storage.fetch)


@pytest.fixture
def local_storage(tmp_path: Path, clock: ManualClock) -> Case:
    storage = LocalObjectStorage(
        tmp_path / "media", signing_key=SIGNING_KEY, base_url=BASE_URL, clock=clock
    )
    return Case(storage=storage, fetch=local_fetcher(storage))


@pytest.fixture(scope="session")
def s3_client(moto_endpoint: str) -> Iterator[S3Client]:
    # One client for the session, injected as the DI gateway would: building a boto3
    # client reads botocore's models (~0.2 s), too slow to repeat for every test. The
    # lazy build path is covered by test_s3_faults.py.
    client = create_s3_client(s3_config(MotoS3(endpoint_url=moto_endpoint, bucket="any")))
    yield client
    client.close()


@pytest.fixture
async def s3_storage(moto_s3: MotoS3, s3_client: S3Client) -> AsyncIterator[Case]:
    # A key prefix, as a shared production bucket would use, so every shared test also
    # checks that the prefix is added on the way in and stripped on the way out.
    storage = S3ObjectStorage(s3_config(moto_s3, prefix="pulse/"), client=s3_client)
    yield Case(storage=storage, fetch=http_fetch)
    await storage.aclose()


@pytest.fixture(params=["memory_storage", "local_storage", "s3_storage"])
def case(request: pytest.FixtureRequest) -> Case:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


async def put_all(storage: ObjectStorage, keys: list[str]) -> None:
    for key in keys:
        await storage.put(key, key.encode(), content_type="video/mp4")


async def keys_of(storage: ObjectStorage, prefix: str, limit: int = 1000) -> list[str]:
    return [o.key for o in await storage.list(prefix=prefix, limit=limit)]


# -- shared contract ------------------------------------------------------------------


async def test_put_then_stat(case: Case) -> None:
    storage = case.storage
    assert await storage.stat("prj_a/rec/one.mp4") is None

    await storage.put("prj_a/rec/one.mp4", b"hello", content_type="video/mp4")

    info = await storage.stat("prj_a/rec/one.mp4")
    assert info is not None
    assert (info.key, info.size) == ("prj_a/rec/one.mp4", 5)
    assert info.last_modified.utcoffset() == timedelta(0)
    assert await storage.stat("prj_a/rec/one") is None  # no prefix matching in stat


async def test_put_replaces_the_object(case: Case) -> None:
    await case.storage.put("prj_a/x.bin", b"old bytes")
    await case.storage.put("prj_a/x.bin", b"new")

    info = await case.storage.stat("prj_a/x.bin")
    assert info is not None and info.size == 3
    url = await case.storage.presigned_url("prj_a/x.bin", expires_in=60)
    assert await case.fetch(url) == b"new"
    assert await keys_of(case.storage, "prj_a/") == ["prj_a/x.bin"]


async def test_list_is_ordered_by_key(case: Case) -> None:
    # '-' < '.' < '/' < 'Z' < 'a' < 'é' in code point order: a directory walk that sorts
    # names per directory would put "p/a/..." before "p/a-b.mp4" and fail here.
    keys = [
        "p/é.mp4",
        "p/a/b.mp4",
        "p/Z.mp4",
        "p/a-b.mp4",
        "p/a.mp4",
        "p/a/a/c.mp4",
        "p/ab.mp4",
    ]
    await put_all(case.storage, keys)

    listed = await case.storage.list(prefix="", limit=100)

    assert [o.key for o in listed] == sorted(keys)
    assert {o.key: o.size for o in listed} == {k: len(k.encode()) for k in keys}


async def test_prefixes_scope_projects(case: Case) -> None:
    await put_all(
        case.storage,
        [
            "prj_a/recordings/demo/1.mp4",
            "prj_a/recordings/demo/2.mp4",
            "prj_a/other.txt",
            "prj_ab/recordings/demo/1.mp4",  # "prj_a" without a slash would match this
            "prj_b/recordings/demo/1.mp4",
        ],
    )

    assert await keys_of(case.storage, "prj_a/") == [
        "prj_a/other.txt",
        "prj_a/recordings/demo/1.mp4",
        "prj_a/recordings/demo/2.mp4",
    ]
    assert await keys_of(case.storage, "prj_b/") == ["prj_b/recordings/demo/1.mp4"]
    assert await keys_of(case.storage, "prj_a/rec") == [
        "prj_a/recordings/demo/1.mp4",
        "prj_a/recordings/demo/2.mp4",
    ]
    assert await keys_of(case.storage, "prj_c/") == []
    assert await keys_of(case.storage, "prj_a/recordings/demo/2.mp4") == [
        "prj_a/recordings/demo/2.mp4"
    ]


async def test_pagination_with_after(case: Case) -> None:
    keys = [f"prj_a/r/{i:02d}.mp4" for i in range(7)]
    await put_all(case.storage, [*reversed(keys), "prj_b/r/00.mp4"])

    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page = await case.storage.list(prefix="prj_a/", limit=3, after=after)
        pages.append([o.key for o in page])
        if len(page) < 3:
            break
        after = page[-1].key

    assert pages == [keys[0:3], keys[3:6], keys[6:7]]
    # The cursor need not exist any more, and may sort before the prefix.
    await case.storage.delete(keys[2])
    assert await keys_of_after(case.storage, "prj_a/", keys[2]) == keys[3:]
    assert await keys_of_after(case.storage, "prj_a/", "a") == [k for k in keys if k != keys[2]]
    assert await keys_of_after(case.storage, "prj_a/", keys[-1]) == []


async def keys_of_after(storage: ObjectStorage, prefix: str, after: str) -> list[str]:
    return [o.key for o in await storage.list(prefix=prefix, limit=100, after=after)]


async def test_presigned_url_serves_the_bytes(case: Case) -> None:
    key = "prj_a/recordings/my room é/take #1.mp4"  # needs percent-encoding
    data = bytes(range(256)) * 3
    await case.storage.put(key, data, content_type="video/mp4")

    url = await case.storage.presigned_url(key, expires_in=300)

    assert await case.fetch(url) == data


async def test_presigned_url_of_missing_key_is_not_found(case: Case) -> None:
    with pytest.raises(NotFound):
        await case.storage.presigned_url("prj_a/none.mp4", expires_in=60)
    await case.storage.put("prj_a/gone.mp4", b"x")
    await case.storage.delete("prj_a/gone.mp4")
    with pytest.raises(NotFound):
        await case.storage.presigned_url("prj_a/gone.mp4", expires_in=60)


@pytest.mark.parametrize("expires_in", [0, -1, MAX_URL_EXPIRY_SECONDS + 1])
async def test_presigned_url_expiry_is_bounded(case: Case, expires_in: int) -> None:
    await case.storage.put("prj_a/x.mp4", b"x")
    with pytest.raises(InvalidInput) as caught:
        await case.storage.presigned_url("prj_a/x.mp4", expires_in=expires_in)
    assert caught.value.field == "expires_in"


async def test_delete_is_idempotent(case: Case) -> None:
    await case.storage.delete("prj_a/never.mp4")
    await put_all(case.storage, ["prj_a/1.mp4", "prj_a/2.mp4"])

    await case.storage.delete("prj_a/1.mp4")
    await case.storage.delete("prj_a/1.mp4")

    assert await case.storage.stat("prj_a/1.mp4") is None
    assert await keys_of(case.storage, "prj_a/") == ["prj_a/2.mp4"]


BAD_KEYS = [
    pytest.param("../x", id="dotdot"),
    pytest.param("prj_a/../prj_b/x", id="inner-dotdot"),
    pytest.param("prj_a/..", id="trailing-dotdot"),
    pytest.param("/abs", id="absolute"),
    pytest.param("prj_a/x\x00.mp4", id="nul"),
    pytest.param("prj_a/x\n.mp4", id="newline"),
    pytest.param("k" * 1025, id="too-long"),
    pytest.param("é" * 513, id="too-long-in-bytes"),
    pytest.param("", id="empty"),
    pytest.param("prj_a//x", id="empty-segment"),
    pytest.param("prj_a/./x", id="dot-segment"),
    pytest.param("prj_a/", id="trailing-slash"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_invalid_input(case: Case, key: str) -> None:
    operations: list[Callable[[], Awaitable[object]]] = [
        lambda: case.storage.put(key, b"x"),
        lambda: case.storage.stat(key),
        lambda: case.storage.presigned_url(key, expires_in=60),
        lambda: case.storage.delete(key),
    ]
    for operation in operations:
        with pytest.raises(InvalidInput) as caught:
            await operation()
        assert caught.value.field == "key"
    assert await keys_of(case.storage, "") == []


async def test_longest_key_is_accepted(case: Case) -> None:
    # 1024 bytes with the S3 fixture's "pulse/" prefix; segments stay under the 255-byte
    # file name limit of local filesystems.
    key = "prj_a/" + ("k" * 200 + "/") * 4 + "k" * 208
    assert len(("pulse/" + key).encode()) == 1024
    await case.storage.put(key, b"x")
    assert await keys_of(case.storage, "prj_a/") == [key]


@pytest.mark.parametrize("prefix", ["../", "/prj_a/", "prj_a/../", "prj_a//", "a\x00", ".."])
async def test_bad_prefix_is_invalid_input(case: Case, prefix: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await case.storage.list(prefix=prefix, limit=10)
    assert caught.value.field == "prefix"


@pytest.mark.parametrize("limit", [0, -1, 1001])
async def test_list_limit_is_bounded(case: Case, limit: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        await case.storage.list(prefix="", limit=limit)
    assert caught.value.field == "limit"


async def test_ping_answers(case: Case) -> None:
    await case.storage.ping()


# -- local directory ------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path, clock: ManualClock) -> LocalObjectStorage:
    return LocalObjectStorage(
        tmp_path / "media", signing_key=SIGNING_KEY, base_url=BASE_URL + "/", clock=clock
    )


def url_parts(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return unquote(parts.path[len(DOWNLOAD_PATH) :]), query["expires"][0], query["signature"][0]


async def test_local_download_url_shape_and_verification(
    local: LocalObjectStorage, clock: ManualClock
) -> None:
    await local.put("prj_a/r/a b.mp4", b"data")
    url = await local.presigned_url("prj_a/r/a b.mp4", expires_in=600)

    assert url.startswith("https://pulse.test/v1/media/files/prj_a/r/a%20b.mp4?expires=")
    key, expires, signature = url_parts(url)
    assert int(expires) == int(clock.time()) + 600
    assert len(signature) == 64
    path = await local.verify_download(key, expires, signature)
    assert path.read_bytes() == b"data"
    assert path.is_relative_to((local.root / "objects").resolve())


async def test_local_download_rejects_tampering(local: LocalObjectStorage) -> None:
    await local.put("prj_a/r/1.mp4", b"one")
    await local.put("prj_b/r/1.mp4", b"other tenant")
    key, expires, signature = url_parts(await local.presigned_url("prj_a/r/1.mp4", expires_in=60))
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    other_key = LocalObjectStorage(
        local.root, signing_key=b"x" * 32, base_url=BASE_URL, clock=ManualClock()
    )

    forgeries = [
        ("prj_b/r/1.mp4", expires, signature),  # another key, same signature
        (key, str(int(expires) + 3600), signature),  # extended expiry
        (key, expires, flipped),
        (key, expires, signature.upper()),
        (key, expires, ""),
        (key, expires, "é" * 64),  # non-ASCII must not crash compare_digest
        (key, "soon", signature),
        (key, " " + expires, signature),
        ("../" + key, expires, signature),
    ]
    for forged in forgeries:
        with pytest.raises(PermissionDenied) as caught:
            await local.verify_download(*forged)
        assert caught.value.code == "download_url_invalid", forged
    with pytest.raises(PermissionDenied):
        await other_key.verify_download(key, expires, signature)


async def test_local_download_expires_with_the_clock(
    local: LocalObjectStorage, clock: ManualClock
) -> None:
    await local.put("prj_a/r/1.mp4", b"one")
    key, expires, signature = url_parts(await local.presigned_url("prj_a/r/1.mp4", expires_in=60))

    clock.advance(59)
    assert (await local.verify_download(key, expires, signature)).read_bytes() == b"one"
    clock.advance(1)
    with pytest.raises(PermissionDenied) as caught:
        await local.verify_download(key, expires, signature)
    assert caught.value.code == "download_url_expired"


async def test_local_download_of_deleted_object_is_not_found(local: LocalObjectStorage) -> None:
    await local.put("prj_a/r/1.mp4", b"one")
    key, expires, signature = url_parts(await local.presigned_url("prj_a/r/1.mp4", expires_in=60))
    await local.delete("prj_a/r/1.mp4")
    with pytest.raises(NotFound):
        await local.verify_download(key, expires, signature)


async def test_local_layout_and_atomic_write(local: LocalObjectStorage, clock: ManualClock) -> None:
    assert not local.root.exists()  # nothing happens before the first write
    assert await local.list(prefix="", limit=10) == []

    await local.put("prj_a/r/1.mp4", b"one")

    assert (local.root / "objects" / "prj_a" / "r" / "1.mp4").read_bytes() == b"one"
    assert list((local.root / "tmp").iterdir()) == []  # no staged file left behind
    info = await local.stat("prj_a/r/1.mp4")
    assert info is not None and info.last_modified == clock.now()


async def test_local_key_cannot_be_file_and_directory(local: LocalObjectStorage) -> None:
    await local.put("prj_a/r", b"file")
    with pytest.raises(Conflict):
        await local.put("prj_a/r/1.mp4", b"below a file")
    await local.put("prj_a/s/1.mp4", b"x")
    with pytest.raises(Conflict):
        await local.put("prj_a/s", b"over a directory")
    assert await keys_of(local, "prj_a/") == ["prj_a/r", "prj_a/s/1.mp4"]


async def test_local_symlink_out_of_root_is_never_followed(
    local: LocalObjectStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    await local.put("prj_a/r/1.mp4", b"one")
    os.symlink(outside, local.root / "objects" / "prj_a" / "link")
    os.symlink(outside / "secret.txt", local.root / "objects" / "prj_a" / "file")

    assert await keys_of(local, "prj_a/") == ["prj_a/r/1.mp4"]
    for key in ("prj_a/link/secret.txt", "prj_a/file"):
        with pytest.raises(InvalidInput):
            await local.stat(key)
        with pytest.raises(InvalidInput):
            await local.put(key, b"overwrite")
    assert (outside / "secret.txt").read_bytes() == b"secret"


async def test_local_segment_too_long_for_a_file_name(local: LocalObjectStorage) -> None:
    with pytest.raises(InvalidInput) as caught:
        await local.put("prj_a/" + "k" * 300, b"x")
    assert caught.value.field == "key"


def test_local_refuses_a_short_signing_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="signing_key"):
        LocalObjectStorage(tmp_path, signing_key=b"short", base_url=BASE_URL, clock=ManualClock())


# -- memory ---------------------------------------------------------------------------


async def test_memory_urls_expire_and_resist_tampering(clock: ManualClock) -> None:
    storage = InMemoryObjectStorage(clock)
    await storage.put("prj_a/1.mp4", b"one")
    await storage.put("prj_b/1.mp4", b"two")
    url = await storage.presigned_url("prj_a/1.mp4", expires_in=30)

    for forged in (
        url.replace("prj_a", "prj_b"),
        url.replace("expires=", "expires=9"),
        url[:-1] + ("0" if url[-1] != "0" else "1"),
        url.split("?")[0],
    ):
        with pytest.raises(PermissionDenied):
            await storage.fetch(forged)
    clock.advance(29)
    assert await storage.fetch(url) == b"one"
    clock.advance(1)
    with pytest.raises(PermissionDenied):
        await storage.fetch(url)


async def test_local_storage_that_cannot_be_used_is_unavailable_not_empty(
    local: LocalObjectStorage, tmp_path: Path
) -> None:
    """Nothing stored yet lists nothing; a storage directory replaced by a file (a bad
    mount, an operator's mistake) is an outage, not "no such recording"."""
    assert await local.list(prefix="p/", limit=10) == []
    assert await local.stat("p/a.mp4") is None
    await local.put("p/a.mp4", b"x")
    _, expires, signature = url_parts(await local.presigned_url("p/a.mp4", expires_in=600))
    shutil.rmtree(tmp_path / "media")
    (tmp_path / "media").write_bytes(b"not a directory")
    for call in (
        local.list(prefix="p/", limit=10),
        local.stat("p/a.mp4"),
        local.delete("p/a.mp4"),
        local.verify_download("p/a.mp4", expires, signature),
    ):
        with pytest.raises(Unavailable):
            await call
