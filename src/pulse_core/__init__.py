"""Pulse core: the pure domain of the Pulse control plane.

Importing this package does no work and pulls in only the standard library and msgspec.
Start with :mod:`pulse_core.services` (what Pulse does), :mod:`pulse_core.ports` (what it
needs from the outside world) and :mod:`pulse_core.errors` (how it fails).
"""

__version__ = "0.1.0"
