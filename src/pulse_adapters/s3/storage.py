"""Object storage in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO) via boto3.

boto3 is synchronous, so every call runs in a worker thread (``asyncio.to_thread``).
Clients are thread-safe and built lazily on first use (building one reads botocore's
service model from disk), so importing or constructing :class:`S3ObjectStorage` does no
I/O. Settings are explicit (:class:`S3Config`): nothing is read from ``AWS_*`` variables
or ``~/.aws`` that could silently point Pulse at another bucket.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import boto3
import msgspec
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pulse_core.errors import InvalidInput, NotFound, PulseError, Unavailable
from pulse_core.ports.storage import (
    MAX_KEY_BYTES,
    EgressUploadConfig,
    EgressUploadTarget,
    ObjectStorage,
    StoredObject,
    validate_after,
    validate_expires_in,
    validate_key,
    validate_limit,
    validate_prefix,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

T = TypeVar("T")

# Error codes S3 (and R2, MinIO) use for "no such object"; a HEAD has no body, so there
# the code is the bare status.
_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})
_NO_BUCKET = frozenset({"NoSuchBucket"})
_REFUSED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
)
_MAX_ATTEMPTS = 5


class S3Config(msgspec.Struct, frozen=True, kw_only=True):
    """Everything :class:`S3ObjectStorage` needs, given explicitly.

    - ``region``: the bucket's region (``auto`` for R2, anything for MinIO).
    - ``endpoint_url``: None for AWS S3; ``https://<account>.r2.cloudflarestorage.com``
      for R2; ``http://minio:9000`` for MinIO.
    - ``force_path_style``: ``endpoint/bucket/key`` URLs instead of ``bucket.endpoint``
      (MinIO and most self-hosted stores need it).
    - ``prefix``: ``""`` or a prefix ending with ``/`` under which every storage key is
      kept, so Pulse can share a bucket; storage keys never include it.
    - ``connect_timeout``/``read_timeout`` (seconds) and ``max_attempts`` (total tries,
      1..5) bound how long a dead endpoint can hold a request: small on purpose, a
      request thread must not wait through a retry storm.
    - ``presign_endpoint_url``: the endpoint browsers reach, when it differs from the one
      Pulse uses (MinIO on an internal host name); presigned URLs are signed for it.
    - ``egress_endpoint_url``: the endpoint LiveKit egress should upload to, when it
      differs from ``endpoint_url``.

    Invalid settings raise ``ValueError`` at construction (start-up), naming the field.
    ``repr`` hides the secrets.
    """

    bucket: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    session_token: str | None = None
    force_path_style: bool = False
    prefix: str = ""
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_attempts: int = 2
    presign_endpoint_url: str | None = None
    egress_endpoint_url: str | None = None

    def __post_init__(self) -> None:
        if not self.bucket or "/" in self.bucket:
            raise ValueError("S3 bucket must be a bucket name")
        if not self.access_key_id or not self.secret_access_key:
            raise ValueError("S3 access_key_id and secret_access_key are required")
        if not self.region:
            raise ValueError("S3 region must not be empty")
        for name in ("endpoint_url", "presign_endpoint_url", "egress_endpoint_url"):
            url = getattr(self, name)
            if url is not None:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise ValueError(f"S3 {name} must be an http(s) URL, got {url!r}")
        if self.prefix:
            try:
                validate_prefix(self.prefix)
            except InvalidInput as exc:
                raise ValueError(f"S3 prefix: {exc.detail}") from None
            if not self.prefix.endswith("/"):
                raise ValueError("S3 prefix must end with '/'")
        if not (self.connect_timeout > 0 and self.read_timeout > 0):
            raise ValueError("S3 timeouts must be positive")
        if not 1 <= self.max_attempts <= _MAX_ATTEMPTS:
            raise ValueError(f"S3 max_attempts must be 1..{_MAX_ATTEMPTS}")

    def __repr__(self) -> str:
        return (
            f"S3Config(bucket={self.bucket!r}, region={self.region!r}, "
            f"endpoint_url={self.endpoint_url!r}, force_path_style={self.force_path_style!r}, "
            f"prefix={self.prefix!r}, access_key_id={self.access_key_id!r}, "
            "secret_access_key='***')"
        )


def create_s3_client(config: S3Config, *, endpoint_url: str | None = None) -> S3Client:
    """A boto3 S3 client for ``config`` (at ``endpoint_url`` instead of
    ``config.endpoint_url`` when given). Reads botocore's model files; no network I/O."""
    botocore_config = Config(
        region_name=config.region,
        # SigV4 everywhere: R2 and MinIO require it, and it allows 7-day presigned URLs.
        signature_version="s3v4",
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        retries={"mode": "standard", "total_max_attempts": config.max_attempts},
        s3={"addressing_style": "path" if config.force_path_style else "auto"},
        # Recent botocore adds CRC checksums to every upload by default; several
        # S3-compatible stores reject or mishandle them, so only send them when required.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # AWS_ENDPOINT_URL* and endpoint_url in ~/.aws/config must not redirect us.
        # botocore has the option since 1.31; botocore-stubs does not declare it yet.
        ignore_configured_endpoint_urls=True,  # type: ignore[call-arg]
    )
    # A private Session: boto3's default session is shared and not thread-safe.
    session = boto3.session.Session(
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
        aws_session_token=config.session_token,
        region_name=config.region,
    )
    return session.client(
        "s3", endpoint_url=endpoint_url or config.endpoint_url, config=botocore_config
    )


