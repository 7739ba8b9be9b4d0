"""The call journal: a finished call is made durable here before its caller hears the outcome.

A sequence of segment files, ``<store>.calls-journal.<n>``, each a list of lines
``<crc32 hex> <json>``: appended and synced (one ``fdatasync`` shared by the calls that
arrive meanwhile), deleted once the tables have every call in them, read back at start
(journal_replay.py), and quarantined (``.quarantined-<UTC time>``, reasons beside it in
``.why``) when anything in them is wrong. Every write and sync is checked; a failed one
refuses its call. docs/architecture.md says why the journal exists and how it handles faults.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import StorageUnavailableError
from .base import QuarantinedJournal
from .private_files import sync_folder

log = logging.getLogger("tokenworks.store")

SEGMENT_LINES = 4096  # lines per segment before a new one starts
QUARANTINED = ".quarantined-"  # between a segment's name and the time it was set aside
REASONS = ".why"  # the suffix of the file saying why
STAMP = "%Y%m%dT%H%M%SZ"
MAX_REASONS = 20  # reasons kept per quarantined file: a wholly damaged one has thousands


@dataclass(eq=False)
class _Segment:
    number: int
    path: Path
    fd: int
    lines: int = 0  # lines appended
    unwritten: int = 0  # answered lines whose calls the tables do not have yet
    size: int = 0  # bytes of the whole lines appended
    durable: int = 0  # bytes the last successful sync covered
    broken: str | None = None  # why no more lines may go here
    kept: bool = False  # quarantined while open: never deleted


@dataclass(eq=False)
class _Line:
    """An appended line waiting for the sync that makes it durable."""

    segment: _Segment
    end: int  # the segment's size with this line
    done: bool = False
    failure: str | None = None  # set when the line could not be made durable


@dataclass
class Leftover:
    """A segment an earlier process left: its readable entries, with their line numbers,
    and what is wrong with the rest of it."""

    path: Path
    entries: list[tuple[int, dict[str, Any]]]
    damage: list[tuple[int, str]]  # (line number, what is wrong), 0 for the whole file


class CallJournal:
    def __init__(self, store_path: str | Path) -> None:
        store = Path(store_path)
        self._folder = store.parent
        self._prefix = f"{store.name}.calls-journal."
        self._lock = threading.Lock()  # segments, counters and the lines awaiting a sync
        self._sync_lock = threading.Lock()  # one sync round at a time
        self._segments: dict[int, _Segment] = {}
        self._current: _Segment | None = None
        self._unsynced: list[_Line] = []
        self._problem: str | None = None  # why the last append failed, until one succeeds

    @property
    def problem(self) -> str | None:
        """Why the journal cannot be written (no paths), while no append has succeeded
        since the last one failed; else None."""
        return self._problem

    # -- recovery -------------------------------------------------------------------------

    def leftovers(self) -> list[Leftover]:
        """The segments left by an earlier process, oldest first."""
        paths = self._segment_paths()
        return [_read_segment(path, last=index == len(paths) - 1)
                for index, path in enumerate(paths)]

    def settle_leftovers(self, judged: list[tuple[Leftover, list[str]]]) -> None:
        """After the replay: delete each leftover segment, or quarantine it when anything in
        it was wrong (the reasons given)."""
        for leftover, reasons in judged:
            if reasons:
                quarantine(leftover.path, reasons)
            else:
                leftover.path.unlink()
        if judged:  # nothing to make durable on a start without leftovers
            sync_folder(self._folder)

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
        to hand to ``written`` once the tables have the call. Raises
        StorageUnavailableError (saying why, without paths) when the line could not be
        written or synced: it is then not in the journal."""
        data = json.dumps(entry, separators=(",", ":"), default=str).encode()
        line = b"%08x %s\n" % (zlib.crc32(data), data)
        with self._lock:
            segment = self._writable_segment()
            pending = self._write_line(segment, line)
            self._unsynced.append(pending)
        self._sync(pending)
        return segment.number

    def _writable_segment(self) -> _Segment:
        segment = self._current
        if segment is not None and segment.broken is None and segment.lines < SEGMENT_LINES:
            return segment
        try:
            return self._start_segment()
        except OSError as error:
            self._problem = f"the call journal cannot be written: {describe(error)}"
            raise StorageUnavailableError(self._problem) from error

    def _start_segment(self) -> _Segment:
        known = [*self._segments, *(int(p.name[len(self._prefix):])
                                    for p in self._segment_paths())]
        number = max(known, default=0) + 1
        path = self._folder / f"{self._prefix}{number:08d}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        try:
            sync_folder(self._folder)  # the new name must survive a crash too
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)  # empty: nothing in it to keep
            raise
        segment = _Segment(number, path, fd)
        self._segments[number] = segment
        previous, self._current = self._current, segment
        if previous is not None:
            self._retire_if_done(previous)
        return segment

    def _write_line(self, segment: _Segment, line: bytes) -> _Line:
        """One write of one whole line (O_APPEND), under the lock."""
        try:
            written = os.write(segment.fd, line)
        except OSError as error:
            problem = describe(error)
        else:
            if written == len(line):
                segment.size += written
                segment.lines += 1
                segment.unwritten += 1
                return _Line(segment, segment.size)
            # On a regular file the kernel writes short only when the disk (or the file size
            # limit) is full; the next write would say so. The call is refused either way.
            problem = f"a short write ({written} of {len(line)} bytes)"
        self._problem = f"the call journal cannot be written: {problem}"
        self._cut_back(segment, segment.size, self._problem)
        raise StorageUnavailableError(self._problem)

    def _cut_back(self, segment: _Segment, size: int, problem: str) -> None:
        """Drop the bytes past ``size`` (lines of refused calls, a partial line); if that
        fails, the segment takes no more lines and is quarantined now, so that the next start
        cannot replay a refused call from it."""
        try:
            os.ftruncate(segment.fd, size)
        except OSError as error:
            segment.broken = problem
            log.error("call journal %s: cannot cut back lines of refused calls (%s)",
                      segment.path.name, describe(error))
            if not segment.kept:
                kept = quarantine(segment.path, [
                    problem, f"the lines of refused calls past byte {size} could not be "
                    f"removed ({describe(error)}): they must not be replayed"])
                if kept is not None:
                    segment.path, segment.kept = kept, True

    def _sync(self, pending: _Line) -> None:
        """Make the line durable, or raise StorageUnavailableError. Whoever syncs takes every
        line appended so far, so threads that append while a sync runs share the next one."""
        with self._sync_lock:
            if not pending.done:
                self._sync_round()
        if pending.failure is not None:
            raise StorageUnavailableError(pending.failure)

    def _sync_round(self) -> None:
        with self._lock:
            batch, self._unsynced = self._unsynced, []
            segments = list({id(line.segment): line.segment for line in batch}.values())
        failures: dict[int, str] = {}
        for segment in segments:
            if segment.broken is not None:
                failures[id(segment)] = segment.broken
                continue
            try:
                os.fdatasync(segment.fd)
            except OSError as error:
                # The kernel may have dropped the unsynced pages and cleared the error: what
                # this segment holds past its last good sync is unknown.
                failures[id(segment)] = f"the call journal cannot be synced: {describe(error)}"
        with self._lock:
            for segment in segments:
                failure = failures.get(id(segment))
                if failure is not None and segment.broken is None:
                    segment.broken = failure
                    self._cut_back(segment, segment.durable, failure)
            for line in batch:
                line.failure = failures.get(id(line.segment))
                if line.failure is None:
                    line.segment.durable = max(line.segment.durable, line.end)
                else:
                    line.segment.unwritten -= 1  # refused: the tables will never get it
                line.done = True
            if batch:
                self._problem = next(iter(failures.values()), None)
            for segment in segments:
                if segment.broken is not None and segment is not self._current:
                    self._retire_if_done(segment)

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
        if not segment.kept:
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


