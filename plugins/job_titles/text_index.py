"""Small sparse text indexes for the title resolver: TF-IDF spaces and naive Bayes counts.

Pure numpy. A space stores its rows as postings (feature -> rows, weights) so that one sparse
query vector is scored against every row with a single `np.bincount`, and optionally row-major
too, so that a few chosen rows can be scored exactly.
"""

from __future__ import annotations

import functools
import math
import re
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np
from scipy import sparse

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
    if n == 3 and len(tokens) == 1:
        return dict(_word_grams(tokens[0]))
    feats: dict[str, float] = {}
    for t in tokens:
        for g, c in (_word_grams(t) if n == 3 else _grams(t, n)):
            feats[g] = feats.get(g, 0.0) + c
    return feats


def _grams(word: str, n: int) -> tuple[tuple[str, float], ...]:
    feats: dict[str, float] = {}
    w = f" {word} "
    for i in range(max(1, len(w) - n + 1)):
        g = w[i:i + n]
        feats[g] = feats.get(g, 0.0) + 1.0
    return tuple(feats.items())


@functools.lru_cache(maxsize=65536)
def _word_grams(word: str) -> tuple[tuple[str, float], ...]:
    """A word's 3-grams, remembered: bulk input repeats its words far more than its titles."""
    return _grams(word, 3)


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


def top_k_sparse(m: sparse.csr_matrix,
                 k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k largest positive entries of each row of a sparse (queries x rows) matrix, as
    (query, row, value) arrays grouped by query, each query's in entry order. Ties at the
    k-th value go to the earlier entries of the row, whose order depends on that query alone
    (scipy builds each row of a product from that row of the operands), so a query's answer
    never depends on the other queries of its batch. Each long row's k-th largest value comes
    from one `np.partition` of that row (a few microseconds for thousands of entries), and
    the row's entries at or above it are picked there, while the row is in cache: a pass over
    the whole matrix (a row number per entry) cost as much as the partitions. A row with
    ties at its k-th value (rare) picks them in entry order."""
    data, cols = m.data, m.indices
    bounds = m.indptr.tolist()
    picks: list[np.ndarray] = []
    sizes: list[int] = []
    for q in range(m.shape[0]):
        lo, hi = bounds[q], bounds[q + 1]
        seg = data[lo:hi]
        n = hi - lo
        t = np.partition(seg, n - k)[n - k] if n > k else 0.0
        if t > 0:
            pick = np.flatnonzero(seg >= t)
            if len(pick) > k:  # ties at the k-th value: all above it, then equal ones
                above = np.flatnonzero(seg > t)
                tied = np.flatnonzero(seg == t)[:k - len(above)]
                pick = np.sort(np.concatenate([above, tied]))
        else:  # fewer than k positive entries: all of them
            pick = np.flatnonzero(seg > 0)
        picks.append(pick + lo)
        sizes.append(len(pick))
    at = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    rows = np.repeat(np.arange(m.shape[0]), sizes)
    return rows, cols[at], data[at]


@dataclass
class QueryBatch:
    """Many sparse queries in one space, as parallel arrays: query number, feature id,
    weight (for a TF-IDF space, the L2-normalised query weight)."""

    n: int
    row: np.ndarray
    feat: np.ndarray
    w: np.ndarray


def postings_product(batch: QueryBatch, indptr: np.ndarray, rows: np.ndarray,
                     vals: np.ndarray, n_rows: int) -> np.ndarray:
    """(queries x rows) = the batch's sparse query matrix times the postings (a features x
    rows CSR matrix: `indptr`, `rows`, `vals`), dense: one gather and one bincount for the
    whole batch instead of a few numpy calls per query and feature."""
    starts = indptr[batch.feat]
    counts = indptr[batch.feat + 1] - starts
    pos = _ranges(starts, counts)
    flat = np.repeat(batch.row * n_rows, counts) + rows[pos]
    weights = vals[pos] * np.repeat(batch.w, counts)
    out = np.bincount(flat, weights=weights, minlength=batch.n * n_rows)
    return out.astype(np.float64, copy=False).reshape(batch.n, n_rows)  # int64 when empty


def feature_ids(fid: dict[str, int], names: Sequence[str]) -> np.ndarray:
    """Each name's id in a vocabulary, -1 when unknown: one C-level `map`, no Python loop."""
    return np.fromiter(map(fid.get, names, repeat(-1)), dtype=np.int64, count=len(names))


