"""A supervised title classifier for the resolver: indexed title -> O*NET occupation.

The resolver's other evidence is nearest-neighbour style (the aliases that look like the
query, and per-occupation profiles). This model is trained discriminatively on the index's
own match keys: a key's TF-IDF word and character 3-gram vector (the same features and
weights as the resolver's `words` and `chars` spaces, so a query's vector is already at
hand) goes through a low-rank embedding (features x DIM) into a softmax over the
occupations, fastText-style. It learns which words tell occupations apart, where the
neighbours only count overlap.

Trained with numpy (minibatch Adam, a fixed seed: the same index gives the same model) when
the index is built, from the index's rows only, and stored in the precomputed index.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
from collections.abc import Iterator

import numpy as np
from scipy import sparse

DIM = 64
EPOCHS = 8
BATCH = 256
LR = 0.01
SEED = 0


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """OpenBLAS on one thread (for this thread) while training: its products here are
    just above its threading threshold, where spin-waiting threads cost several times the
    CPU time.
    A no-op when numpy's OpenBLAS is not found."""
    fn = None
    try:
        libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                      "*openblas*"))
        if libs:
            fn = ctypes.CDLL(libs[0]).openblas_set_num_threads_local
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        fn = None
    old = fn(1) if fn is not None else None
    try:
        yield
    finally:
        if fn is not None and old is not None:
            fn(old)


def train(x: sparse.csr_matrix, ptr: np.ndarray, occ: np.ndarray, w: np.ndarray,
          n_classes: int, dim: int = DIM, epochs: int = EPOCHS, batch: int = BATCH,
          lr: float = LR, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E, U, bias): x is (keys x features); key k's classes are occ[ptr[k]:ptr[k+1]] with
    weights w (its soft target, normalised per key)."""
    with _one_blas_thread():
        return _train(x, ptr, occ, w, n_classes, dim, epochs, batch, lr, seed)


def _train(x: sparse.csr_matrix, ptr: np.ndarray, occ: np.ndarray, w: np.ndarray,
           n_classes: int, dim: int, epochs: int, batch: int, lr: float,
           seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, f = x.shape
    rng = np.random.default_rng(seed)
    E = (rng.standard_normal((f, dim)) * 0.1).astype(np.float32)
    U = np.zeros((dim, n_classes), dtype=np.float32)
    bias = np.zeros(n_classes, dtype=np.float32)
    mE, vE = np.zeros_like(E), np.zeros_like(E)
    mU, vU = np.zeros_like(U), np.zeros_like(U)
    mb, vb = np.zeros_like(bias), np.zeros_like(bias)
    ptr = np.asarray(ptr, dtype=np.int64)
    counts = np.diff(ptr)
    key_of = np.repeat(np.arange(n), counts)
    tw = (w / np.bincount(key_of, weights=w, minlength=n)[key_of]).astype(np.float32)
    x = sparse.csr_matrix(x, dtype=np.float32)
    b1, b2, eps = 0.9, 0.999, 1e-8
    step = 0
    for _ in range(epochs):
        perm = rng.permutation(n)
        for lo in range(0, n, batch):
            idx = perm[lo:lo + batch]
            nb = len(idx)
            xb = x[idx]
            h = xb @ E
            logits = h @ U
            logits += bias
            logits -= logits.max(axis=1, keepdims=True)
            g = np.exp(logits)
            g /= g.sum(axis=1, keepdims=True)
            c = counts[idx]
            pos = np.repeat(ptr[idx] - np.concatenate(([0], np.cumsum(c)[:-1])), c) + np.arange(
                int(c.sum()))
            g[np.repeat(np.arange(nb), c), occ[pos]] -= tw[pos]
            g /= nb
            gU = h.T @ g
            gb = g.sum(axis=0)
            gh = g @ U.T
            xt = xb.T.tocsr()
            rows = np.flatnonzero(np.diff(xt.indptr))
            gE = xt[rows] @ gh
            step += 1
            c1 = 1 - b1 ** step
            c2 = 1 - b2 ** step
            for p_, m_, v_, g_ in ((U, mU, vU, gU), (bias, mb, vb, gb)):
                m_ *= b1
                m_ += (1 - b1) * g_
                v_ *= b2
                v_ += (1 - b2) * g_ * g_
                p_ -= lr * (m_ / c1) / (np.sqrt(v_ / c2) + eps)
            # lazy Adam on the embedding: only the rows of this batch's features
            m_r = mE[rows] * b1 + (1 - b1) * gE
            v_r = vE[rows] * b2 + (1 - b2) * gE * gE
            mE[rows] = m_r
            vE[rows] = v_r
            E[rows] -= lr * (m_r / c1) / (np.sqrt(v_r / c2) + eps)
    return E, U, bias


ROWS = 4  # queries per product with U: 4 x DIM x 1,016 stays on one OpenBLAS thread


def log_probs(q: sparse.csr_matrix, E: np.ndarray, U: np.ndarray,
              bias: np.ndarray) -> np.ndarray:
    """log P(class | query) for each row of a (queries x features) matrix (E float32, U
    and bias float64). The product with U runs in blocks of exactly ROWS rows (the last one
    padded), so a query's numbers are the same alone as in a batch, and below OpenBLAS's
    threading threshold."""
    n = q.shape[0]
    h = np.zeros((-(-n // ROWS) * ROWS, E.shape[1]))
    h[:n] = q @ E
    logits = np.empty((len(h), U.shape[1]))
    for lo in range(0, len(h), ROWS):
        np.matmul(h[lo:lo + ROWS], U, out=logits[lo:lo + ROWS])
    logits = logits[:n]
    logits += bias
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