def quarantine(path: Path, reasons: list[str]) -> Path | None:
    """Set a journal segment aside: rename it, write why beside it, log both. Returns the
    new path, or None when even the rename failed (the segment then stays where it is)."""
    stamp = datetime.now(UTC).strftime(STAMP)
    target = path.with_name(f"{path.name}{QUARANTINED}{stamp}")
    tries = 1
    while target.exists() or _reasons_path(target).exists():
        tries += 1
        target = path.with_name(f"{path.name}{QUARANTINED}{stamp}-{tries}")
    listed = reasons[:MAX_REASONS]
    if len(reasons) > MAX_REASONS:
        listed.append(f"and {len(reasons) - MAX_REASONS} more")
    try:
        os.rename(path, target)
    except OSError as error:
        log.critical("call journal %s must be quarantined (%s) but cannot be renamed: %s",
                     path, "; ".join(listed), describe(error))
        return None
    try:
        fd = os.open(_reasons_path(target), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, ("\n".join(listed) + "\n").encode())
        finally:
            os.close(fd)
    except OSError as error:  # the log still says why
        log.error("call journal: cannot write why %s was quarantined: %s", target.name,
                  describe(error))
    log.warning("call journal %s quarantined as %s (kept for an admin, not replayed): %s",
                path.name, target, "; ".join(listed))
    return target


def quarantined(store_path: str | Path) -> list[QuarantinedJournal]:
    """The quarantined journal files of a store, oldest first."""
    store = Path(store_path)
    pattern = f"{store.name}.calls-journal.*{QUARANTINED}*"
    found = []
    for path in store.parent.glob(pattern):
        if path.name.endswith(REASONS):
            continue
        stamp = path.name.rsplit(QUARANTINED, 1)[1].split("-")[0]
        try:
            when: datetime | None = datetime.strptime(stamp, STAMP)
        except ValueError:
            when = None
        try:
            text = _reasons_path(path).read_text(encoding="utf-8", errors="replace")
            reasons = tuple(line for line in text.splitlines() if line)
        except OSError:
            reasons = ("(the reasons were not recorded: see the server log)",)
        found.append(QuarantinedJournal(str(path), when, reasons))
    return sorted(found, key=lambda q: (q.quarantined_at or datetime.min, q.path))


def _reasons_path(path: Path) -> Path:
    return path.with_name(path.name + REASONS)


def _read_segment(path: Path, last: bool) -> Leftover:
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as error:
        return Leftover(path, [], [(0, f"the file cannot be read: {describe(error)}")])
    if lines and lines[-1] == b"":
        lines.pop()
    entries, damage = [], []
    for number, line in enumerate(lines, 1):
        entry = _parse(line)
        if entry is not None:
            entries.append((number, entry))
        elif last and number == len(lines):
            # A line cut short by a crash: its call never returned to anyone.
            log.info("call journal %s: ignoring an incomplete last line", path.name)
        else:
            log.warning("call journal %s: line %d is damaged", path.name, number)
            damage.append((number, "damaged (checksum or JSON)"))
    return Leftover(path, entries, damage)


def _parse(line: bytes) -> dict[str, Any] | None:
    crc, _, data = line.partition(b" ")
    try:
        if int(crc, 16) != zlib.crc32(data):
            return None
        entry = json.loads(data)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def describe(error: OSError) -> str:
    """An OS error without its file name (health answers are public)."""
    if error.errno:
        return f"[Errno {error.errno}] {error.strerror or errno.errorcode.get(error.errno, '')}"
    return type(error).__name__
