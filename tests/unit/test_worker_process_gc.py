"""``pulse worker``'s process entry sets up the collector before its loop runs
(``run_worker_process``'s docstring says why)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from pulse_http import worker_process
from pulse_http.settings import Settings


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_worker_process_freezes_startup_and_raises_the_young_threshold(
    collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def loop_run(main: Any) -> None:
        main.close()  # the worker itself is not run here
        seen["threshold"], seen["frozen"] = gc.get_threshold(), gc.get_freeze_count()

    monkeypatch.setattr(worker_process.uvloop, "run", loop_run)
    gc.unfreeze()
    older = gc.get_threshold()[1:]
    worker_process.run_worker_process(Settings())
    assert seen["threshold"] == (worker_process.YOUNG_GC_THRESHOLD, *older)
    assert seen["frozen"] > 0
