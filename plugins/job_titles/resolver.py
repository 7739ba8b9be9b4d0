"""The title resolver: a raw job title -> ranked O*NET occupations with a confidence.

Shared by all the job-title functions and the `titles normalize` command. Steps:

1. clean the title (`clean.clean_title`): noise, abbreviations, seniority, function;
2. match the cleaned words against every indexed title ("alias": occupation titles,
   alternate, short and reported titles, BLS direct-match titles, ESCO labels): word TF-IDF
   with the head noun (the last word, which usually names the occupation) as an extra
   feature, character 3-gram TF-IDF, and an exact lookup of the cleaned words; a title
   classifier (classifier.py, trained on the indexed titles) gives every occupation a
   probability from the same word and character vectors;
3. gather evidence per occupation: its best alias, a soft vote of all its matching aliases,
   the cosine with its profile (all its aliases' words pooled), a naive-Bayes posterior, how
   many of the query's words its aliases use and how often its aliases end in the query's
   head noun, the same evidence for its SOC groups, the classifier's probability (also summed
   over its 6-digit SOC and major group), and the words of its description and tasks;
4. a small ranker (one hidden layer, fitted on held-out lay titles by
   `bench/title_accuracy.py --fit`, weights in `ranker_weights.py`) turns that evidence into
   probabilities over the candidates plus "none of these": the confidence;
5. an optional context (industry, free text) re-ranks with the occupations' descriptions and
   tasks.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from . import classifier
from .clean import CleanTitle, clean_title, index_keys
from .data import JobData, get_data
from .evidence import BATCH, CANDIDATES, Evidence, gather
from .text_index import (
    NaiveBayes,
    Space,
    char_features,
    pack_strings,
    stem,
    text_tokens,
    unpack_strings,
    word_features,
)

SOURCE_WEIGHT = {
    "occupation": 1.0, "alternate": 1.0, "lay": 1.0, "reported": 1.0, "short": 0.95,
    "bls_direct_match": 0.95, "esco_preferred": 0.85, "esco_alternative": 0.8,
}
SHARED_SOC_WEIGHT = 0.8  # a BLS title attached to every O*NET code of its SOC, not the .00 one
CONFIDENT = 0.5  # `Resolution.confident`: the best candidate's probability is at least this
AMBIGUOUS_RATIO = 0.5  # `Resolution.ambiguous`: the second is at least this share of the first
CONTEXT_WEIGHT = 6.0  # logit added per unit of context-description cosine
# Char n-grams found in more than this many aliases are "common": kept as a dense matrix and
# added for the pooled aliases only, so the pool's sparse product skips their long postings
# (1000: a third of the product's volume at 2000, for 33 MB more; same answers on samples).
PRUNE_DF = 1000
CACHE_MAX = 50_000  # resolutions remembered by cleaned words (without a context)
LOGIT_ROWS = 256  # candidates per ranker product: 256 x 33 x 16 stays on one BLAS thread

FEATURES = (
    "best", "best_word", "best_char", "exact", "vote8", "vote2", "profile", "nb", "nb_log",
    "desc", "coverage", "head", "head_share", "n_aliases", "main_code", "esco",
    "alias_ambiguity", "base_rank", "idf_coverage", "head_assoc", "word_assoc", "mod_assoc",
    "desc_coverage", "soc_vote", "minor_vote", "major_vote", "best_rel", "best_same_head",
    "src_occupation", "src_short", "src_reported", "src_bls", "src_lay",
    "clf", "clf_log", "clf_soc", "clf_major",
)
_SOURCE_CODE = {"occupation": 1, "short": 2, "reported": 3, "bls_direct_match": 4}


@dataclass(frozen=True)
class Candidate:
    code: str
    occupation: str
    soc: str
    confidence: float
    matched: str
    source: str


@dataclass(frozen=True)
class Resolution:
    raw: str
    cleaned: str
    seniority: str | None
    function: str | None
    candidates: tuple[Candidate, ...]
    ambiguous: bool
    confident: bool
    suggestions: tuple[str, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


class _Ranker:
    """logit = tanh(Z W1 + b1) . w2 + Z . v with Z the standardised features; "none of
    these" has the constant logit `null`. Falls back to a hand-set linear score when no
    fitted weights are available."""

    def __init__(self, weights: dict[str, Any] | None):
        self.fitted = bool(weights) and tuple(weights["features"]) == FEATURES  # type: ignore
        if self.fitted:
            assert weights is not None
            self.mean = np.asarray(weights["mean"])
            self.scale = np.asarray(weights["scale"])
            self.W1 = np.asarray(weights["W1"])
            self.b1 = np.asarray(weights["b1"])
            self.w2 = np.asarray(weights["w2"])
            self.v = np.asarray(weights["v"])
            self.null = float(weights["null"])
        else:
            self.null = 0.0

    def logits(self, X: np.ndarray) -> np.ndarray:
        if not self.fitted:
            i = {f: k for k, f in enumerate(FEATURES)}
            return 4.0 * (X[:, i["best"]] + 0.25 * X[:, i["profile"]] + 0.4 * X[:, i["nb"]]
                          + 0.3 * X[:, i["coverage"]] - 0.6)
        # In row blocks: OpenBLAS hands a product of more than 2**18 multiply-adds to
        # several threads, whose spin-waiting cost more CPU than they save (about 15% of a
        # bulk run on 2 cores, and the second core is the other worker's).
        out = np.empty(len(X))
        for lo in range(0, len(X), LOGIT_ROWS):
            Z = (X[lo:lo + LOGIT_ROWS] - self.mean) / self.scale
            out[lo:lo + LOGIT_ROWS] = np.tanh(Z @ self.W1 + self.b1) @ self.w2 + Z @ self.v
        return out


def _source(row: Any) -> str:
    """The row's source; an alternate title from job postings or user input is "lay"."""
    source = getattr(row, "source", "alternate")
    if source == "alternate" and getattr(row, "alt_sources", None) in ("09", "10", "09,10"):
        return "lay"
    return source


