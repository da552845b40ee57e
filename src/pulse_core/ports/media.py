from __future__ import annotations

import abc


class MediaEngine(abc.ABC):
    """Rooms, egress (recording, streaming out) and ingress (ingest) on the media server.

    Room names here are the engine's own (already namespaced per project by the caller).
    Unknown ids raise ``NotFound``; rejected arguments ``InvalidInput``; an unreachable or
    slow engine ``Unavailable`` within the adapter's timeout. The full egress/ingress
    surface is filled in by the media-control work.
    """

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return when the engine answers; ``Unavailable`` otherwise."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing
        """Release connections; the default holds none."""
