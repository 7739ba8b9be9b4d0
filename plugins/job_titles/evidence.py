"""The resolver's candidate generation and ranking features, for many queries at once.

Resolving one title is a few dozen numpy calls on small arrays: per title, their fixed cost
(microseconds each) outweighs the arithmetic. Here a batch of queries shares each call: the
sparse query vectors of the batch are multiplied with the index's postings in one gather and
one `np.bincount` (text_index.postings_product), the per-occupation evidence is kept as
(queries x occupations) arrays, and the candidates of all queries are one feature matrix.

A query's answer never depends on the other queries of its batch: every sum runs over that
query's own entries in the same order, and ties are broken by index (text_index.top_k_sparse).
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
    _ranges,
    char_features,
    feature_ids,
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
    heavy = _heavy_share(chars.heavy, hq, hc, hw, r, a, b)
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
    # the aliases spelled exactly as the query: their pairs' weights
    ex = feature_ids(res.exact, [" ".join(t) for t in toks])
    exq = np.flatnonzero(ex >= 0)
    ex_n = res.ao_ptr[ex[exq] + 1] - res.ao_ptr[ex[exq]]
    ex_pair = _ranges(res.ao_ptr[ex[exq]], ex_n)
    exact = np.zeros(size)
    exact[np.repeat(exq * n_occ, ex_n) + res.ao_occ[ex_pair]] = res.ao_w[ex_pair]

    # 3. occupation-level similarities
    prof = res.profiles.scores(res.profiles.batch(wfs)).ravel()
    nb = res.nb.posteriors(res.nb.batch(wfs)).ravel()
    desc = res.descriptions.scores(
        res.descriptions.batch([dict.fromkeys(s, 1.0) for s in stems])).ravel()

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
        n_g, gflat = _group_slots(res, gi, b)
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
        _word_association(res, wfs, stems, cq, co))
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


def _heavy_share(heavy: np.ndarray, hq: np.ndarray, hc: np.ndarray, hw: np.ndarray,
                 r: np.ndarray, a: np.ndarray, b: int) -> np.ndarray:
    """The common n-grams' share of each pooled alias's score: for pool entry i (query r[i],
    alias a[i]), the sum of w * heavy[row, a[i]] over its query's common n-grams (entries
    of hq, with dense rows hc and weights hw), in their order.

    Per query, one (n-grams x pooled aliases) gather, weighted and summed down its columns:
    row after row, the order in which a bincount over all (n-gram, pooled alias) entries of
    the batch added them, so the sums are the same; but without those entry-sized index
    arrays, built by `np.repeat` (which holds the GIL) and scattered by the bincount."""
    out = np.zeros(len(a))
    ix = np.arange(b)
    p0, p1 = np.searchsorted(r, ix), np.searchsorted(r, ix, side="right")
    h0, h1 = np.searchsorted(hq, ix), np.searchsorted(hq, ix, side="right")
    flat = heavy.reshape(-1)  # a flat take: numpy's two-index gather costs three times as much
    rows = hc.astype(np.int64) * heavy.shape[1]
    weight = hw[:, None]
    for q in np.flatnonzero((h1 > h0) & (p1 > p0)).tolist():
        lo, hi, g0, g1 = int(p0[q]), int(p1[q]), int(h0[q]), int(h1[q])
        at = np.take(flat, rows[g0:g1, None] + a[None, lo:hi])
        out[lo:hi] = (at * weight[g0:g1]).sum(axis=0)
    return out


def _group_slots(res: TitleResolver, gi: int, b: int) -> tuple[int, np.ndarray]:
    """The number of groups of `res.groups[gi]`, and each (query, occupation) slot's
    (query, group) slot for a batch of b queries: the same for every full batch, so kept
    for that size (a few MB)."""
    cache = res.group_slots
    hit = cache.get((gi, b))
    if hit is None:
        g = res.groups[gi]
        n_g = int(g.max()) + 1
        hit = (n_g, (np.arange(b)[:, None] * n_g + g[None, :]).ravel())
        if b == BATCH:
            cache[(gi, b)] = hit
    return hit


def _top_k_columns(m: np.ndarray, k: int) -> np.ndarray:
    """`np.argsort(-m, axis=1, kind="stable")[:, :k]`: the k largest of each row, ties in
    column order. A partition finds them and only the k are sorted (a full sort of every
    row was a visible share of a bulk run); a row where the partition had to choose among
    equal values at the k-th place is sorted in full."""
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
                      stems: list[list[str]], cq: np.ndarray,
                      co: np.ndarray) -> list[np.ndarray]:
    """For each candidate (query cq, occupation co): how many of the query's aliases end in
    its head noun (and their share), and the word-level association of the query's words
    with the occupation's aliases and with its description and tasks.

    Only the candidates' values are used, so each (candidate, query word) pair looks its
    occupation up in a table of the batch's words' postings (`_postings_table`) rather
    than every posting being spread over all (query, occupation) slots. A candidate's sums
    run over its query's words in their order, as the spread's did: the same values."""
    nb, words, descriptions = res.nb, res.words, res.descriptions
    n_occ = len(res.codes)
    b = len(wfs)
    # the query words (not the head feature "^word"), flattened over the batch; the ids of
    # each word in three vocabularies are looked up by C-level `map`s, not a Python loop
    ws = [[f for f in wf if not f.startswith("^")] for wf in wfs]
    names = [f for w in ws for f in w]
    n_w = np.array([len(w) for w in ws], dtype=np.int64)
    wid = feature_ids(words.fid, names)
    idfs = np.where(wid >= 0, words.idf[wid], 0.0).astype(np.float64)
    # each query's idf total by Python's own `sum`, as before (3.12 compensates its sums)
    ends = np.cumsum(n_w)
    flat_idfs = idfs.tolist()
    total = np.array([sum(flat_idfs[e - n:e]) or 1.0
                      for e, n in zip(ends.tolist(), n_w.tolist(), strict=True)])
    qa = np.repeat(np.arange(b, dtype=np.int64), n_w)
    idf_share = idfs / total[qa]
    inv = 1.0 / n_w[qa]
    lasts = [st[-1] for st in stems]
    modifier = np.array([f != last for w, last in zip(ws, lasts, strict=True) for f in w],
                        dtype=bool)
    heads = feature_ids(nb.fid, ["^" + h for h in lasts])

    # (candidate, query word) pairs, each candidate's in its query's word order
    n_c = len(cq)
    cw = n_w[cq]
    cand = np.repeat(np.arange(n_c), cw)
    word = _ranges((ends - n_w)[cq], cw)
    occ = co[cand]
    # the words' and the head nouns' postings in the naive-Bayes counts, in one table
    at, hit = _postings_table(nb.indptr, nb.classes,
                              np.concatenate([feature_ids(nb.fid, names), heads]),
                              np.concatenate([word, len(names) + cq]),
                              np.concatenate([occ, co]), n_occ)
    n_p = len(word)
    h_at, h_hit = at[hit >= n_p], hit[hit >= n_p] - n_p
    at, hit = at[hit < n_p], hit[hit < n_p]
    c_hit, w_hit = cand[hit], word[hit]
    share = nb.share[at]
    coverage = np.bincount(c_hit, weights=inv[w_hit], minlength=n_c)
    idf_cov = np.bincount(c_hit, weights=idf_share[w_hit], minlength=n_c)
    word_assoc = np.bincount(c_hit, weights=share * inv[w_hit], minlength=n_c)
    mod_assoc = np.zeros(n_c)
    mod = modifier[w_hit]
    np.maximum.at(mod_assoc, c_hit[mod], share[mod])
    _, d_hit = _postings_table(descriptions.indptr, descriptions.rows,
                               feature_ids(descriptions.fid, names), word, occ, n_occ)
    desc_cov = np.bincount(cand[d_hit], weights=inv[word[d_hit]], minlength=n_c)
    head = np.zeros(n_c)
    head_assoc = np.zeros(n_c)
    head[h_hit] = nb.counts[h_at]
    head_assoc[h_hit] = nb.share[h_at]
    return [head, head_assoc, coverage, idf_cov, word_assoc, mod_assoc, desc_cov]


def _postings_table(indptr: np.ndarray, rows: np.ndarray, feat: np.ndarray,
                    entry: np.ndarray, occ: np.ndarray,
                    n_occ: int) -> tuple[np.ndarray, np.ndarray]:
    """For pairs (feature feat[entry[i]], occupation occ[i]): the posting positions of those
    found in a word index (features x occupations postings), and which pairs (i) they are;
    a feature of -1 (an unknown word) is never found. The batch's few distinct features'
    postings are spread into a small dense (features x occupations) table first."""
    uniq, local = np.unique(feat, return_inverse=True)  # -1, when present, first
    unknown = int(len(uniq) > 0 and uniq[0] < 0)
    uniq = uniq[unknown:]
    starts = indptr[uniq]
    counts = indptr[uniq + 1] - starts
    pos = _ranges(starts, counts)
    table = np.full((len(uniq) + unknown) * n_occ, -1, dtype=np.int64)  # the unknown row: -1
    table[np.repeat((np.arange(len(uniq)) + unknown) * n_occ, counts) + rows[pos]] = pos
    at = table[local[entry] * n_occ + occ]
    found = np.flatnonzero(at >= 0)
    return at[found], found
