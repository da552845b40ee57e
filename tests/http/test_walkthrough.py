"""docs/api-walkthrough.md, run as written against a real `pulse serve` process."""

from __future__ import annotations

from pathlib import Path

from tests.support.docs import DOCS, run_page


def test_walkthrough_runs_as_written(pulse_serve: tuple[str, str], tmp_path: Path) -> None:
    result = run_page(DOCS / "api-walkthrough.md", pulse_serve, tmp_path)
    assert "old pair: 401" in result.stdout
    assert "new pair: 200" in result.stdout
