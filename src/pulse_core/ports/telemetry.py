"""Telemetry: what adapters and services report about their own work, for the operator's
metrics and traces.

Adapters report each call they make to a backend (a database, Redis, LiveKit) through
:meth:`Telemetry.call`, around the round trip; services report the units of work those
calls belong to (:meth:`Telemetry.span`) and webhook delivery outcomes
(:meth:`Telemetry.delivered`). Where the reports go (Prometheus, OpenTelemetry) is the
shell's choice; :data:`NO_TELEMETRY`, the default everywhere, drops them at no cost.

Every name given here (``system``, ``operation``, span names, outcomes) comes from the code
or from a driver's protocol (a command name), never from data: they become metric labels,
whose values must stay few. Ids belong in span ``attributes`` only.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Final, Literal

#: How one webhook delivery attempt ended: delivered, failed with another attempt
#: scheduled, or failed for good (no attempt left, the endpoint gone or disabled).
DeliveryOutcome = Literal["succeeded", "failed", "dead"]

#: Ends a call reported in two steps: with the name of its error (an exception's class
#: name, a driver's error code name), or None when it succeeded.
CallEnd = Callable[[str | None], None]

_NOTHING: Final = nullcontext()


def _ignore(_error: str | None) -> None:
    return None


class Telemetry(abc.ABC):
    """Receives reports; never raises, never blocks, never does I/O on the caller's path."""

    @abc.abstractmethod
    def call(self, system: str, operation: str) -> AbstractContextManager[None]:
        """Around one call to a backend: ``system`` (``"sqlite"``, ``"mongodb"``,
        ``"redis"``, ``"livekit"``) and ``operation`` (a command or the adapter's name for
        the call). Timed; an exception leaving the block is the call's error, and is
        re-raised unchanged. A cancelled call is not an error and is not timed."""

    @abc.abstractmethod
    def begin_call(self, system: str, operation: str) -> CallEnd:
        """The same report as :meth:`call`, for drivers that announce a call's start and
        end as two events: call the returned function once, at the end, with the error's
        name or None."""

    def span(
        self, name: str, attributes: Mapping[str, str] | None = None
    ) -> AbstractContextManager[None]:
        """Around a unit of work (a job, a webhook delivery) that the calls made inside
        it belong to, when traces are kept. ``attributes`` may hold ids (never labels).
        Nothing by default."""
        return _NOTHING

    def delivered(self, outcome: DeliveryOutcome, seconds: float | None) -> None:
        """One webhook delivery attempt ended with ``outcome``; ``seconds`` is its POST's
        duration, None when no request was made (the endpoint disabled, the event gone).
        Nothing by default."""
        return None


class NoTelemetry(Telemetry):
    """Drops every report: the default of every adapter and service."""

    def call(self, system: str, operation: str) -> AbstractContextManager[None]:
        return _NOTHING

    def begin_call(self, system: str, operation: str) -> CallEnd:
        return _ignore


NO_TELEMETRY: Final[Telemetry] = NoTelemetry()