class S3ObjectStorage(ObjectStorage, EgressUploadTarget):
    """Storage keys are bucket keys under ``config.prefix``.

    ``client`` (optional) is a ready client, typically a DI gateway singleton made with
    :func:`create_s3_client`; otherwise one is built on first use. Presigned URLs are
    SigV4 query-signed GET URLs; S3 itself serves them. Every backend failure, missing
    bucket and refused credential is ``Unavailable`` (the caller can do nothing about
    them; the operator can), with the boto error chained.
    """

    def __init__(self, config: S3Config, *, client: S3Client | None = None) -> None:
        self._config = config
        self._prefix = config.prefix
        self._client = client
        self._presign_client: S3Client | None = None
        self._owns_client = client is None
        self._lock = threading.Lock()

    @property
    def config(self) -> S3Config:
        return self._config

    # -- port -------------------------------------------------------------------------

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        full = self._full_key(key)
        payload = bytes(data)

        def op(client: S3Client) -> None:
            client.put_object(
                Bucket=self._config.bucket, Key=full, Body=payload, ContentType=content_type
            )

        await self._call(op)

    async def stat(self, key: str) -> StoredObject | None:
        full = self._full_key(key)

        def op(client: S3Client) -> StoredObject | None:
            try:
                head = client.head_object(Bucket=self._config.bucket, Key=full)
            except ClientError as exc:
                if _code(exc) in _MISSING:
                    return None
                raise
            return StoredObject(
                key=key,
                size=head["ContentLength"],
                last_modified=head["LastModified"].astimezone(UTC),
            )

        return await self._call(op)

    async def list(
        self, *, prefix: str, limit: int, after: str | None = None
    ) -> builtins.list[StoredObject]:
        validate_prefix(prefix)
        validate_limit(limit)
        validate_after(after)
        bucket_prefix = self._prefix + prefix

        def op(client: S3Client) -> builtins.list[StoredObject]:
            found: builtins.list[StoredObject] = []
            request: dict[str, Any] = {"Bucket": self._config.bucket, "Prefix": bucket_prefix}
            if after is not None:
                request["StartAfter"] = self._prefix + after
            while True:
                request["MaxKeys"] = limit - len(found)
                page = client.list_objects_v2(**request)
                for item in page.get("Contents", []):
                    key = item["Key"][len(self._prefix) :]
                    # Skip what Pulse cannot have written: console "folder" markers
                    # (keys ending in /) and other keys outside the key rules.
                    if not _valid_key(key):
                        continue
                    found.append(
                        StoredObject(
                            key=key,
                            size=item["Size"],
                            last_modified=item["LastModified"].astimezone(UTC),
                        )
                    )
                # A store may return a short page before the end (or markers were
                # skipped): keep going so a short result always means the last page.
                token = page.get("NextContinuationToken")
                if len(found) >= limit or not page.get("IsTruncated") or not token:
                    return found[:limit]
                request.pop("StartAfter", None)
                request["ContinuationToken"] = token

        return await self._call(op)

    async def presigned_url(self, key: str, *, expires_in: int) -> str:
        full = self._full_key(key)
        validate_expires_in(expires_in)

        def op(client: S3Client) -> str:
            try:
                client.head_object(Bucket=self._config.bucket, Key=full)
            except ClientError as exc:
                if _code(exc) in _MISSING:
                    raise NotFound("object not found", field="key") from exc
                raise
            return self._presigner().generate_presigned_url(
                "get_object",
                Params={"Bucket": self._config.bucket, "Key": full},
                ExpiresIn=expires_in,
            )

        return await self._call(op)

    async def delete(self, key: str) -> None:
        full = self._full_key(key)

        def op(client: S3Client) -> None:
            try:
                client.delete_object(Bucket=self._config.bucket, Key=full)
            except ClientError as exc:
                # S3 answers 204 for a missing key; some compatible stores say 404.
                if _code(exc) not in _MISSING:
                    raise

        await self._call(op)

    async def ping(self) -> None:
        def op(client: S3Client) -> None:
            client.head_bucket(Bucket=self._config.bucket)

        await self._call(op)

    async def aclose(self) -> None:
        with self._lock:
            clients = [self._presign_client]
            if self._owns_client:
                clients.append(self._client)
                self._client = None
            self._presign_client = None
        for client in clients:
            if client is not None:
                client.close()

    # -- egress sub-port --------------------------------------------------------------

    async def egress_upload_config(self) -> EgressUploadConfig:
        config = self._config
        return EgressUploadConfig(
            bucket=config.bucket,
            region=config.region,
            endpoint=config.egress_endpoint_url or config.endpoint_url,
            force_path_style=config.force_path_style,
            access_key=config.access_key_id,
            secret=config.secret_access_key,
            session_token=config.session_token,
            key_prefix=config.prefix,
        )

    # -- development helper -----------------------------------------------------------

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (``BucketAlreadyOwnedByYou`` is fine).

        For development, tests and MinIO quick starts only: no production code path calls
        it, since production buckets are provisioned (with their lifecycle and access
        policies) outside Pulse, and Pulse's credentials should not be allowed to create
        buckets at all.
        """

        def op(client: S3Client) -> None:
            bucket = self._config.bucket
            try:
                client.head_bucket(Bucket=bucket)
                return
            except ClientError as exc:
                if _code(exc) not in _MISSING | _NO_BUCKET:
                    raise
            request: dict[str, Any] = {"Bucket": bucket}
            # us-east-1 is the one region that must not be named as a location constraint.
            if self._config.region != "us-east-1":
                request["CreateBucketConfiguration"] = {"LocationConstraint": self._config.region}
            try:
                client.create_bucket(**request)
            except ClientError as exc:
                if _code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

        await self._call(op)

    # -- internals --------------------------------------------------------------------

    def _full_key(self, key: str) -> str:
        validate_key(key)
        full = self._prefix + key
        if len(full.encode("utf-8")) > MAX_KEY_BYTES:
            raise InvalidInput(
                f"key is too long for this bucket (at most "
                f"{MAX_KEY_BYTES - len(self._prefix.encode('utf-8'))} bytes)",
                field="key",
            )
        return full

    def _get_client(self) -> S3Client:
        # Runs in a worker thread: building a client reads model files from disk.
        with self._lock:
            if self._client is None:
                self._client = create_s3_client(self._config)
                self._owns_client = True
            return self._client

    def _presigner(self) -> S3Client:
        if self._config.presign_endpoint_url is None:
            return self._get_client()
        with self._lock:
            if self._presign_client is None:
                self._presign_client = create_s3_client(
                    self._config, endpoint_url=self._config.presign_endpoint_url
                )
            return self._presign_client

    async def _call(self, op: Callable[[S3Client], T]) -> T:
        try:
            return await asyncio.to_thread(lambda: op(self._get_client()))
        except PulseError:
            raise
        except ClientError as exc:
            raise _unavailable(exc) from exc
        except BotoCoreError as exc:
            # The type only: botocore's message names the endpoint, the bucket and the
            # request's URL, and this detail reaches API callers (other tenants' key
            # layout included); the chained exception keeps the full story for the log.
            raise Unavailable(f"object storage is unreachable ({type(exc).__name__})") from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _valid_key(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidInput:
        return False
    return True


def _unavailable(exc: ClientError) -> Unavailable:
    code = _code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _NO_BUCKET or (code in _MISSING and exc.operation_name == "HeadBucket"):
        # The setting, not its value: this reaches API callers, the operator knows it.
        return Unavailable("object storage bucket (S3_BUCKET) does not exist")
    if code in _REFUSED:
        return Unavailable("object storage refused Pulse's credentials")
    if status >= 500 or code == "SlowDown":
        return Unavailable(f"object storage failed ({code or status})")
    # Any other rejection is a configuration problem (the inputs were validated), which
    # the caller cannot fix either.
    return Unavailable(f"object storage rejected the request ({code or status})")
