"""S3-compatible object storage (AWS S3, Cloudflare R2, MinIO) on boto3."""

from pulse_adapters.s3.storage import S3Config, S3ObjectStorage, create_s3_client

__all__ = ["S3Config", "S3ObjectStorage", "create_s3_client"]