def _load_weights() -> dict[str, Any] | None:
    try:
        from . import ranker_weights
    except ImportError:
        return None
    return dict(ranker_weights.WEIGHTS)


class TitleResolver:
    """Ranks O*NET occupations for a raw job title. Build once; `resolve` is thread-safe.

    `titles` are (title, onet_code) pairs to index (default: every title row of `data`); a
    `TitleRow` also carries its source, which weighs its evidence.
    """

    def __init__(self, data: JobData, titles: Iterable[tuple[str, str]] | None = None,
                 weights: dict[str, Any] | None = None):
        self._setup(data, weights)
        pairs: Iterable[Any] = data.titles if titles is None else titles
        rows = ((t[0], t[1], _source(t), bool(getattr(t, "shared_soc", False)))
                for t in pairs)
        self._build(rows)

    def _setup(self, data: JobData, weights: dict[str, Any] | None) -> None:
        self.data = data
        self.gazetteer = data.gazetteer_tags()
        self.ranker = _Ranker(weights if weights is not None else _load_weights())
        self._cache: dict[tuple[tuple[str, ...], int], tuple[Any, ...]] = {}
        self._pool: sparse.csr_matrix | None = None
        # evidence.py's (query, group) slots for a full batch, per group level: built on
        # first use
        self.group_slots: dict[tuple[int, int], tuple[int, np.ndarray]] = {}

    # -- index -----------------------------------------------------------------------------
    def _build(self, rows: Iterable[tuple[str, str, str, bool]]) -> None:
        occ = self.data.occupations
        self.codes = list(occ)
        code_index = {c: i for i, c in enumerate(self.codes)}
        # match key -> occupation index -> (weight, source, published title)
        aliases: dict[str, dict[int, tuple[float, str, str]]] = {}
        cache: dict[str, list[str]] = {}
        for title, code, source, shared in rows:
            oi = code_index.get(code)
            if oi is None:
                continue
            keys = cache.get(title)
            if keys is None:
                keys = cache[title] = index_keys(title)
            weight = SOURCE_WEIGHT.get(source, 0.8)
            if shared and not code.endswith(".00"):
                weight *= SHARED_SOC_WEIGHT
            for key in keys:
                entry = aliases.setdefault(key, {})
                old = entry.get(oi)
                if old is None or weight > old[0] or (weight == old[0]
                                                       and len(title) < len(old[2])):
                    entry[oi] = (weight, source, title)
        del cache
        self.keys = list(aliases)
        self.exact = {k: i for i, k in enumerate(self.keys)}
        ptr = [0]
        ao_occ: list[int] = []
        ao_w: list[float] = []
        self.alias_source: list[str] = []
        self.alias_title: list[str] = []
        for entry in aliases.values():
            for oi, (w, src, title) in entry.items():
                ao_occ.append(oi)
                ao_w.append(w)
                self.alias_source.append(src)
                self.alias_title.append(title)
            ptr.append(len(ao_occ))
        del aliases
        self.ao_ptr = np.asarray(ptr, dtype=np.int64)
        self.ao_occ = np.asarray(ao_occ, dtype=np.int32)
        self.ao_w = np.asarray(ao_w, dtype=np.float64)
        heads: dict[str, int] = {}
        self.alias_head = np.array([heads.setdefault(stem(k.rsplit(" ", 1)[-1]), len(heads))
                                    for k in self.keys], dtype=np.int32)
        self.head_ids = heads
        self.words = Space((word_features(k.split()) for k in self.keys), boost={"^": 1.5})
        self.chars = Space((char_features(k.split()) for k in self.keys), prune_df=PRUNE_DF)
        # the classifier, trained on the keys' word and char vectors; stored as float16 (the
        # index file), so the built and the loaded resolver use the same rounded weights
        x = sparse.hstack([self.words.csr().T, self.chars.csr().T], format="csr")
        E, U, b = classifier.train(x, self.ao_ptr, self.ao_occ, self.ao_w, len(self.codes))
        del x
        self._set_classifier(E.astype(np.float16), U.astype(np.float16), b.astype(np.float16))
        # occupation profiles: the words of all the occupation's aliases, pooled
        n_occ = len(self.codes)
        profiles: list[dict[str, float]] = [{} for _ in range(n_occ)]
        for a, key in enumerate(self.keys):
            feats = word_features(key.split())
            for j in range(ptr[a], ptr[a + 1]):
                prof = profiles[ao_occ[j]]
                for f, v in feats.items():
                    prof[f] = prof.get(f, 0.0) + v
        self.profiles = Space(profiles, boost={"^": 1.5})
        self.nb = NaiveBayes(profiles)
        del profiles
        docs: list[dict[str, float]] = []
        for c in self.codes:
            o = occ[c]
            text = " ".join([o.title, o.description]
                            + [t.task for t in self.data.tasks.get(c, ())[:15]])
            feats: dict[str, float] = {}
            for w in text_tokens(text):
                feats[w] = feats.get(w, 0.0) + 1.0
            docs.append(feats)
        self.descriptions = Space(docs)
        del docs
        self._derive()

    def _set_classifier(self, E: np.ndarray, U: np.ndarray, b: np.ndarray) -> None:
        """The classifier's weights as stored (float16: the built and the loaded resolver use
        the same rounded numbers), widened for use: E float32 for the sparse product, U and
        b float64 for the logits."""
        self.clf_E = E.astype(np.float32)
        self.clf_U = U.astype(np.float64)
        self.clf_b = b.astype(np.float64)

    def _derive(self) -> None:
        """The lookups computed from the index's arrays (fast; also after `from_state`)."""
        occ = self.data.occupations
        self.exact = dict(zip(self.keys, range(len(self.keys)), strict=True))
        self.pair_alias = np.repeat(np.arange(len(self.keys)), np.diff(self.ao_ptr))
        # per distinct source, then spread by a C-level lookup of each pair's source
        names = list(dict.fromkeys(self.alias_source))
        code = np.fromiter(map({n: i for i, n in enumerate(names)}.__getitem__,
                               self.alias_source), dtype=np.int32, count=len(self.alias_source))
        self.pair_esco = np.array([n.startswith("esco") for n in names], dtype=bool)[code]
        self.pair_source = np.array([5 if n == "lay" else _SOURCE_CODE.get(n, 0)
                                     for n in names], dtype=np.int8)[code]
        self.occ_title = [occ[c].title for c in self.codes]
        self.occ_soc = [occ[c].soc for c in self.codes]
        self.n_aliases = np.bincount(self.ao_occ, minlength=len(self.codes)).astype(float)
        self.main_code = np.array([c.endswith(".00") for c in self.codes], dtype=float)
        self.groups = []
        for attr in ("soc", "minor_code", "major_code"):
            ix: dict[str, int] = {}
            self.groups.append(np.array([ix.setdefault(getattr(occ[c], attr), len(ix))
                                         for c in self.codes]))

    def pool_matrix(self) -> sparse.csr_matrix:
        """The character n-gram postings stacked on the word postings (features x aliases):
        the alias pool of a batch of queries is scored on both in one product."""
        if self._pool is None:
            self._pool = sparse.vstack([self.chars.csr(), self.words.csr()], format="csr")
        return self._pool

    def desc_presence(self, word: str) -> np.ndarray | None:
        """The occupations whose description or tasks use a (stemmed) word."""
        j = self.descriptions.fid.get(word)
        if j is None:
            return None
        ip = self.descriptions.indptr
        return self.descriptions.rows[ip[j]:ip[j + 1]]

    # -- a precomputed index (index_file.py) -------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """The index as named arrays, for `from_state` (see index_file.py)."""
        sources = sorted(set(self.alias_source))
        src_ix = {s: i for i, s in enumerate(sources)}
        out: dict[str, np.ndarray] = {
            "codes": pack_strings(self.codes), "keys": pack_strings(self.keys),
            "ao_ptr": self.ao_ptr, "ao_occ": self.ao_occ, "ao_w": self.ao_w,
            "sources": pack_strings(sources),
            "alias_source": np.array([src_ix[s] for s in self.alias_source], dtype=np.int8),
            "alias_title": pack_strings(self.alias_title), "alias_head": self.alias_head,
            "heads": pack_strings(list(self.head_ids)),
        }
        for name in ("words", "chars", "profiles", "nb", "descriptions"):
            for k, v in getattr(self, name).state().items():
                out[f"{name}.{k}"] = v
        # float16 again, exactly: the weights were rounded to it before use
        for k, v in (("E", self.clf_E), ("U", self.clf_U), ("b", self.clf_b)):
            out[f"clf.{k}"] = v.astype(np.float16)
        return out

    @classmethod
    def from_state(cls, data: JobData, st: dict[str, np.ndarray],
                   weights: dict[str, Any] | None = None) -> TitleResolver:
        """A resolver over a precomputed index (`state()` of one built from `data`)."""
        self = cls.__new__(cls)
        self._setup(data, weights)
        self.codes = unpack_strings(st["codes"])
        if self.codes != list(data.occupations):
            raise ValueError("the precomputed index was built for other occupations")
        self.keys = unpack_strings(st["keys"])
        self.ao_ptr, self.ao_occ, self.ao_w = st["ao_ptr"], st["ao_occ"], st["ao_w"]
        sources = unpack_strings(st["sources"])
        self.alias_source = [sources[i] for i in st["alias_source"].tolist()]
        self.alias_title = unpack_strings(st["alias_title"])
        self.alias_head = st["alias_head"]
        self.head_ids = {h: i for i, h in enumerate(unpack_strings(st["heads"]))}
        parts: dict[str, dict[str, np.ndarray]] = {}
        for k, v in st.items():
            if "." in k:
                name, field = k.split(".", 1)
                parts.setdefault(name, {})[field] = v
        self.words = Space.from_state(parts["words"])
        self.chars = Space.from_state(parts["chars"])
        self.profiles = Space.from_state(parts["profiles"])
        self.nb = NaiveBayes.from_state(parts["nb"])
        self.descriptions = Space.from_state(parts["descriptions"])
        clf = parts["clf"]
        self._set_classifier(clf["E"], clf["U"], clf["b"])
        self._derive()
        return self

    # -- evidence --------------------------------------------------------------------------
    def evidence(self, tokens: Sequence[str], k: int = CANDIDATES) -> Evidence | None:
        """The top-k candidate occupations for match tokens, with their features."""
        return gather(self, [tokens], k)[0]

    # -- resolve ---------------------------------------------------------------------------
    def probabilities(self, ev: Evidence, context: np.ndarray | None = None,
                      logits: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """P(candidate) for each candidate, and P(none of them)."""
        if logits is None:
            logits = self.ranker.logits(ev.X)
        if context is not None:
            logits = logits + CONTEXT_WEIGHT * context[ev.cand]
        top = max(float(logits.max()) if len(logits) else self.ranker.null, self.ranker.null)
        e = np.exp(logits - top)
        e_null = math.exp(self.ranker.null - top)
        z = float(e.sum()) + e_null
        return e / z, e_null / z

    def resolve(self, title: str, context: str | None = None, top_k: int = 5) -> Resolution:
        """Rank occupations for one raw title. Never raises on odd input."""
        raw = title if isinstance(title, str) else str(title)
        if not (context and context.strip()):
            return self.resolve_many([raw], top_k=top_k)[0]
        c = clean_title(raw, self.gazetteer)
        ev = self.evidence(c.tokens)
        ctx = self.descriptions.query(dict.fromkeys(text_tokens(context[:5000]), 1.0))
        return Resolution(raw, c.cleaned, c.seniority, c.function,
                          *self._answer(ev, top_k, context=ctx))

    def resolve_many(self, titles: Iterable[str], top_k: int = 5,
                     threads: int = 1) -> list[Resolution]:
        """Resolve many titles at once: the evidence of all of them is gathered in batches
        (evidence.py) and scored by one ranker call. Each answer is the one `resolve` gives
        that title alone. Titles with the same cleaned words are resolved once, and the
        answers are remembered by cleaned words (see CACHE_MAX).

        `threads` > 1 resolves runs of BATCH titles on that many threads, for one large call
        (the word cloud); the answers are the same. The gain is modest: numpy's bincount,
        repeat and ufunc.at, which a batch calls many times, and the cleaning hold the GIL;
        only the rest overlaps."""
        if threads > 1:
            return self._resolve_threaded(titles, top_k, threads)
        raws = [t if isinstance(t, str) else str(t) for t in titles]
        cleaned: dict[str, CleanTitle] = {}
        for t in raws:
            if t not in cleaned:
                cleaned[t] = clean_title(t, self.gazetteer)
        k = int(top_k)
        answers: dict[tuple[str, ...], tuple[Any, ...]] = {}
        todo: dict[tuple[str, ...], None] = {}
        for c in cleaned.values():
            hit = self._cache.get((c.tokens, k))
            if hit is not None:
                answers[c.tokens] = hit
            elif c.tokens not in answers:
                todo[c.tokens] = None
        if todo:
            toks = list(todo)
            for tk, ans in zip(toks, self._answer_many(gather(self, toks), k), strict=True):
                answers[tk] = ans
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
                self._cache[(tk, k)] = ans
        out = []
        for t in raws:
            c = cleaned[t]
            out.append(Resolution(t, c.cleaned, c.seniority, c.function, *answers[c.tokens]))
        return out

    def _resolve_threaded(self, titles: Iterable[str], top_k: int,
                          threads: int) -> list[Resolution]:
        """`resolve_many` of runs of BATCH distinct titles on `threads` threads, each run
        cleaned and resolved whole: one thread's cleaning (Python) overlaps another's numpy.
        A run is handed over as soon as it is full, so the caller's own work producing
        `titles` (an iterator) overlaps the resolution too. A title's answer never depends
        on the other titles of its batch."""
        self._prepare()
        pool = _executor(threads)
        raws: list[str] = []
        seen: set[str] = set()
        run: list[str] = []
        runs: list[tuple[list[str], Any]] = []
        for t in titles:
            t = t if isinstance(t, str) else str(t)
            raws.append(t)
            if t not in seen:
                seen.add(t)
                run.append(t)
                if len(run) == BATCH:
                    runs.append((run, pool.submit(self.resolve_many, run, top_k)))
                    run = []
        if run:
            runs.append((run, pool.submit(self.resolve_many, run, top_k)))
        by_raw: dict[str, Resolution] = {}
        for run, future in runs:
            by_raw.update(zip(run, future.result(), strict=True))
        return [by_raw[t] for t in raws]

    def _prepare(self) -> None:
        """Build the lookups made on first use before threads share them."""
        with _LOCK:
            self.pool_matrix()
            self.words.by_row()

    def clear_cache(self) -> None:
        """Forget remembered resolutions (for timing, or after changing the index)."""
        self._cache.clear()

    def _answer_many(self, evs: list[Evidence | None], top_k: int) -> list[tuple[Any, ...]]:
        """`_answer` of each evidence (no context), the per-title numpy calls shared: one
        ranker call, one sort for every title's top k; the same numbers as `_answer`, each
        title's softmax summed over its own candidates as there."""
        live = [i for i, e in enumerate(evs) if e is not None and len(e.cand)]
        out: list[tuple[Any, ...]] = [
            () if e is not None and len(e.cand) else ((), False, False, self._suggest(e))
            for e in evs]
        if not live:
            return out
        sizes = np.array([len(evs[i].cand) for i in live])  # type: ignore[union-attr]
        ends = np.cumsum(sizes)
        starts = ends - sizes
        logits = self.ranker.logits(np.vstack([evs[i].X for i in live]))  # type: ignore[union-attr]
        null = self.ranker.null
        tops = np.maximum(np.maximum.reduceat(logits, starts), null)
        seg = np.repeat(np.arange(len(live)), sizes)
        e = np.exp(logits - tops[seg])
        e_null = np.array([math.exp(null - t) for t in tops.tolist()])  # as `probabilities`
        z = np.array([float(e[a:b].sum()) for a, b in zip(starts.tolist(), ends.tolist(),
                                                           strict=True)]) + e_null
        prob = e / z[seg]
        # each title's candidates by falling probability, ties in index order (a stable
        # sort per title), then its first top_k
        order = np.lexsort((-prob, seg))
        rank = np.arange(len(order)) - starts[seg]
        keep = order[rank < max(1, int(top_k))]
        kseg = seg[keep].tolist()
        kprob = prob[keep].tolist()
        cand = np.concatenate([evs[i].cand for i in live])[keep].tolist()  # type: ignore[union-attr]
        pair = np.concatenate([evs[i].best_pair for i in live])[keep].tolist()  # type: ignore[union-attr]
        per: list[list[Candidate]] = [[] for _ in live]
        p12: list[list[float]] = [[] for _ in live]
        for j, p, oi, pi in zip(kseg, kprob, cand, pair, strict=True):
            matched, source = ((self.alias_title[pi], self.alias_source[pi]) if pi >= 0
                               else (self.occ_title[oi], "profile"))
            per[j].append(Candidate(self.codes[oi], self.occ_title[oi], self.occ_soc[oi],
                                    round(p, 3), matched,
                                    "alternate" if source == "lay" else source))
            if len(p12[j]) < 2:
                p12[j].append(p)
        for j, i in enumerate(live):
            p1 = p12[j][0]
            p2 = p12[j][1] if len(p12[j]) > 1 else 0.0
            confident = p1 >= CONFIDENT
            out[i] = (tuple(per[j]), p2 > 0 and p2 >= AMBIGUOUS_RATIO * p1, confident,
                      () if confident else self._suggest(evs[i]))
        return out

    def _answer(self, ev: Evidence | None, top_k: int, context: np.ndarray | None = None,
                logits: np.ndarray | None = None) -> tuple[Any, ...]:
        """(candidates, ambiguous, confident, suggestions) from a query's evidence."""
        if ev is None or not len(ev.cand):
            return (), False, False, self._suggest(ev)
        prob, _ = self.probabilities(ev, context, logits)
        k = max(1, min(int(top_k), len(prob)))
        order = np.argsort(-prob, kind="stable")[:k]
        cands = []
        for i in order.tolist():
            oi = int(ev.cand[i])
            pi = int(ev.best_pair[i])
            matched, source = ((self.alias_title[pi], self.alias_source[pi]) if pi >= 0
                               else (self.occ_title[oi], "profile"))
            cands.append(Candidate(self.codes[oi], self.occ_title[oi], self.occ_soc[oi],
                                   round(float(prob[i]), 3), matched,
                                   "alternate" if source == "lay" else source))
        p1 = float(prob[order[0]])
        p2 = float(prob[order[1]]) if len(order) > 1 else 0.0
        ambiguous = p2 > 0 and p2 >= AMBIGUOUS_RATIO * p1
        confident = p1 >= CONFIDENT
        suggestions = () if confident else self._suggest(ev)
        return tuple(cands), ambiguous, confident, suggestions

    def _suggest(self, ev: Evidence | None, n: int = 5) -> tuple[str, ...]:
        """Known titles closest in spelling to the query."""
        if ev is None:
            return ()
        out: list[str] = []
        for i in np.argsort(-ev.pool_char, kind="stable")[: n * 4].tolist():
            if ev.pool_char[i] < 0.2:
                break
            title = self.alias_title[int(self.ao_ptr[ev.pool[i]])]
            if title not in out:
                out.append(title)
            if len(out) == n:
                break
        return tuple(out)


_LOCK = threading.Lock()
_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _executor(threads: int) -> ThreadPoolExecutor:
    """The process's threads for `resolve_many(threads=N)` (started on first use)."""
    global _POOL
    with _LOCK:
        if _POOL is None or _POOL[0] < threads:
            if _POOL is not None:
                _POOL[1].shutdown(wait=False)
            _POOL = (threads, ThreadPoolExecutor(threads, thread_name_prefix="titles"))
        return _POOL[1]


def _forget_executor() -> None:
    global _POOL
    _POOL = None  # a forked child has none of its parent's threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_executor)


def resolve_threads() -> int:
    """Threads for one large call (the word cloud): the CPU count, at most 2."""
    return max(1, min(2, os.cpu_count() or 1))


@functools.lru_cache(maxsize=1)
def _default_resolver() -> TitleResolver:
    from .index_file import take_index

    data = get_data()
    state = take_index(data.data_dir)  # None when missing or stale: then build (seconds)
    return TitleResolver.from_state(data, state) if state else TitleResolver(data)


def get_resolver() -> TitleResolver:
    """The process-wide resolver over all titles of `get_data()`, loaded on first use from
    the precomputed index (data/title_index.npz, well under a second) or built when that is
    missing or stale; threads that ask at the same time wait for the one load."""
    with _LOCK:
        return _default_resolver()
