"""Start, stop and health-check the backends the container selected.

Only the chosen backends are registered (SQLite or Mongo, Redis when configured...), so
an embedded start never touches a server it was not told about.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import structlog

Health = Literal["ok", "degraded", "down"]
# A check returns "ok"/"degraded", or raises (any exception) when the backend is down.
Check = Callable[[], Awaitable[Health]]
Hook = Callable[[], Awaitable[None]]

_log = structlog.get_logger("pulse.lifecycle")


@dataclass
class _Component:
    name: str
    start: Hook | None
    stop: Hook | None
    check: Check | None


@dataclass
class Lifecycle:
    check_timeout_seconds: float = 2.0
    _components: list[_Component] = field(default_factory=list)
    _started: list[_Component] = field(default_factory=list)

    def add(
        self,
        name: str,
        *,
        start: Hook | None = None,
        stop: Hook | None = None,
        check: Check | None = None,
    ) -> None:
        self._components.append(_Component(name, start, stop, check))

    async def start(self) -> None:
        """Start in registration order; on a failure stop what was started and raise."""
        for component in self._components:
            if component.start is not None:
                try:
                    await component.start()
                except BaseException:
                    await self.stop()
                    raise
            self._started.append(component)

    async def stop(self) -> None:
        """Stop in reverse order; a failing stop is logged and does not stop the others."""
        while self._started:
            component = self._started.pop()
            if component.stop is not None:
                try:
                    await component.stop()
                except Exception as exc:
                    _log.warning("stop_failed", component=component.name, error=repr(exc))

    async def check(self) -> tuple[dict[str, Health], bool]:
        """Each backend's health and whether the service is ready (nothing down)."""
        named = [c for c in self._components if c.check is not None]
        results = await asyncio.gather(*(self._check_one(c) for c in named))
        checks = {c.name: health for c, health in zip(named, results, strict=True)}
        return checks, "down" not in checks.values()

    async def _check_one(self, component: _Component) -> Health:
        assert component.check is not None
        try:
            async with asyncio.timeout(self.check_timeout_seconds):
                return await component.check()
        except Exception:
            _log.warning("health_check_failed", component=component.name, exc_info=True)
            return "down"
