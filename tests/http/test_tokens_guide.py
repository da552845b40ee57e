"""docs/tokens.md, run as written against a real `pulse serve` on the embedded default:
minting (the free plan's participant cap in the token), validating (a token of another
project included), the project's TTL bounds,
custom grants and a refused one. Its table of refused grants is the one Pulse enforces."""

from __future__ import annotations

import re
from pathlib import Path

from pulse_core.services.token_claims import REFUSED_GRANTS
from tests.support.docs import DOCS, run_page

PAGE = DOCS / "tokens.md"


def test_tokens_guide_runs_as_written(pulse_serve: tuple[str, str], tmp_path: Path) -> None:
    out = run_page(PAGE, pulse_serve, tmp_path).stdout
    assert "identity: alice | room: demo" in out
    assert "livekit_url: ws://localhost:7880" in out
    # The token names the project's own LiveKit room, never another's.
    assert re.search(r'"room": "prj_[0-9A-Z]{26}_demo"', out)
    assert '"sub": "alice"' in out and "lifetime: 3600 s" in out
    assert 'roomConfig: {"maxParticipants": 100}' in out  # the free plan's cap
    assert "valid: True alice demo can publish: True" in out
    assert '{"valid":false,"reason":"malformed"}' in out
    assert '{"valid":false,"reason":"foreign_project"}' in out
    assert "lifetime: 600 s" in out and "lifetime: 1800 s" in out
    assert "ttl_seconds must be an integer between 60 and 1800" in out
    assert '"canPublish": false' in out
    assert '"canPublishSources": ["camera", "microphone"]' in out
    assert "invalid_input grants.room_record" in out
    assert re.findall(r"^(\d{3})$", out, flags=re.MULTILINE) == [
        "201",
        "201",
        "400",
        "201",
        "201",
        "400",
    ]


def test_the_page_lists_exactly_the_refused_grants() -> None:
    text = PAGE.read_text()
    table = text.split("| refused grant |", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)
    assert sorted(listed) == sorted(REFUSED_GRANTS)


def test_the_guide_is_linked_from_the_readme() -> None:
    assert "(docs/tokens.md)" in (DOCS.parent / "README.md").read_text()
