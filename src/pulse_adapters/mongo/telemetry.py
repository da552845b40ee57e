"""pymongo's command events as :class:`~pulse_core.ports.telemetry.Telemetry` reports.

Every command the driver sends (``find``, ``insert``, ``update``, ``aggregate``...) is one
``mongodb`` call, named by its command: the driver announces its start and its end as two
events, which :meth:`Telemetry.begin_call` is made for. The events of one command arrive
on the task that runs it, so a trace sees the command inside the request that made it.
"""

from __future__ import annotations

from typing import Final

from pymongo import monitoring

from pulse_core.ports.telemetry import CallEnd, Telemetry

#: Commands whose end never came (a task cancelled mid-command) are forgotten past this.
_MAX_OPEN: Final = 10_000


class TelemetryListener(monitoring.CommandListener):
    """Reports each command to ``telemetry`` (``mongodb``, the command's name); a failed
    command's error is the driver's error type or the server's code name."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        self._open: dict[tuple[int, object], CallEnd] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if len(self._open) >= _MAX_OPEN:
            self._open.clear()
        end = self._telemetry.begin_call("mongodb", event.command_name)
        self._open[(event.request_id, event.connection_id)] = end

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        end = self._open.pop((event.request_id, event.connection_id), None)
        if end is not None:
            end(None)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        end = self._open.pop((event.request_id, event.connection_id), None)
        if end is not None:
            failure = event.failure
            end(str(failure.get("errtype") or failure.get("codeName") or "CommandFailed"))
