"""docs/rooms.md, run as written against a real `pulse serve` process (the embedded
default: the simulated engine, whose rooms nobody can join over HTTP)."""

from __future__ import annotations

from pathlib import Path

from tests.support.docs import DOCS, run_page


def test_rooms_guide_runs_as_written(pulse_serve: tuple[str, str], tmp_path: Path) -> None:
    result = run_page(DOCS / "rooms.md", pulse_serve, tmp_path)
    out = result.stdout
    assert "HTTP 201" in out
    assert "again: 200" in out and "\n25\n" in out  # unchanged by the second create
    assert "rooms: ['Salle 2', 'demo']" in out
    assert '{"topic": "retro"}' in out
    for line in ("get: 404", "mute: 404", "update: 404", "remove: 404"):
        assert line in out
    assert "participant 'alice' is not in room 'demo'" in out
    assert "sent: 202" in out
    assert "ended: 204" in out and "after: 404" in out
