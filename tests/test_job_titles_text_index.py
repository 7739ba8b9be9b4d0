"""The resolver's small sparse helpers, against plain reference computations."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from tokenworks.plugins.job_titles.text_index import top_k_sparse


def _reference_top_k(m: sparse.csr_matrix, k: int) -> list[tuple[int, int, float]]:
    """Each row's k largest positive entries (ties to the earlier entries), in entry order."""
    out = []
    for q in range(m.shape[0]):
        lo, hi = m.indptr[q], m.indptr[q + 1]
        vals = m.data[lo:hi]
        positive = [i for i in np.argsort(-vals, kind="stable") if vals[i] > 0][:k]
        out += [(q, int(m.indices[lo + i]), float(vals[i])) for i in sorted(positive)]
    return out


def test_top_k_sparse_keeps_the_k_largest_with_ties_to_earlier_entries() -> None:
    rows = [
        [0.5, 0.2, 0.9, 0.2, 0.2, 0.1],  # ties at the k-th value: the first ones win
        [0.3, 0.0, -1.0],  # fewer than k positive entries: all of them, nothing else
        [],  # empty row
        [0.7, 0.7, 0.7, 0.7, 0.7],  # all tied
        [0.1, 0.4, 0.3, 0.8, 0.6, 0.2, 0.5],  # no ties
    ]
    data, cols, ptr = [], [], [0]
    for r in rows:
        data += r
        cols += list(range(10, 10 + len(r)))[::-1]  # entry order is not column order
        ptr.append(len(data))
    m = sparse.csr_matrix((np.array(data), np.array(cols), np.array(ptr)), shape=(5, 20))
    for k in (1, 3, 4, 6):
        q, c, v = top_k_sparse(m, k)
        assert list(zip(q.tolist(), c.tolist(), v.tolist(), strict=True)) == \
            _reference_top_k(m, k), k


def test_top_k_sparse_on_random_rows_with_many_ties() -> None:
    rng = np.random.default_rng(5)
    m = sparse.random(40, 300, density=0.2, format="csr", random_state=rng)
    m.data = np.round(m.data * 8) / 8 - 0.25  # few distinct values, some not positive
    for k in (5, 25, 60):
        q, c, v = top_k_sparse(m, k)
        assert list(zip(q.tolist(), c.tolist(), v.tolist(), strict=True)) == \
            _reference_top_k(m, k)
