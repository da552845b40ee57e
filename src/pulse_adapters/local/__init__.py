"""Local-directory adapters: the embedded default for recordings (no bucket needed)."""

from pulse_adapters.local.storage import LocalObjectStorage

__all__ = ["LocalObjectStorage"]
