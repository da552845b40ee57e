"""Usage counts in memory-mapped files (:class:`pulse_core.ports.usage.UsageJournal`):
a count survives the crash of the process that made it, and the next flush of any Pulse
process sharing the directory (``DATA_DIR/usage-journal``) stores it.

Layout under ``root``::

    <journal>/lock       locked (flock) by the live process whose journal this is
    <journal>/<n>.page   one page: a 64-byte header, then 128-byte slots

A page is shared memory backed by its file: a count is a store into the page cache, which
the kernel writes back whether or not the process lives on, so ``kill -9`` loses nothing
(a power cut may: pages are not fsynced, as SQLite's ``synchronous=NORMAL`` is not).
Blocks are allocated when a page is made or grows (``posix_fallocate``), so a full disk
is an ``OSError`` then, never a ``SIGBUS`` on a store.

Header: magic, the hour (epoch seconds), the number of slots published. Slot: the count
(int64), the key's length, the key (``"<metric> <project id>"``). A slot's key is written
before the header counts it and a page's magic last, so a reader never sees a torn one.

A journal's directory is made under a hidden name with its lock taken, then renamed: a
scan never sees one whose owner could still be taking its lock. When a scan can take a
journal's lock, its process has ended; the scanner owns its pages until it settles them.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import secrets
import struct
import time
from datetime import UTC, datetime
from pathlib import Path

from pulse_core.models.usage import METRICS, Metric
from pulse_core.ports.usage import Cells, CountPage, UsageJournal

_log = logging.getLogger("pulse.usage")

_MAGIC = b"PULSEUJ1"
_HEADER = struct.Struct("<8sqq")  # magic, hour, slots published
_HEADER_SIZE = 64
_SLOTS_CELL = 2  # the header's slot count, as an index of int64 cells
_SLOT_SIZE = 128
_COUNT = struct.Struct("<q")
_KEY_LENGTH = struct.Struct("<H")
_KEY_AT = _COUNT.size + _KEY_LENGTH.size
_KEY_MAX = _SLOT_SIZE - _KEY_AT
_FIRST_SLOTS = 256
_LOCK = "lock"
_PAGE = ".page"
_YEAR_10000 = 253_402_300_800  # epoch seconds: what a datetime can hold
#: A hidden directory is a journal being made (for microseconds); one this old was left
#: by a process that died making it, holding no page.
_STALE_STAGING_SECONDS = 3600.0


def _allocate(fd: int, size: int) -> None:
    """Make the file ``size`` bytes, its blocks allocated where the system can (not on
    macOS, whose pages stay sparse: a full disk there is a SIGBUS, as with any mapping)."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)
    else:
        os.ftruncate(fd, size)


