"""``make screenshots`` works, and docs/dashboard.md shows every page it takes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.dashboard import screenshots

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "dashboard.md"


def test_the_guide_shows_every_page_and_only_pages_that_are_taken() -> None:
    shown = set(re.findall(r"\]\(images/dashboard/([a-z-]+)\.png\)", GUIDE.read_text()))
    assert shown == {name for name, _ in screenshots.PAGES}
    for name in shown:
        assert (ROOT / "docs" / "images" / "dashboard" / f"{name}.png").is_file(), name


@pytest.mark.slow
def test_make_screenshots_takes_every_page(tmp_path: Path) -> None:
    taken = screenshots.take(tmp_path)
    assert [p.stem for p in taken] == [name for name, _ in screenshots.PAGES]
    for path in taken:
        assert path.read_bytes().startswith(b"\x89PNG"), path
        assert path.stat().st_size > 5_000, path  # a page, not a blank
