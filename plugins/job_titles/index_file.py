"""The resolver's index, precomputed: data/title_index.npz.

Building the index from the title rows takes seconds of Python (cleaning 87,000 titles,
counting character n-grams); loading the same arrays from a file takes a fraction of that,
so a host pays little at start. The file is written by `build_data.py` after the Parquet
files, or alone from the committed Parquet files with

    .venv/bin/python -m tokenworks.plugins.job_titles.index_file

It records a fingerprint of everything the index is computed from: the Parquet files it
reads and the source of the modules that clean and index titles. A file whose fingerprint
does not match is ignored (the resolver builds its index in memory, as before), so a stale
file can cost time but never change an answer; a test checks that the committed one is
current. Arrays only, read with `allow_pickle=False`; the float TF-IDF values are stored
uncompressed, the rest deflated (see `_savez`).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import threading
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .data import DATA_DIR, JobData

INDEX_FILE = "title_index.npz"
HERE = Path(__file__).resolve().parent
# What the index is computed from: change any of these and the file must be rebuilt.
INPUT_FILES = ("titles.parquet", "occupations.parquet", "tasks.parquet")
SOURCE_FILES = ("clean.py", "places.py", "text_index.py", "resolver.py", "classifier.py",
                "functions/states.py")

log = logging.getLogger("tokenworks.job_titles")


def fingerprint(data_dir: Path = DATA_DIR) -> str:
    """A hash of the index's inputs: the Parquet files and the cleaning and indexing code."""
    h = hashlib.sha256()
    for name in INPUT_FILES:
        h.update(name.encode())
        h.update((data_dir / name).read_bytes())
    for name in SOURCE_FILES:
        h.update(name.encode())
        # Line endings normalised: a checkout with CRLF must not make the file look stale.
        h.update((HERE / name).read_bytes().replace(b"\r\n", b"\n"))
    return h.hexdigest()


def write_index(data: JobData, out_dir: Path | None = None) -> Path:
    """Build the full index over `data` and write it (compressed) beside the Parquet files."""
    from .resolver import TitleResolver

    out_dir = Path(out_dir) if out_dir is not None else data.data_dir
    state = TitleResolver(data).state()
    state["fingerprint"] = np.frombuffer(fingerprint(data.data_dir).encode(), dtype=np.uint8)
    path = out_dir / INDEX_FILE
    tmp = path.with_suffix(".tmp.npz")
    _savez(tmp, state)
    tmp.replace(path)
    return path


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """`np.savez_compressed`, except that the TF-IDF values (float32, which barely
    deflate) are stored: inflating them cost much of the file's read time for little saved.
    `np.load` reads both kinds of member."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = (zipfile.ZIP_STORED if name.endswith(".vals")
                                  else zipfile.ZIP_DEFLATED)
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)


def read_index(data_dir: Path = DATA_DIR) -> dict[str, np.ndarray] | None:
    """The stored arrays, or None when there is no file or it is stale."""
    path = data_dir / INDEX_FILE
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        stored = z["fingerprint"].tobytes().decode()
        if stored != fingerprint(data_dir):
            log.warning("%s is stale (its inputs changed): building the title index in "
                        "memory instead; rebuild it with "
                        "`python -m tokenworks.plugins.job_titles.index_file`", path)
            return None
        return {k: z[k] for k in z.files if k != "fingerprint"}


_PREFETCHED: dict[Path, dict[str, np.ndarray] | None] = {}
_PREFETCH_LOCK = threading.Lock()


def prefetch_index(data_dir: Path = DATA_DIR) -> None:
    """Read the index ahead, and import scipy.sparse (the resolver's), for `take_index`.

    The plugin's `warm()` runs this on a second thread while the Parquet files load: DuckDB's
    reads, zlib's inflating and the fingerprint's hashing release the GIL, so on two cores
    most of the index's load overlaps the data's. Errors are left to `take_index`'s own read.
    """
    try:
        import scipy.sparse  # noqa: F401

        state = read_index(data_dir)
    except Exception:  # the resolver's own read reports it
        return
    with _PREFETCH_LOCK:
        _PREFETCHED[data_dir] = state


def take_index(data_dir: Path = DATA_DIR) -> dict[str, np.ndarray] | None:
    """The arrays `prefetch_index` read for this folder (once), else `read_index`'s."""
    with _PREFETCH_LOCK:
        if data_dir in _PREFETCHED:
            return _PREFETCHED.pop(data_dir)
    return read_index(data_dir)


def forget_prefetched() -> None:
    with _PREFETCH_LOCK:
        _PREFETCHED.clear()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rebuild data/title_index.npz from the Parquet "
                                             "files beside it.")
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    path = write_index(JobData.load(args.data), args.data)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
