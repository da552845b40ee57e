"""docs/media.md, run as written against a real `pulse serve` process (the embedded
default: simulated media engine, local recordings)."""

from __future__ import annotations

from pathlib import Path

from tests.support.docs import DOCS, run_page


def test_media_guide_runs_as_written(pulse_serve: tuple[str, str], tmp_path: Path) -> None:
    result = run_page(DOCS / "media.md", pulse_serve, tmp_path)
    assert "OBS stream key: " in result.stdout
    assert "deleted: 204" in result.stdout
    assert "recording deleted: 204" in result.stdout
    assert "its link now: 404" in result.stdout
    assert "***mnop" in result.stdout and "abcd-efgh-ijkl-mnop" not in result.stdout
    downloaded = (tmp_path / "recording.mp4").read_bytes()  # the page's $PULSE_TMP
    assert downloaded.startswith(b"Pulse simulated recording")
