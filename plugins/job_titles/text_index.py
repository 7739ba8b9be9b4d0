"""Small sparse text indexes for the title resolver: TF-IDF spaces and naive Bayes counts.

Pure numpy. A space stores its rows as postings (feature -> rows, weights) so that one sparse
query vector is scored against every row with a single `np.bincount`, and optionally row-major
too, so that a few chosen rows can be scored exactly.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable, Sequence

import numpy as np

_WORD = re.compile(r"[a-z][a-z0-9]+")
_STOP = frozenset(
    "a an and are as at be by for from in into is it its of on or such than that the their "
    "them these this to use used using with which who may other others all any".split()
)


def stem(word: str) -> str:
    """A light plural stemmer: technicians -> technician, secretaries -> secretary."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def word_features(tokens: Sequence[str]) -> dict[str, float]:
    """Stemmed words, plus the head noun (the last word) as its own feature `^word`."""
    feats: dict[str, float] = {}
    for t in tokens:
        s = stem(t)
        feats[s] = feats.get(s, 0.0) + 1.0
    if tokens:
        feats["^" + stem(tokens[-1])] = 1.0
    return feats


def char_features(tokens: Sequence[str], n: int = 3) -> dict[str, float]:
    """Character n-grams of each word padded with spaces (" nu", "nur", ..., "se ")."""
    feats: dict[str, float] = {}
    for t in tokens:
        w = f" {t} "
        for i in range(max(1, len(w) - n + 1)):
            g = w[i:i + n]
            feats[g] = feats.get(g, 0.0) + 1.0
    return feats


