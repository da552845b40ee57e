"""docs/usage.md, run as written against a real `pulse serve` on the embedded default: a
participant's 150 s become 3 minutes, a token is counted after the flush, the free plan
shows its use and refuses a fourth project."""

from __future__ import annotations

from pathlib import Path

from tests.support.docs import DOCS, run_page, running_pulse_serve


def test_usage_guide_runs_as_written(tmp_path: Path) -> None:
    with running_pulse_serve(tmp_path, USAGE_FLUSH_SECONDS="1") as server:
        result = run_page(DOCS / "usage.md", server, tmp_path, cwd_is_root=True)
    out = result.stdout
    assert "participant_minutes: 3\n" in out
    assert "tokens_created: 1\n" in out
    assert "organization: {'participant_minutes': 3, 'tokens_created': 1}" in out
    assert "projects: 1\n" in out
    assert "plan free\n" in out
    assert "  max_projects: 1 of 3\n" in out
    assert "  monthly_participant_minutes: 3 of 5000\n" in out
    assert "  monthly_egress_minutes: 0 of 60\n" in out
    assert "project Two: 201\nproject Three: 201\nproject Four: 403\n" in out
    assert "quota_exceeded max_projects 3 3\n" in out
