"""The resolver's candidate generation and ranking features, for many queries at once.

Resolving one title is a few dozen numpy calls on small arrays: per title, their fixed cost
(microseconds each) outweighs the arithmetic. Here a batch of queries shares each call: the
sparse query vectors of the batch are multiplied with the index's postings in one gather and
one `np.bincount` (text_index.postings_product), the per-occupation evidence is kept as
(queries x occupations) arrays, and the candidates of all queries are one feature matrix.

A query's answer never depends on the other queries of its batch: every sum runs over that
query's own entries in the same order, and ties are broken by index (text_index.top_k_rows).
`TitleResolver.evidence` (one title) is a batch of one, so single and bulk resolution agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from . import classifier
from .text_index import (
    QueryBatch,
    _ranges,
    char_features,
    stem,
    top_k_sparse,
    word_features,
)

if TYPE_CHECKING:
    from .resolver import TitleResolver

BATCH = 64  # queries per batch: the (queries x aliases) score matrices stay ~30 MB
POOL = 250  # aliases scored exactly per query
CANDIDATES = 40  # occupations the ranker scores per query
CLF_BASE = 1.0  # weight of the classifier's probability in the candidates' preliminary score


@dataclass
class Evidence:
    """The candidates of one query: occupation indices, their FEATURES rows, the best
    matching alias pair of each (-1: none), and the pooled aliases' character similarity
    (for suggestions)."""

    cand: np.ndarray
    X: np.ndarray
    best_pair: np.ndarray
    pool: np.ndarray
    pool_char: np.ndarray


def gather(res: TitleResolver, queries: Sequence[Sequence[str]],
           k: int = CANDIDATES) -> list[Evidence | None]:
    """The evidence of each query (match tokens); None for an empty query or one that shares
    no character n-gram or word with any indexed title."""
    out: list[Evidence | None] = [None] * len(queries)
    live = [i for i, q in enumerate(queries) if q]
    for lo in range(0, len(live), BATCH):
        part = live[lo:lo + BATCH]
        for i, ev in zip(part, _gather(res, [tuple(queries[i]) for i in part], k),
                         strict=True):
            out[i] = ev
    return out


def _gather(res: TitleResolver, toks: list[tuple[str, ...]], k: int) -> list[Evidence | None]:
    b = len(toks)
    n_occ = len(res.codes)
    wfs = [word_features(t) for t in toks]
    stems = [[stem(w) for w in t] for t in toks]

    # 1. the alias pool: top aliases by rare char n-grams plus the word cosine, scored in one
    # sparse product (the rare n-grams' and the words' postings stacked: pool_matrix); the
    # common n-grams (chars.heavy, dense) are added for the pooled aliases only.
    chars, words = res.chars, res.words
    wb = words.batch(wfs)
    cb = chars.batch([char_features(t) for t in toks])
    hcol = chars.heavy_col[cb.feat]
    hv = hcol >= 0
    n_feat = len(chars.fid) + len(words.fid)
    q_row = np.concatenate([cb.row[~hv], wb.row])
    q_feat = np.concatenate([cb.feat[~hv], wb.feat + len(chars.fid)])
    order = np.argsort(q_row * n_feat + q_feat)  # CSR order, built directly: no COO pass
    q = sparse.csr_matrix(
        (np.concatenate([cb.w[~hv], wb.w])[order], q_feat[order].astype(np.int32),
         np.concatenate(([0], np.cumsum(np.bincount(q_row, minlength=b)))).astype(np.int32)),
        shape=(b, n_feat))
    sel = q @ res.pool_matrix()
    r, a, v = top_k_sparse(sel, POOL)
    hq, hc, hw = cb.row[hv], hcol[hv], cb.w[hv]
    # A query whose n-grams are all very common (and none of its words known) has no sparse
    # score: score all aliases on those n-grams (rare).
    dense = np.flatnonzero((np.diff(sel.indptr) == 0)
                           & (np.bincount(hq, minlength=b) > 0)).tolist()
    if dense:
        parts = [(r, a, v)]
        for qi in dense:
            mine = hq == qi
            full = hw[mine] @ chars.heavy[hc[mine]]
            top = np.flatnonzero(full > 0)
            top = top[np.argsort(-full[top], kind="stable")][:POOL]
            parts.append((np.full(len(top), qi), top, np.zeros(len(top))))
        r, a, v = (np.concatenate([p[i] for p in parts]) for i in range(3))
        order = np.argsort(r, kind="stable")
        r, a, v = r[order], a[order], v[order]
    pw = words.pair_scores(wb, r, a)
    # the common n-grams' share: for each (query, common n-gram), that query's pooled aliases
    p0 = np.searchsorted(r, np.arange(b))
    p1 = np.searchsorted(r, np.arange(b), side="right")
    n_e = (p1 - p0)[hq]
    idx = _ranges(p0[hq], n_e)
    # a flat take: numpy's two-index gather costs three times as much
    at = np.repeat(hc.astype(np.int64) * chars.n, n_e) + a[idx]
    heavy_at = np.take(chars.heavy.reshape(-1), at)
    heavy = np.bincount(idx, weights=heavy_at * np.repeat(hw, n_e), minlength=len(a))
    pc = np.maximum(v - pw + heavy, 0.0)  # v - pw: a rounding error below 0 when only words match
    del sel
    # the classifier (classifier.py): the same word and char vectors, all features
    nw = len(words.fid)
    order = np.argsort(np.concatenate([wb.row, cb.row]), kind="stable")
    clf_q = sparse.csr_matrix(
        (np.concatenate([wb.w, cb.w])[order].astype(np.float32),
         np.concatenate([wb.feat, cb.feat + nw])[order].astype(np.int32),
         np.concatenate(([0], np.cumsum(np.bincount(wb.row, minlength=b)
                                        + np.bincount(cb.row, minlength=b)))).astype(np.int32)),
        shape=(b, nw + len(chars.fid)))
    clf_log = classifier.log_probs(clf_q, res.clf_E, res.clf_U, res.clf_b)
    clf = np.exp(clf_log).ravel()
    clf_log = clf_log.ravel()

    # 2. alias -> occupation pairs of the pools, as flat (query, occupation) slots
    counts = res.ao_ptr[a + 1] - res.ao_ptr[a]
    pair = _ranges(res.ao_ptr[a], counts)
    flat = np.repeat(r * n_occ, counts) + res.ao_occ[pair]
    w = res.ao_w[pair]
    sim = np.repeat(0.6 * pw + 0.4 * pc, counts) * w
    size = b * n_occ
    best = np.zeros(size)
    np.maximum.at(best, flat, sim)
    # the best pair of each slot: of its pairs with the best similarity, the last one
    top = np.flatnonzero(sim == best[flat])
    last = np.full(size, -1, dtype=np.int64)
    np.maximum.at(last, flat[top], top)
    best_pair = np.full(size, -1, dtype=np.int64)
    found = last >= 0
    best_pair[found] = pair[last[found]]
    bw = np.zeros(size)
    bc = np.zeros(size)
    np.maximum.at(bw, flat, np.repeat(pw, counts) * w)
    np.maximum.at(bc, flat, np.repeat(pc, counts) * w)
    qhead = np.array([res.head_ids.get(s[-1], -1) for s in stems])
    mask = np.repeat(res.alias_head[a] == qhead[r], counts)
    same = np.zeros(size)
    np.maximum.at(same, flat[mask], sim[mask])
    vote8 = np.bincount(flat, weights=sim ** 8, minlength=size)
    vote2 = np.bincount(flat, weights=sim ** 2, minlength=size)
    exact = np.zeros(size)
    for q, t in enumerate(toks):
        ex = res.exact.get(" ".join(t))
        if ex is not None:
            lo, hi = res.ao_ptr[ex], res.ao_ptr[ex + 1]
            exact[q * n_occ + res.ao_occ[lo:hi]] = res.ao_w[lo:hi]

    # 3. occupation-level similarities
    prof = res.profiles.scores(res.profiles.batch(wfs)).ravel()
    nb = res.nb.posteriors(res.nb.batch(wfs)).ravel()
    desc = res.descriptions.scores(
        res.descriptions.batch([dict.fromkeys(s, 1.0) for s in stems])).ravel()
    cov = _word_association(res, wfs, stems, b)

    # 4. the top-k occupations of each query and their features
    base = (best + 0.15 * np.minimum(vote8, 1.0) + 0.25 * prof + 0.4 * nb
            + 0.1 * desc + CLF_BASE * clf).reshape(b, n_occ)
    top = _top_k_columns(base, k)
    cq, rank = np.nonzero(np.take_along_axis(base, top, axis=1) > 0)
    co = top[cq, rank]
    cf = cq * n_occ + co
    bp = best_pair[cf]
    has = bp >= 0
    esco = np.zeros(len(cf))
    esco[has] = res.pair_esco[bp[has]]
    src_code = np.zeros(len(cf), dtype=np.int8)
    src_code[has] = res.pair_source[bp[has]]
    src = [(src_code == j + 1).astype(float) for j in range(5)]
    amb = np.zeros(len(cf))
    if has.any():
        al = res.pair_alias[bp[has]]
        amb[has] = np.log1p(res.ao_ptr[al + 1] - res.ao_ptr[al] - 1)
    group_votes = []
    clf_groups = []
    for gi, g in enumerate(res.groups):
        n_g = int(g.max()) + 1
        gflat = (np.arange(b)[:, None] * n_g + g[None, :]).ravel()
        gv = np.bincount(gflat, weights=vote2, minlength=b * n_g)
        group_votes.append(np.log1p(gv[cq * n_g + g[co]]))
        if gi != 1:  # 6-digit SOC and major group
            gp = np.bincount(gflat, weights=clf, minlength=b * n_g)
            clf_groups.append(gp[cq * n_g + g[co]])
    bc_ = best[cf]
    starts = np.searchsorted(cq, np.arange(b))
    ends = np.searchsorted(cq, np.arange(b), side="right")
    row_max = np.zeros(b)
    nonempty = ends > starts
    if nonempty.any():
        row_max[nonempty] = np.maximum.reduceat(bc_, starts[nonempty])
    n_al = res.n_aliases[co]
    head, head_assoc, coverage, idf_cov, word_assoc, mod_assoc, desc_cov = (
        c[cf] for c in cov)
    X = np.column_stack([
        bc_, bw[cf], bc[cf], exact[cf], np.minimum(vote8[cf], 1.0), np.log1p(vote2[cf]),
        prof[cf], nb[cf], np.maximum(np.log(nb[cf] + 1e-12), -25.0) / 25.0, desc[cf],
        coverage, np.log1p(head), head / np.maximum(n_al, 1.0), np.log1p(n_al),
        res.main_code[co], esco, amb, 1.0 / (1.0 + rank), idf_cov, head_assoc, word_assoc,
        mod_assoc, desc_cov, *group_votes, bc_ / np.maximum(row_max[cq], 1e-9), same[cf],
        *src, clf[cf], np.maximum(clf_log[cf], -20.0) / 20.0, *clf_groups,
    ])

    pool_starts = np.searchsorted(r, np.arange(b))
    pool_ends = np.searchsorted(r, np.arange(b), side="right")
    out: list[Evidence | None] = []
    for q in range(b):
        p0, p1 = pool_starts[q], pool_ends[q]
        if p0 == p1:
            out.append(None)
            continue
        s, e = starts[q], ends[q]
        out.append(Evidence(co[s:e], X[s:e], bp[s:e], a[p0:p1], pc[p0:p1]))
    return out


def _top_k_columns(m: np.ndarray, k: int) -> np.ndarray:
    """`np.argsort(-m, axis=1, kind="stable")[:, :k]`: the k largest of each row, ties in
    column order. A partition finds them and only the k are sorted (the full sort of every
    row cost 6% of a bulk run); a row where the partition had to choose among equal values at
    the k-th place is sorted in full."""
    k = min(k, m.shape[1])
    neg = -m
    part = np.argpartition(neg, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(neg, part, axis=1)
    kth = vals.max(axis=1, keepdims=True)
    exact = (neg == kth).sum(axis=1) == (vals == kth).sum(axis=1)
    order = np.lexsort((part, vals), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    if not exact.all():
        top[~exact] = np.argsort(neg[~exact], axis=1, kind="stable")[:, :k]
    return top


def _word_association(res: TitleResolver, wfs: list[dict[str, float]],
                      stems: list[list[str]], b: int) -> list[np.ndarray]:
    """Per (query, occupation) slot: how many of the query's aliases end in its head noun
    (and their share), and the word-level association of the query's words with each
    occupation's aliases and with its description and tasks."""
    n_occ = len(res.codes)
    size = b * n_occ
    nb, words, descriptions = res.nb, res.words, res.descriptions
    q_ix: list[int] = []
    nb_ix: list[int] = []
    desc_ix: list[int] = []
    inv_len: list[float] = []
    idf_share: list[float] = []
    modifier: list[bool] = []
    head_q: list[int] = []
    head_ix: list[int] = []
    for q, (wf, st) in enumerate(zip(wfs, stems, strict=True)):
        ws = [f for f in wf if not f.startswith("^")]
        idfs = [float(words.idf[words.fid[f]]) if f in words.fid else 0.0 for f in ws]
        total = sum(idfs) or 1.0
        for f, f_idf in zip(ws, idfs, strict=True):
            q_ix.append(q)
            nb_ix.append(nb.fid.get(f, -1))
            desc_ix.append(descriptions.fid.get(f, -1))
            inv_len.append(1.0 / len(ws))
            idf_share.append(f_idf / total)
            modifier.append(f != st[-1])
        j = nb.fid.get("^" + st[-1])
        if j is not None:
            head_q.append(q)
            head_ix.append(j)
    qa = np.asarray(q_ix, dtype=np.int64)
    inv = np.asarray(inv_len)

    def postings(ix: np.ndarray, indptr: np.ndarray,
                 rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        known = ix >= 0
        starts = indptr[ix[known]]
        counts = indptr[ix[known] + 1] - starts
        pos = _ranges(starts, counts)
        rep = np.repeat(np.flatnonzero(known), counts)  # which (query, word) entry
        return pos, rep, qa[rep] * n_occ + rows[pos]

    pos, rep, flat = postings(np.asarray(nb_ix, dtype=np.int64), nb.indptr, nb.classes)
    share = nb.share[pos]
    coverage = np.bincount(flat, weights=inv[rep], minlength=size)
    idf_cov = np.bincount(flat, weights=np.asarray(idf_share)[rep], minlength=size)
    word_assoc = np.bincount(flat, weights=share * inv[rep], minlength=size)
    mod_assoc = np.zeros(size)
    mod = np.asarray(modifier, dtype=bool)[rep]
    np.maximum.at(mod_assoc, flat[mod], share[mod])
    _, drep, dflat = postings(np.asarray(desc_ix, dtype=np.int64), descriptions.indptr,
                                 descriptions.rows)
    desc_cov = np.bincount(dflat, weights=inv[drep], minlength=size)
    head = np.zeros(size)
    head_assoc = np.zeros(size)
    hb = QueryBatch.of(b, ((q, [j], [1.0]) for q, j in zip(head_q, head_ix, strict=True)))
    hs = nb.indptr[hb.feat]
    hc = nb.indptr[hb.feat + 1] - hs
    hpos = _ranges(hs, hc)
    hflat = np.repeat(hb.row * n_occ, hc) + nb.classes[hpos]
    head[hflat] = nb.counts[hpos]
    head_assoc[hflat] = nb.share[hpos]
    return [head, head_assoc, coverage, idf_cov, word_assoc, mod_assoc, desc_cov]