def text_tokens(text: str) -> list[str]:
    """Stemmed content words of free text (descriptions, tasks, a context)."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges [s, s + c) for each start and count, as one index array."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    return offs + np.arange(total)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest positive scores (unordered). A threshold estimated on every
    16th score first narrows the array: much faster than one argpartition of all of it."""
    n = len(scores)
    if n > 16 * k:
        sample = scores[::16]
        m = max(1, k // 16)
        t = np.partition(sample, len(sample) - m)[len(sample) - m]
        idx = np.flatnonzero(scores >= t) if t > 0 else np.flatnonzero(scores > 0)
        if len(idx) < k:
            idx = np.flatnonzero(scores > 0)
    else:
        idx = np.flatnonzero(scores > 0)
    if len(idx) > k:
        idx = idx[np.argpartition(-scores[idx], k - 1)[:k]]
    return idx


def pack_strings(items: Sequence[str]) -> np.ndarray:
    """Strings as one uint8 array (UTF-8, NUL-separated): storable without pickle."""
    return np.frombuffer("\0".join(items).encode("utf-8"), dtype=np.uint8)


def unpack_strings(packed: np.ndarray) -> list[str]:
    return packed.tobytes().decode("utf-8").split("\0") if len(packed) else []


class Space:
    """A TF-IDF space: sublinear tf * smooth idf, rows L2-normalised; cosine queries.

    `prune_df`: `query_pool` picks its rows by the features found in at most that many rows
    (cheap), then adds the commoner features' share for the picked rows only.
    """

    n: int
    fid: dict[str, int]
    idf: np.ndarray
    df: np.ndarray
    rows: np.ndarray
    vals: np.ndarray
    indptr: np.ndarray
    heavy_col: np.ndarray
    heavy: np.ndarray

    def __init__(self, rows: Iterable[dict[str, float]], boost: dict[str, float] | None = None,
                 prune_df: int | None = None):
        fid: dict[str, int] = {}
        row_ix = array("i")
        feat_ix = array("i")
        tfs = array("f")
        n = 0
        for i, r in enumerate(rows):
            n = i + 1
            for f, tf in r.items():
                j = fid.get(f)
                if j is None:
                    j = fid[f] = len(fid)
                row_ix.append(i)
                feat_ix.append(j)
                tfs.append(tf)
        feats = np.frombuffer(feat_ix, dtype=np.int32).copy()
        rix = np.frombuffer(row_ix, dtype=np.int32).copy()
        del row_ix, feat_ix
        df = np.bincount(feats, minlength=len(fid))
        idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        if boost:
            for f, j in fid.items():
                b = boost.get(f[:1])
                if b is not None:
                    idf[j] *= b
        val = (1.0 + np.log(np.frombuffer(tfs, dtype=np.float32).astype(np.float64))) * idf[feats]
        del tfs
        norm = np.sqrt(np.bincount(rix, weights=val * val, minlength=n))
        val = (val / np.where(norm > 0, norm, 1.0)[rix]).astype(np.float32)
        order = np.argsort(feats, kind="stable")
        self._finish(n, fid, idf, df, rix[order], val[order], prune_df)

    def _finish(self, n: int, fid: dict[str, int], idf: np.ndarray, df: np.ndarray,
                rows: np.ndarray, vals: np.ndarray, prune_df: int | None) -> None:
        self.n = n
        self.fid = fid
        self.idf = idf
        self.df = df
        self.rows = rows
        self.vals = vals
        self.indptr = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
        # Features in more than prune_df rows: kept as a dense (rows x features) matrix too,
        # so that a few rows are scored on them without scanning long postings. Row-major,
        # so the picked rows are contiguous; float32, since numpy has no fast float16 matmul.
        self.heavy_col = np.full(len(fid), -1, dtype=np.int32)
        self.heavy = np.zeros((0, 0), dtype=np.float32)
        self.prune_df = prune_df
        if prune_df is not None:
            common = np.flatnonzero(df > prune_df)
            self.heavy_col[common] = np.arange(len(common))
            self.heavy = np.zeros((n, len(common)), dtype=np.float32)
            for c, j in enumerate(common.tolist()):
                lo, hi = self.indptr[j], self.indptr[j + 1]
                self.heavy[self.rows[lo:hi], c] = self.vals[lo:hi]

    def state(self) -> dict[str, np.ndarray]:
        """The arrays that rebuild this space with `from_state` (for a precomputed index).
        Rows are stored as differences: within a feature's postings they ascend, so the
        differences are small and compress well."""
        return {"n": np.array([self.n, -1 if self.prune_df is None else self.prune_df]),
                "features": pack_strings(list(self.fid)), "idf": self.idf,
                "df": self.df.astype(np.int32),
                "rows": np.diff(self.rows, prepend=0).astype(np.int32), "vals": self.vals}

    @classmethod
    def from_state(cls, st: dict[str, np.ndarray]) -> Space:
        self = cls.__new__(cls)
        n, prune = (int(v) for v in st["n"])
        fid = {f: i for i, f in enumerate(unpack_strings(st["features"]))}
        self._finish(n, fid, st["idf"], st["df"].astype(np.int64),
                     np.cumsum(st["rows"], dtype=np.int64).astype(np.int32), st["vals"],
                     None if prune < 0 else prune)
        return self

    def _query_weights(self, feats: dict[str, float]) -> tuple[list[int], list[float]]:
        ids, ws = [], []
        for f, tf in feats.items():
            j = self.fid.get(f)
            if j is not None:
                ids.append(j)
                ws.append((1.0 + math.log(tf)) * self.idf[j])
        norm = math.sqrt(sum(w * w for w in ws)) or 1.0
        return ids, [w / norm for w in ws]

    def query(self, feats: dict[str, float]) -> np.ndarray | None:
        """Cosine similarity of the query with every row (None if no feature is known)."""
        ids, ws = self._query_weights(feats)
        if not ids:
            return None
        ip = self.indptr
        idx = [self.rows[ip[j]:ip[j + 1]] for j in ids]
        val = [self.vals[ip[j]:ip[j + 1]] * w for j, w in zip(ids, ws, strict=True)]
        return np.bincount(np.concatenate(idx), weights=np.concatenate(val), minlength=self.n)

    def query_pool(self, feats: dict[str, float], k: int,
                   extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """The top k rows for a query, by the score over its rarer features plus `extra` (a
        dense per-row score, such as another space's cosine), and their exact cosine here."""
        ids, ws = self._query_weights(feats)
        if not ids and extra is None:
            return None
        ip = self.indptr
        light = [(j, w) for j, w in zip(ids, ws, strict=True) if self.heavy_col[j] < 0]
        heavy = [(int(self.heavy_col[j]), w) for j, w in zip(ids, ws, strict=True)
                 if self.heavy_col[j] >= 0]
        if light:
            idx = np.concatenate([self.rows[ip[j]:ip[j + 1]] for j, _ in light])
            val = np.concatenate([self.vals[ip[j]:ip[j + 1]] * w for j, w in light])
            part = np.bincount(idx, weights=val, minlength=self.n)
            sel = part if extra is None else part + extra
        elif extra is not None:
            part = None
            sel = extra
        else:  # only very common features: score them all
            return self._pool_dense(ids, ws, k)
        top = top_k(sel, k)
        exact = part[top] if part is not None else np.zeros(len(top))
        if heavy and len(top):
            cols = [c for c, _ in heavy]
            exact = exact + self.heavy[top][:, cols] @ np.array([w for _, w in heavy])
        return top, exact

    def _pool_dense(self, ids: list[int], ws: list[float],
                    k: int) -> tuple[np.ndarray, np.ndarray] | None:
        ip = self.indptr
        idx = np.concatenate([self.rows[ip[j]:ip[j + 1]] for j in ids])
        val = np.concatenate([self.vals[ip[j]:ip[j + 1]] * w for j, w in zip(ids, ws,
                                                                                  strict=True)])
        full = np.bincount(idx, weights=val, minlength=self.n)
        top = top_k(full, k)
        return top, full[top]


class NaiveBayes:
    """Multinomial naive Bayes over classes, from per-class feature counts (add-alpha)."""

    n: int
    fid: dict[str, int]
    base: np.ndarray
    classes: np.ndarray
    counts: np.ndarray
    logs: np.ndarray
    indptr: np.ndarray

    def __init__(self, counts: Sequence[dict[str, float]], alpha: float = 0.1):
        n = len(counts)
        fid: dict[str, int] = {}
        cls_ix: list[int] = []
        feat_ix: list[int] = []
        vals: list[float] = []
        for o, r in enumerate(counts):
            for f, c in r.items():
                j = fid.setdefault(f, len(fid))
                cls_ix.append(o)
                feat_ix.append(j)
                vals.append(c)
        feats = np.asarray(feat_ix, dtype=np.int64)
        classes = np.asarray(cls_ix, dtype=np.int32)
        cnt = np.asarray(vals, dtype=np.float64)
        totals = np.bincount(classes, weights=cnt, minlength=n)
        self.base = np.log(alpha) - np.log(totals + alpha * len(fid))
        order = np.argsort(feats, kind="stable")
        self.classes = classes[order]
        self.counts = cnt[order]
        self.logs = np.log((self.counts + alpha) / alpha)
        self.indptr = np.concatenate(([0], np.cumsum(np.bincount(feats, minlength=len(fid)))))
        self.fid = fid
        self.n = n
        self.alpha = alpha

    def state(self) -> dict[str, np.ndarray]:
        """The arrays that rebuild this model with `from_state`."""
        return {"n": np.array([self.n]), "alpha": np.array([self.alpha]),
                "features": pack_strings(list(self.fid)), "base": self.base,
                "classes": self.classes, "counts": self.counts, "indptr": self.indptr}

    @classmethod
    def from_state(cls, st: dict[str, np.ndarray]) -> NaiveBayes:
        self = cls.__new__(cls)
        self.n = int(st["n"][0])
        self.alpha = float(st["alpha"][0])
        self.fid = {f: i for i, f in enumerate(unpack_strings(st["features"]))}
        self.base = st["base"]
        self.classes = st["classes"]
        self.counts = st["counts"]
        self.logs = np.log((self.counts + self.alpha) / self.alpha)
        self.indptr = st["indptr"]
        return self

    def presence(self, feature: str) -> tuple[np.ndarray, np.ndarray]:
        """The classes having a feature, and its counts there."""
        j = self.fid.get(feature)
        if j is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        lo, hi = self.indptr[j], self.indptr[j + 1]
        return self.classes[lo:hi], self.counts[lo:hi]

    def posterior(self, feats: dict[str, float]) -> np.ndarray | None:
        """P(class | features) with a uniform prior (None if no feature is known)."""
        ids = [(self.fid[f], c) for f, c in feats.items() if f in self.fid]
        if not ids:
            return None
        ip = self.indptr
        logp = self.base * sum(c for _, c in ids)
        idx = np.concatenate([self.classes[ip[j]:ip[j + 1]] for j, _ in ids])
        val = np.concatenate([self.logs[ip[j]:ip[j + 1]] * c for j, c in ids])
        logp = logp + np.bincount(idx, weights=val, minlength=self.n)
        post = np.exp(logp - logp.max())
        return post / post.sum()
