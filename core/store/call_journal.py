"""The call journal: a finished call is made durable here before its caller hears the outcome.

Why it exists: writing a whole call to DuckDB (its call row, two ledger rows, the balance,
and the commit) costs 6-9 ms of CPU on these machines, almost all of it DuckDB's fixed
cost per statement (docs/benchmarks.md), so a call that waited for that commit could not
return in 3 ms. A call that returned before any commit would be lost to a crash: charged
nowhere, missing from its user's history. So the store appends each finished call to this
file as one line, syncs it (one ``fdatasync``, shared by the calls that arrive meanwhile:
group commit), returns, and writes the calls to the tables behind the caller's back
(write_behind.py). On the next start the store writes every journaled call the tables do
not have yet, and only then deletes the journal.

The file is a sequence of segments, ``<store>.calls-journal.<n>``, each a list of lines
``<crc32 hex> <json>``. A segment is deleted once every call in it is committed to the
tables and it is not the one being appended to, so the journal stays small under a
steady load. A line cut short by a crash (a call that never returned) fails its checksum
and is ignored; so is, with a warning, a damaged line anywhere else.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("tokenworks.store")

SEGMENT_LINES = 4096  # lines per segment before a new one starts


@dataclass
class _Segment:
    number: int
    path: Path
    fd: int
    lines: int = 0  # lines appended
    unwritten: int = 0  # lines whose calls the tables do not have yet
    dirty: bool = False  # appended to since the last sync


class CallJournal:
    def __init__(self, store_path: str | Path) -> None:
        store = Path(store_path)
        self._folder = store.parent
        self._prefix = f"{store.name}.calls-journal."
        self._lock = threading.Lock()  # segments and counters
        self._sync_lock = threading.Lock()  # one fdatasync at a time
        self._segments: dict[int, _Segment] = {}
        self._current: _Segment | None = None
        self._appended = 0  # lines appended, ever
        self._synced = 0  # lines known to be on disk

    # -- recovery -------------------------------------------------------------------------

    def leftovers(self) -> list[dict[str, Any]]:
        """The entries of segments left by an earlier process, oldest first."""
        entries: list[dict[str, Any]] = []
        paths = self._segment_paths()
        for index, path in enumerate(paths):
            entries += _read_segment(path, last=index == len(paths) - 1)
        return entries

    def discard_leftovers(self) -> None:
        """Delete the earlier process's segments (their calls are in the tables now)."""
        paths = self._segment_paths()
        for path in paths:
            path.unlink()
        if paths:  # nothing to make durable on a start without leftovers
            _sync_folder(self._folder)

    def _segment_paths(self) -> list[Path]:
        numbered = []
        for path in self._folder.glob(f"{self._prefix}*"):
            suffix = path.name[len(self._prefix):]
            if suffix.isdigit():
                numbered.append((int(suffix), path))
        return [path for _, path in sorted(numbered)]

    # -- appending ------------------------------------------------------------------------

    def append(self, entry: dict[str, Any]) -> int:
        """Append one entry and return once it is on disk; returns its segment's number,
        to hand to ``written`` once the tables have the call."""
        data = json.dumps(entry, separators=(",", ":"), default=str).encode()
        line = b"%08x %s\n" % (zlib.crc32(data), data)
        with self._lock:
            segment = self._current
            if segment is None or segment.lines >= SEGMENT_LINES:
                segment = self._start_segment()
            os.write(segment.fd, line)  # O_APPEND: one write, one line
            segment.lines += 1
            segment.unwritten += 1
            segment.dirty = True
            self._appended += 1
            mine = self._appended
        self._sync(mine)
        return segment.number

    def _start_segment(self) -> _Segment:
        known = [*self._segments, *(int(p.name[len(self._prefix):])
                                    for p in self._segment_paths())]
        number = max(known, default=0) + 1
        path = self._folder / f"{self._prefix}{number:08d}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        _sync_folder(self._folder)  # the new name must survive a crash too
        segment = _Segment(number, path, fd)
        self._segments[number] = segment
        previous, self._current = self._current, segment
        if previous is not None:
            self._retire_if_done(previous)
        return segment

    def _sync(self, mine: int) -> None:
        """Make line number ``mine`` durable; whoever syncs takes every line appended so far,
        so threads that append while a sync runs share the next one."""
        with self._sync_lock:
            if self._synced >= mine:
                return
            with self._lock:
                target = self._appended
                dirty = [s for s in self._segments.values() if s.dirty]
                for segment in dirty:
                    segment.dirty = False
            for segment in dirty:
                os.fdatasync(segment.fd)
            self._synced = target

    # -- after the tables have the calls ---------------------------------------------------

    def written(self, segment_numbers: list[int]) -> None:
        """These entries' calls are committed to the tables (one number per entry)."""
        with self._lock:
            for number in segment_numbers:
                segment = self._segments[number]
                segment.unwritten -= 1
                self._retire_if_done(segment)

    def _retire_if_done(self, segment: _Segment) -> None:
        if segment.unwritten or segment is self._current:
            return
        os.close(segment.fd)
        segment.path.unlink()
        del self._segments[segment.number]

    def close(self) -> None:
        """Close the files; a segment all of whose calls are written is deleted."""
        with self._lock:
            current, self._current = self._current, None
            if current is not None:
                self._retire_if_done(current)
            for segment in list(self._segments.values()):
                os.close(segment.fd)  # calls not written: kept for the next start
            self._segments.clear()


def _read_segment(path: Path, last: bool) -> list[dict[str, Any]]:
    lines = path.read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    entries = []
    for number, line in enumerate(lines, 1):
        entry = _parse(line)
        if entry is not None:
            entries.append(entry)
        elif last and number == len(lines):
            # A line cut short by the crash: its call never returned to anyone.
            log.info("call journal %s: ignoring an incomplete last line", path.name)
        else:
            log.warning("call journal %s: line %d is damaged and was skipped", path.name, number)
    return entries


def _parse(line: bytes) -> dict[str, Any] | None:
    crc, _, data = line.partition(b" ")
    try:
        if int(crc, 16) != zlib.crc32(data):
            return None
        entry = json.loads(data)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