class _MappedPage(CountPage):
    """The page its process counts into."""

    __slots__ = ("_capacity", "_cells", "_index", "_map", "_slots", "path")

    def __init__(self, path: Path, key: str, hour: datetime) -> None:
        super().__init__(key, hour)
        self.path = path
        self._capacity = _FIRST_SLOTS
        self._slots = 0
        self._index: dict[Metric, dict[str, int]] = {}
        size = _HEADER_SIZE + _FIRST_SLOTS * _SLOT_SIZE
        # The mapping keeps a descriptor of its own: this one is closed at once, so a
        # page waiting to be stored holds one descriptor, not two.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _allocate(fd, size)
            self._map = mmap.mmap(fd, size)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        _HEADER.pack_into(self._map, 0, bytes(8), int(hour.timestamp()), 0)
        self._map[: len(_MAGIC)] = _MAGIC
        self._cells = memoryview(self._map).cast("q")

    @property
    def cells(self) -> Cells:
        return self._cells

    def cell(self, metric: Metric, project_id: str) -> int:
        known = self._index.get(metric, {}).get(project_id)
        return known if known is not None else self._new_slot(metric, project_id)

    def _new_slot(self, metric: Metric, project_id: str) -> int:
        """The cell of a new slot for ``metric`` of ``project_id``, published."""
        key = f"{metric} {project_id}".encode()
        if len(key) > _KEY_MAX:
            raise ValueError(f"project id too long for a usage journal slot: {project_id!r}")
        if self._slots == self._capacity:
            self._grow()
        offset = _HEADER_SIZE + self._slots * _SLOT_SIZE
        _KEY_LENGTH.pack_into(self._map, offset + _COUNT.size, len(key))
        self._map[offset + _KEY_AT : offset + _KEY_AT + len(key)] = key
        self._slots += 1
        self._cells[_SLOTS_CELL] = self._slots
        cell = offset // _COUNT.size
        self._index.setdefault(metric, {})[project_id] = cell
        return cell

    def _grow(self) -> None:
        capacity = self._capacity * 2
        size = _HEADER_SIZE + capacity * _SLOT_SIZE
        fd = os.open(self.path, os.O_RDWR)
        try:
            _allocate(fd, size)
        finally:
            os.close(fd)
        self._cells.release()
        self._map.resize(size)
        self._cells = memoryview(self._map).cast("q")
        self._capacity = capacity

    def counts(self) -> list[tuple[Metric, str, int]]:
        cells = self._cells
        return [
            (metric, project_id, cells[cell])
            for metric, by_project in self._index.items()
            for project_id, cell in by_project.items()
            if cells[cell]
        ]

    def release(self) -> None:
        """Unmap the page (its file stays)."""
        if not self._map.closed:
            self._cells.release()
            self._map.close()


class _OrphanPage(CountPage):
    """A page an ended process left, read from its file."""

    __slots__ = ("_counts", "path")

    def __init__(
        self, path: Path, key: str, hour: datetime, counts: list[tuple[Metric, str, int]]
    ) -> None:
        super().__init__(key, hour)
        self.path = path
        self._counts = counts

    @property
    def cells(self) -> Cells:
        raise TypeError("an orphaned page is only stored, never counted into")

    def cell(self, metric: Metric, project_id: str) -> int:
        raise TypeError("an orphaned page is only stored, never counted into")

    def counts(self) -> list[tuple[Metric, str, int]]:
        return list(self._counts)


