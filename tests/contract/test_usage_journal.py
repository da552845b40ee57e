"""The UsageJournal contract on both adapters; then what only the file-backed journal
can show: a page outlives a ``kill -9`` of the process that counted into it (a real
child process, killed mid-life), is claimed by exactly one other journal, and its
directory goes once it is settled."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pulse_adapters.local import LocalUsageJournal
from pulse_adapters.memory import InMemoryUsageJournal
from pulse_core.models.usage import Metric
from pulse_core.ports.usage import UsageJournal
from pulse_core.services.usage_counter import HeldCountPage

HOUR = datetime(2026, 12, 3, 16, tzinfo=UTC)
A = "prj_01HZZZZZZZZZZZZZZZZZZZZZZA"
B = "prj_01HZZZZZZZZZZZZZZZZZZZZZZB"
PATIENCE = 60


@pytest.fixture(params=["memory", "local"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UsageJournal]:
    chosen: UsageJournal = (
        InMemoryUsageJournal() if request.param == "memory" else LocalUsageJournal(tmp_path)
    )
    try:
        yield chosen
    finally:
        chosen.close()


def totals(counts: list[tuple[Metric, str, int]]) -> dict[tuple[Metric, str], int]:
    found: dict[tuple[Metric, str], int] = {}
    for metric, project_id, quantity in counts:
        assert (metric, project_id) not in found, "one total per metric and project"
        found[metric, project_id] = quantity
    return found


# -- the contract, on both -----------------------------------------------------------------


def test_a_page_sums_counts_per_metric_and_project(journal: UsageJournal) -> None:
    page = journal.open(HOUR)
    assert page.hour == HOUR
    assert page.counts() == []
    page.add("tokens_created", A, 1)
    page.add("tokens_created", A, 2)
    page.add("tokens_created", B, 5)
    page.add("api_requests", A, 7)
    page.add("webhook_deliveries", B, 0)
    assert totals(page.counts()) == {
        ("tokens_created", A): 3,
        ("tokens_created", B): 5,
        ("api_requests", A): 7,
    }


def test_pages_have_keys_of_their_own(journal: UsageJournal, tmp_path: Path) -> None:
    keys = {journal.open(HOUR).key for _ in range(5)}
    other: UsageJournal = (
        LocalUsageJournal(tmp_path / "other")
        if isinstance(journal, LocalUsageJournal)
        else InMemoryUsageJournal()
    )
    try:
        keys |= {other.open(HOUR).key for _ in range(5)}
    finally:
        other.close()
    assert len(keys) == 10


def test_a_page_takes_more_projects_than_its_first_size(journal: UsageJournal) -> None:
    page = journal.open(HOUR)
    projects = [f"prj_{i:026d}" for i in range(1500)]
    for round_ in range(2):
        for i, project_id in enumerate(projects):
            page.add("api_requests", project_id, i + round_)
    assert totals(page.counts()) == {("api_requests", p): 2 * i + 1 for i, p in enumerate(projects)}


def test_settling_a_page_it_did_not_hand_out_is_ignored(journal: UsageJournal) -> None:
    page = journal.open(HOUR)
    page.add("tokens_created", A, 1)
    journal.settle(HeldCountPage("elsewhere/1", HOUR))
    assert totals(page.counts()) == {("tokens_created", A): 1}


def test_a_live_journal_has_no_orphans_of_its_own(journal: UsageJournal) -> None:
    journal.open(HOUR).add("tokens_created", A, 1)
    assert journal.orphans() == []


# -- the file-backed journal: processes ----------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from pulse_adapters.local import LocalUsageJournal

    journal = LocalUsageJournal(Path(sys.argv[1]))
    hour = datetime(2026, 12, 3, 16, tzinfo=UTC)
    first = journal.open(hour)
    for _ in range(1000):
        first.add("tokens_created", sys.argv[2], 1)
    first.add("api_requests", sys.argv[2], 41)
    journal.open(hour).add("webhook_deliveries", sys.argv[2], 3)
    journal.open(hour)  # opened, nothing counted
    print("counted", flush=True)
    time.sleep(600)
    """
)