def known_features(fid: dict[str, int], queries: Sequence[dict[str, float]]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query number, feature id, value) of each query's features that `fid` knows, in the
    queries' order: the ids looked up by one C-level `map` rather than a Python loop."""
    names = [f for feats in queries for f in feats]
    ids = feature_ids(fid, names)
    vals = np.fromiter(chain.from_iterable(feats.values() for feats in queries),
                       dtype=np.float64, count=len(names))
    row = np.repeat(np.arange(len(queries), dtype=np.int64), [len(f) for f in queries])
    known = ids >= 0
    return row[known], ids[known], vals[known]


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
        self._csr: sparse.csr_matrix | None = None
        self._by_row: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
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
        self.heavy = np.zeros((0, n), dtype=np.float32)
        self.prune_df = prune_df
        if prune_df is not None:
            common = np.flatnonzero(df > prune_df)
            self.heavy_col[common] = np.arange(len(common))
            self.heavy = np.zeros((len(common), n), dtype=np.float32)
            pos = _ranges(self.indptr[common], df[common])  # the common features' postings
            self.heavy[np.repeat(np.arange(len(common)), df[common]), self.rows[pos]] = \
                self.vals[pos]

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
        features = unpack_strings(st["features"])
        fid = dict(zip(features, range(len(features)), strict=True))
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

    def batch(self, queries: Sequence[dict[str, float]]) -> QueryBatch:
        """The normalised weights of many queries (as `_query_weights`), for `scores`."""
        row, feat, tfs = known_features(self.fid, queries)
        w = (1.0 + np.log(tfs)) * self.idf[feat]
        norm = np.sqrt(np.bincount(row, weights=w * w, minlength=len(queries)))
        return QueryBatch(len(queries), row, feat, w / np.where(norm > 0, norm, 1.0)[row])

    def scores(self, batch: QueryBatch) -> np.ndarray:
        """Cosine similarity of each query of a batch with every row: (queries x rows)."""
        return postings_product(batch, self.indptr, self.rows, self.vals, self.n)

    def csr(self) -> sparse.csr_matrix:
        """The postings as a (features x rows) CSR matrix (shares the arrays)."""
        if self._csr is None:
            # float64 like the query weights: scipy would otherwise convert every value of
            # this matrix to float64 on each product (milliseconds for a single title).
            self._csr = sparse.csr_matrix(
                (self.vals.astype(np.float64), self.rows, self.indptr.astype(np.int32)),
                shape=(len(self.fid), self.n))
        return self._csr

    def by_row(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The postings row-major: (row pointer, feature ids, values), built on first use."""
        if self._by_row is None:
            order = np.argsort(self.rows, kind="stable")  # features ascending within a row
            feat = np.repeat(np.arange(len(self.fid), dtype=np.int64), np.diff(self.indptr))
            ptr = np.concatenate(([0], np.cumsum(np.bincount(self.rows, minlength=self.n))))
            self._by_row = (ptr.astype(np.int64), feat[order], self.vals[order])
        return self._by_row

    def pair_scores(self, batch: QueryBatch, qs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The cosine of query qs[i] with row rows[i], for each i, where a whole product
        would be wasted: each row's few features (the postings, row-major) are looked up
        in the batch's (query, feature) weights, a small table that stays in cache;
        searching the long postings instead cost five times as much."""
        ptr, feat, vals = self.by_row()
        out = np.zeros(len(qs))
        if not len(batch.row) or not len(qs):
            return out
        # the batch's (query, feature) weights as a small dense (queries x batch features)
        # table, reached through a feature -> batch feature map: two gathers per posting
        # instead of a binary search
        uf, inv = np.unique(batch.feat, return_inverse=True)
        n_u = len(uf)
        local = np.full(len(self.fid), -1, dtype=np.int64)
        local[uf] = np.arange(n_u)
        table = np.zeros(batch.n * n_u)
        table[batch.row * n_u + inv] = batch.w
        start = ptr[rows]
        count = ptr[rows + 1] - start
        ent = _ranges(start, count)  # the postings of each pair's row
        lf = local[feat[ent]]
        hit = np.flatnonzero(lf >= 0)
        rep = np.repeat(np.arange(len(qs)), count)[hit]
        w = table[qs[rep] * n_u + lf[hit]]
        return np.bincount(rep, weights=vals[ent[hit]] * w,
                           minlength=len(qs)).astype(np.float64, copy=False)

    def sparse_scores(self, batch: QueryBatch) -> sparse.csr_matrix:
        """`scores` as a sparse matrix with sorted indices: for a space of many rows, of which
        each query touches a few thousand. scipy multiplies row by row with a dense
        accumulator of one row, where numpy's bincount over a dense (queries x rows) matrix
        would scatter into tens of megabytes."""
        q = sparse.csr_matrix((batch.w, (batch.row, batch.feat)),
                              shape=(batch.n, len(self.fid)))
        out = (q @ self.csr()).tocsr()
        out.sort_indices()
        return out

    def query(self, feats: dict[str, float]) -> np.ndarray | None:
        """Cosine similarity of the query with every row (None if no feature is known)."""
        ids, ws = self._query_weights(feats)
        if not ids:
            return None
        ip = self.indptr
        idx = [self.rows[ip[j]:ip[j + 1]] for j in ids]
        val = [self.vals[ip[j]:ip[j + 1]] * w for j, w in zip(ids, ws, strict=True)]
        return np.bincount(np.concatenate(idx), weights=np.concatenate(val), minlength=self.n)


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
        self.share = self._shares()
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
        self.share = self._shares()
        return self

    def _shares(self) -> np.ndarray:
        """Each posting's count as a share of its feature's total count."""
        sizes = np.diff(self.indptr)
        totals = np.add.reduceat(self.counts, self.indptr[:-1][sizes > 0])
        return self.counts / np.repeat(totals, sizes[sizes > 0])

    def presence(self, feature: str) -> tuple[np.ndarray, np.ndarray]:
        """The classes having a feature, and its counts there."""
        j = self.fid.get(feature)
        if j is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        lo, hi = self.indptr[j], self.indptr[j + 1]
        return self.classes[lo:hi], self.counts[lo:hi]

    def batch(self, queries: Sequence[dict[str, float]]) -> QueryBatch:
        """Many queries' known features with their counts, for `posteriors`."""
        return QueryBatch(len(queries), *known_features(self.fid, queries))

    def posteriors(self, batch: QueryBatch) -> np.ndarray:
        """`posterior` of each query of a batch: (queries x classes); zeros for a query with
        no known feature."""
        total = np.bincount(batch.row, weights=batch.w, minlength=batch.n).astype(np.float64)
        logp = postings_product(batch, self.indptr, self.classes, self.logs, self.n)
        logp += total[:, None] * self.base[None, :]
        logp -= logp.max(axis=1, keepdims=True)
        post = np.exp(logp)
        post /= post.sum(axis=1, keepdims=True)
        post[np.bincount(batch.row, minlength=batch.n) == 0] = 0.0
        return post

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
