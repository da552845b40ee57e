"""What the media server runs in Pulse's rooms that no project owns, stopped.

Starting an egress or creating an ingress is one call to the media server, then the
record that gives it to its project. When the call outlives ``LIVEKIT_TIMEOUT_SECONDS``
Pulse answers 503 and writes no record, yet the media server may still carry it out:
the egress records (and uploads, and streams) for nobody, the ingress waits for a
publisher, neither counts against a limit or a bill. A crash between the call and the
record leaves the same.

:meth:`OrphanedMedia.sweep` lists the media server's egresses and ingresses and stops
those in a Pulse project's room (``prj_…_<room>``: anything else on a shared media server
is not Pulse's) that no record names. An egress or ingress is only stopped when it was
already unowned at the previous sweep, a sweep interval earlier: a start whose record
is being written right now is never taken for an orphan.
"""

from __future__ import annotations

import contextlib
import logging

from pulse_core import rooms
from pulse_core.errors import Conflict, NotFound
from pulse_core.models.media import ENDED_EGRESS_STATUSES, ENDED_INGRESS_STATUSES
from pulse_core.ports.media import MediaEngine
from pulse_core.ports.media_records import EgressRecordRepository, IngressRecordRepository

_log = logging.getLogger("pulse.media_orphans")


class OrphanedMedia:
    """Stops the engine's egresses and deletes its ingresses that sit in a Pulse room
    with no record, at the second sweep that finds them so. One instance per process
    that sweeps: it remembers what its last sweep found. Several processes sweeping is
    harmless (a second stop is ignored)."""

    def __init__(
        self,
        engine: MediaEngine,
        egress: EgressRecordRepository,
        ingress: IngressRecordRepository,
    ) -> None:
        self._engine = engine
        self._egress = egress
        self._ingress = ingress
        self._suspects: set[tuple[str, str]] = set()

    async def sweep(self) -> int:
        """One sweep; how many egresses and ingresses it stopped."""
        unowned: set[tuple[str, str]] = set()
        for egress in await self._engine.list_egress():
            if (
                egress.status not in ENDED_EGRESS_STATUSES
                and _in_pulse_room(egress.room_name)
                and await self._egress.get_by_engine_id(egress.egress_id) is None
            ):
                unowned.add(("egress", egress.egress_id))
        for ingress in await self._engine.list_ingress():
            if (
                ingress.status not in ENDED_INGRESS_STATUSES
                and _in_pulse_room(ingress.room_name)
                and await self._ingress.get_by_engine_id(ingress.ingress_id) is None
            ):
                unowned.add(("ingress", ingress.ingress_id))
        orphans, self._suspects = unowned & self._suspects, unowned - self._suspects
        for kind, engine_id in sorted(orphans):
            _log.warning("stopping an orphaned %s: %s (no project owns it)", kind, engine_id)
            # Stopped or gone meanwhile: what the sweep wanted either way.
            with contextlib.suppress(NotFound, Conflict):
                if kind == "egress":
                    await self._engine.stop_egress(engine_id)
                else:
                    await self._engine.delete_ingress(engine_id)
        return len(orphans)


def _in_pulse_room(livekit_room: str | None) -> bool:
    return livekit_room is not None and rooms.from_livekit(livekit_room) is not None