def count_then_die(root: Path, project_id: str) -> None:
    """A process that counts into ``root``'s journal, then is killed with SIGKILL."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), project_id], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "counted"
        probe = LocalUsageJournal(root)
        assert probe.orphans() == [], "a live process's journal was claimed"
        probe.close()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=PATIENCE)


def test_pages_outlive_a_killed_process_and_are_claimed_once(tmp_path: Path) -> None:
    count_then_die(tmp_path, A)
    first, second = LocalUsageJournal(tmp_path), LocalUsageJournal(tmp_path)
    try:
        pages = first.orphans()
        assert second.orphans() == [], "two journals claimed the same pages"
        assert {page.hour for page in pages} == {HOUR}
        assert len({page.key for page in pages}) == len(pages)
        found = [count for page in pages for count in page.counts()]
        assert totals(found) == {
            ("tokens_created", A): 1000,
            ("api_requests", A): 41,
            ("webhook_deliveries", A): 3,
        }
        for page in pages:
            first.settle(page)
        assert list(tmp_path.iterdir()) == [], "the dead journal's directory stayed"
    finally:
        first.close()
        second.close()


def test_a_claim_released_unsettled_passes_to_the_next_journal(tmp_path: Path) -> None:
    count_then_die(tmp_path, B)
    first = LocalUsageJournal(tmp_path)
    keys = {page.key for page in first.orphans()}
    first.close()  # as if its flush failed and its process ended
    second = LocalUsageJournal(tmp_path)
    try:
        assert {page.key for page in second.orphans()} == keys
    finally:
        second.close()


def test_a_journal_is_no_orphan_while_its_process_lives(tmp_path: Path) -> None:
    live = LocalUsageJournal(tmp_path)
    live.open(HOUR).add("tokens_created", A, 2)
    other = LocalUsageJournal(tmp_path)
    try:
        assert other.orphans() == []
    finally:
        other.close()
        live.close()


def test_closing_keeps_unsettled_pages_and_removes_a_settled_journal(tmp_path: Path) -> None:
    kept = LocalUsageJournal(tmp_path / "kept")
    kept.open(HOUR).add("tokens_created", A, 4)
    kept.close()
    later = LocalUsageJournal(tmp_path / "kept")
    try:
        assert [totals(p.counts()) for p in later.orphans()] == [{("tokens_created", A): 4}]
    finally:
        later.close()

    done = LocalUsageJournal(tmp_path / "done")
    page = done.open(HOUR)
    page.add("tokens_created", A, 4)
    done.settle(page)
    done.close()
    assert list((tmp_path / "done").iterdir()) == []


def test_a_page_never_published_is_removed_not_stored(tmp_path: Path) -> None:
    dead = tmp_path / "0123456789abcdef"
    dead.mkdir()
    (dead / "lock").touch()
    (dead / "1.page").write_bytes(bytes(4096))  # died between creating and publishing it
    journal = LocalUsageJournal(tmp_path)
    try:
        assert journal.orphans() == []
        assert list(tmp_path.iterdir()) == []
    finally:
        journal.close()


def test_a_directory_it_cannot_write_is_an_os_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    journal = LocalUsageJournal(tmp_path / "file" / "journal")
    with pytest.raises(OSError):
        journal.open(HOUR)
    with pytest.raises(OSError):
        journal.orphans()


def test_a_journal_whose_directory_vanished_starts_another_and_stays_durable(
    tmp_path: Path,
) -> None:
    journal = LocalUsageJournal(tmp_path)
    try:
        journal.open(HOUR).add("tokens_created", A, 1)
        [first] = list(tmp_path.iterdir())
        shutil.rmtree(first)  # a cleaner, or a hand
        journal.open(HOUR).add("tokens_created", A, 2)
        assert [p.parent.name for p in tmp_path.glob("*/*.page")] != [first.name]
        assert len(list(tmp_path.glob("*/*.page"))) == 1
    finally:
        journal.close()


def test_one_unreadable_or_corrupt_journal_does_not_keep_the_others_from_being_claimed(
    tmp_path: Path,
) -> None:
    count_then_die(tmp_path, A)
    unreadable = tmp_path / "0000000000000000"
    (unreadable / "lock").mkdir(parents=True)  # opening it for a lock fails
    corrupt = tmp_path / "ffffffffffffffff"
    corrupt.mkdir()
    (corrupt / "lock").touch()
    header = b"PULSEUJ1" + (2**62).to_bytes(8, "little") + (1).to_bytes(8, "little")
    (corrupt / "1.page").write_bytes(header + bytes(4096))  # an hour no datetime holds
    journal = LocalUsageJournal(tmp_path)
    try:
        pages = journal.orphans()
        found = totals([count for page in pages for count in page.counts()])
        assert found[("tokens_created", A)] == 1000
        assert not corrupt.exists(), "the corrupt page's journal stayed"
        assert unreadable.exists()
    finally:
        journal.close()