def _read_page(path: Path) -> _OrphanPage | None:
    """The page in ``path``; None when it was never published (its process died making
    it, before any count) or is not a page at all."""
    data = path.read_bytes()
    if len(data) < _HEADER_SIZE or not data.startswith(_MAGIC):
        return None
    _, hour, published = _HEADER.unpack_from(data)
    if hour % 3600 or not 0 <= hour < _YEAR_10000:
        _log.error("usage journal %s: not a page (hour %d); removed", path, hour)
        return None
    counts: list[tuple[Metric, str, int]] = []
    for slot in range(min(published, (len(data) - _HEADER_SIZE) // _SLOT_SIZE)):
        offset = _HEADER_SIZE + slot * _SLOT_SIZE
        (count,) = _COUNT.unpack_from(data, offset)
        (length,) = _KEY_LENGTH.unpack_from(data, offset + _COUNT.size)
        name, _, project_id = (
            data[offset + _KEY_AT : offset + _KEY_AT + length]
            .decode(errors="replace")
            .partition(" ")
        )
        metric = next((m for m in METRICS if m == name), None)
        if metric is None or not project_id:
            _log.error("usage journal %s: slot %d names no metric and project; skipped", path, slot)
        elif count:
            counts.append((metric, project_id, count))
    key = f"{path.parent.name}/{path.name.removesuffix(_PAGE)}"
    return _OrphanPage(path, key, datetime.fromtimestamp(hour, UTC), counts)


class LocalUsageJournal(UsageJournal):
    def __init__(self, root: Path) -> None:
        self._root = root
        self._own: Path | None = None
        self._own_lock: int | None = None
        self._opened = 0
        self._live: dict[Path, _MappedPage] = {}
        #: Journals of ended processes being stored: their lock, their pages left.
        self._claimed: dict[Path, tuple[int, set[Path]]] = {}

    def open(self, hour: datetime) -> CountPage:
        directory = self._own if self._own is not None else self._make_own()
        self._opened += 1
        try:
            page = self._page(directory, hour)
        except FileNotFoundError:
            # Its directory was removed under it (by hand, a cleaner): a new one, or
            # every later count would be held in memory only.
            _log.error("usage journal %s vanished; starting another", directory)
            self._drop_own()
            page = self._page(self._make_own(), hour)
        self._live[page.path] = page
        return page

    def _page(self, directory: Path, hour: datetime) -> _MappedPage:
        path = directory / f"{self._opened}{_PAGE}"
        return _MappedPage(path, f"{directory.name}/{self._opened}", hour)

    def _drop_own(self) -> None:
        if self._own_lock is not None:
            os.close(self._own_lock)
        self._own = self._own_lock = None

    def _make_own(self) -> Path:
        self._root.mkdir(parents=True, exist_ok=True)
        name = secrets.token_hex(8)
        staging = self._root / f".{name}"
        staging.mkdir()
        lock = os.open(staging / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        own = staging.rename(self._root / name)
        self._own, self._own_lock = own, lock
        return own

    def settle(self, page: CountPage) -> None:
        if isinstance(page, _MappedPage) and self._live.pop(page.path, None) is page:
            page.release()
            page.path.unlink(missing_ok=True)
        elif isinstance(page, _OrphanPage) and page.path.parent in self._claimed:
            page.path.unlink(missing_ok=True)
            lock, left = self._claimed[page.path.parent]
            left.discard(page.path)
            if not left:
                del self._claimed[page.path.parent]
                _remove(page.path.parent, lock)

    def orphans(self) -> list[CountPage]:
        self._root.mkdir(parents=True, exist_ok=True)
        found: list[CountPage] = []
        for entry in os.scandir(self._root):
            directory = Path(entry.path)
            if directory == self._own or directory in self._claimed or not entry.is_dir():
                continue
            try:
                if entry.name.startswith("."):
                    _remove_stale_staging(directory)
                else:
                    found.extend(self._claim(directory))
            except (OSError, ValueError) as exc:  # one unreadable journal, not all of them
                _log.error("usage journal %s not read: %s", directory.name, exc)
        return found

    def _claim(self, directory: Path) -> list[_OrphanPage]:
        try:
            lock = os.open(directory / _LOCK, os.O_RDWR)
        except FileNotFoundError:  # being removed by the process that settled it
            return []
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            paths = sorted(directory.glob(f"*{_PAGE}"))
            pages = []
            for path in paths:
                page = _read_page(path)
                if page is None:
                    path.unlink()
                else:
                    pages.append(page)
        except (BlockingIOError, FileNotFoundError):  # alive, or settled meanwhile
            os.close(lock)
            return []
        except BaseException:
            os.close(lock)
            raise
        if pages:
            _log.warning("usage journal %s left by an ended process: storing it", directory.name)
            self._claimed[directory] = (lock, {page.path for page in pages})
        else:
            _remove(directory, lock)
        return pages

    def close(self) -> None:
        for page in self._live.values():
            page.release()
        self._live.clear()
        for lock, _ in self._claimed.values():
            os.close(lock)
        self._claimed.clear()
        if self._own is not None and self._own_lock is not None:
            if any(self._own.glob(f"*{_PAGE}")):
                self._drop_own()  # its pages wait for another journal's flush
            else:
                _remove(self._own, self._own_lock)
                self._own = self._own_lock = None


def _remove(directory: Path, lock: int) -> None:
    """Remove a journal's directory whose pages are all settled, then drop its lock."""
    try:
        (directory / _LOCK).unlink(missing_ok=True)
        directory.rmdir()
    except FileNotFoundError:  # its own process removed it between our scan and our lock
        pass
    except OSError as exc:  # something else was put there: leave it
        _log.warning("usage journal %s not removed: %s", directory, exc)
    finally:
        os.close(lock)


def _remove_stale_staging(directory: Path) -> None:
    """Remove a journal directory a process died making (hidden, and old)."""
    if time.time() - directory.stat().st_mtime < _STALE_STAGING_SECONDS:
        return
    (directory / _LOCK).unlink(missing_ok=True)
    directory.rmdir()
