"""Local-directory adapters: the embedded default for recordings (no bucket needed), and
the usage journal that keeps counts across a crash."""

from pulse_adapters.local.download_key import download_signing_key
from pulse_adapters.local.storage import LocalObjectStorage
from pulse_adapters.local.usage_journal import LocalUsageJournal

__all__ = ["LocalObjectStorage", "LocalUsageJournal", "download_signing_key"]
