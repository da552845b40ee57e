"""Local-directory adapters: the embedded default for recordings (no bucket needed)."""

from pulse_adapters.local.download_key import download_signing_key
from pulse_adapters.local.storage import LocalObjectStorage

__all__ = ["LocalObjectStorage", "download_signing_key"]
