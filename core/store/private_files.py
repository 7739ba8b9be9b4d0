"""Keep the store's files private to their owner: the database, its WAL, the call journal.

They hold password hashes, balances and every call's input and result, so no other local
account may read them. DuckDB creates its file, and its ``.wal`` again after every
checkpoint, with the process umask, and offers no setting for the mode: so while a store
file is open the process umask also masks group and other bits (``private_umask``), and
files an earlier process left readable are tightened at open, with a warning
(``tighten``). The umask is the process's, so it is shared: it stays restrictive while
any store is open and is put back when the last one closes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from pathlib import Path

log = logging.getLogger("tokenworks.store")

PRIVATE_MASK = 0o077  # no access for group or others
FILE_MODE = 0o600
FOLDER_MODE = 0o700

_lock = threading.Lock()
_holders = 0
_saved_umask = 0


def acquire_private_umask() -> None:
    """Mask group and other bits in the process umask until the matching release."""
    global _holders, _saved_umask
    with _lock:
        if _holders == 0:
            _saved_umask = os.umask(PRIVATE_MASK)
            os.umask(_saved_umask | PRIVATE_MASK)
        _holders += 1


def release_private_umask() -> None:
    global _holders
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            os.umask(_saved_umask)


def make_private_folder(folder: Path) -> None:
    """Create the folder (and missing parents) as 0700; an existing folder is left alone
    (it may be the user's project folder)."""
    missing = [parent for parent in (folder, *folder.parents) if not parent.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        with contextlib.suppress(OSError):  # made by someone else meanwhile: theirs
            os.chmod(created, FOLDER_MODE)


def tighten(path: Path, what: str, hint: str = "") -> bool:
    """If ``path`` exists with group or other permissions, warn and make it 0600 (0700 for
    a folder). Returns whether it had to. A file of another owner is only warned about."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode) or not info.st_mode & PRIVATE_MASK:
        return False
    mode = stat.S_IMODE(info.st_mode)
    wanted = FOLDER_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
    try:
        os.chmod(path, wanted)
        done = f"made it {wanted:04o}"
    except OSError as error:
        done = f"could not make it {wanted:04o}: {error.strerror}"
    log.warning("%s %s was readable by other accounts (mode %04o); %s%s", what, path, mode,
                done, f". {hint}" if hint else "")
    return True


def store_files(store: Path) -> list[tuple[Path, str]]:
    """A DuckDB store's files that exist now: the database, its WAL and temporary folder,
    and the call journal's segments (and quarantined ones)."""
    found = [(store, "the store file"), (Path(f"{store}.wal"), "the store's WAL"),
             (Path(f"{store}.tmp"), "the store's temporary folder")]
    found += [(path, "the call journal")
              for path in sorted(store.parent.glob(f"{store.name}.calls-journal.*"))]
    return [(path, what) for path, what in found if path.exists()]


def tighten_store_files(store: Path) -> int:
    """Tighten every file of the store; returns how many were too open."""
    return sum(tighten(path, what) for path, what in store_files(store))


def sync_folder(folder: Path) -> None:
    """Make a file's creation, rename or removal in ``folder`` survive a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
