"""docs/webhooks.md, run as written against a real `pulse serve` on the embedded default
(in-process worker, SQLite queue), with its receiver and LiveKit sender examples."""

from __future__ import annotations

from pathlib import Path

from tests.support.docs import DOCS, run_page, running_pulse_serve


def test_webhooks_guide_runs_as_written(tmp_path: Path) -> None:
    with running_pulse_serve(
        tmp_path,
        WEBHOOK_RETRY_SCHEDULE="0,1,1",
        WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
    ) as server:
        result = run_page(DOCS / "webhooks.md", server, tmp_path, cwd_is_root=True)
    out = result.stdout
    assert "received participant.joined in room demo" in out
    assert "logged: ['participant.joined']" in out
    assert "delivery succeeded 200" in out
    assert "dead [500, 500, 500]" in out
    assert "after retry: succeeded" in out
    assert "replayed: 0" in out
