"""Lookups the loader does not keep, built once per JobData on first use and then cached."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

from ..data import JobData, Related, TitleRow

IMPORTANT = 3.0  # O*NET importance (1-5) from which a skill counts as part of the job
SOURCE_ORDER = ("occupation", "reported", "alternate", "short", "bls_direct_match",
                "esco_preferred", "esco_alternative")
SOURCE_LABELS = {
    "occupation": "O*NET title", "reported": "reported by workers",
    "alternate": "O*NET alternate title", "short": "O*NET short title",
    "bls_direct_match": "BLS direct-match title", "esco_preferred": "ESCO preferred label",
    "esco_alternative": "ESCO alternative label",
}


@dataclass(frozen=True)
class Indexes:
    incoming: dict[str, tuple[Related, ...]]  # code -> rows of occupations that list it
    codes_by_title: dict[str, frozenset[str]]  # lower-case title -> O*NET codes using it
    skill_sets: dict[str, frozenset[str]]  # code -> important skill/knowledge element ids
    tech_sets: dict[str, frozenset[str]]  # code -> technology classes (UNSPSC commodities)


_cache: dict[int, Indexes] = {}
_lock = threading.Lock()


def indexes(data: JobData) -> Indexes:
    # Keyed by identity: JobData holds dicts, so it is not hashable, and there is one per
    # process anyway. The lock keeps concurrent first calls from building it twice.
    found = _cache.get(id(data))
    if found is not None:
        return found
    with _lock:
        if id(data) not in _cache:
            _cache[id(data)] = _build(data)
        return _cache[id(data)]


def _build(data: JobData) -> Indexes:
    incoming: dict[str, list[Related]] = defaultdict(list)
    for rows in data.related.values():
        for row in rows:
            incoming[row.related_code].append(row)
    by_title: dict[str, set[str]] = defaultdict(set)
    for title in data.titles:
        by_title[title.title.lower()].add(title.onet_code)
    skills = {code: frozenset(s.element_id for s in rows
                              if s.importance is not None and s.importance >= IMPORTANT
                              and not s.suppress)
              for code, rows in data.skills.items()}
    tech = {code: frozenset(t.commodity_code for t in rows)
            for code, rows in data.technology.items()}
    return Indexes(
        incoming={code: tuple(rows) for code, rows in incoming.items()},
        codes_by_title={title: frozenset(codes) for title, codes in by_title.items()},
        skill_sets={code: s for code, s in skills.items() if s},
        tech_sets={code: t for code, t in tech.items() if t},
    )


def overlap(idx: Indexes, a: str, b: str) -> float | None:
    """Skill overlap of two occupations in 0..1: the mean Jaccard similarity of their
    important skill/knowledge elements and of their technology classes, over whichever of
    the two both occupations have (137 lack ratings, 93 lack technology). None if neither."""
    scores = []
    for sets in (idx.skill_sets, idx.tech_sets):
        x, y = sets.get(a), sets.get(b)
        if x and y:
            scores.append(len(x & y) / len(x | y))
    return sum(scores) / len(scores) if scores else None


def unique_titles(data: JobData, code: str, include_esco: bool = True) -> list[TitleRow]:
    """The occupation's titles, one per lower-cased spelling, best-attested source first."""
    order = {source: i for i, source in enumerate(SOURCE_ORDER)}
    rows = sorted(data.titles_by_code.get(code, ()),
                  key=lambda t: (order.get(t.source, 99), not t.my_next_move, t.title.lower()))
    seen: set[str] = set()
    out = []
    for row in rows:
        key = row.title.lower()
        if key in seen or (not include_esco and row.source.startswith("esco")):
            continue
        seen.add(key)
        out.append(row)
    return out


def common_titles(data: JobData, code: str, limit: int = 3) -> list[str]:
    """A few everyday titles of an occupation: what workers report, then O*NET alternates."""
    occ = data.occupation(code)
    own = occ.title.lower() if occ else ""
    rows = [t for t in unique_titles(data, code, include_esco=False)
            if t.source in ("reported", "alternate", "short") and t.title.lower() != own]
    return [t.title for t in rows[:limit]]
