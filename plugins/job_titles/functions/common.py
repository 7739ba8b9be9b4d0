"""What the five functions share: input fields, title matching, the no-match answer, formats."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from tokenworks import blocks

from ..data import JobData, Occupation, get_data

if TYPE_CHECKING:  # the resolver pulls in numpy: imported on the first call, not at host start
    from ..resolver import Candidate, Resolution, TitleResolver

MAX_TITLE = 200
MAX_CONTEXT = 500
# Any letter of the Latin script (ASCII and the accented Latin blocks). The titles are English,
# so a title with none (only emoji, digits, Cyrillic, CJK...) cannot match anything: saying so
# at validation is clearer than an empty answer, and a refused call is never charged.
LATIN_LETTER = re.compile(r"[A-Za-z\u00C0-\u024F\u1E00-\u1EFF]")
ONET_CODE = re.compile(r"^\d{2}-\d{4}\.\d{2}$")
SOC_CODE = re.compile(r"^\d{2}-\d{4}$")
MIN_CONFIDENCE = 0.3  # below this a title gets the no-match answer (see match_title)
ONET_URL = "https://www.onetonline.org/link/summary/{code}"


def _clean_title(value: object) -> object:
    """Strip and collapse whitespace, then refuse empty, over-long and script-less titles."""
    if not isinstance(value, str):
        return value  # pydantic's own type error names the field
    text = " ".join(value.split())
    if not text:
        raise ValueError("a job title is required; this one is empty or only whitespace")
    if len(text) > MAX_TITLE:
        raise ValueError(f"a job title has at most {MAX_TITLE} characters; "
                         f"this one has {len(text):,}")
    return text


def _needs_latin(text: str) -> str:
    if not LATIN_LETTER.search(text) and not ONET_CODE.match(text) and not SOC_CODE.match(text):
        raise ValueError("a job title needs at least one Latin letter: the titles it is matched "
                         "against are English (O*NET, BLS, ESCO), so write it in English")
    return text


def _clean_context(value: object) -> object:
    if not isinstance(value, str):
        return value
    text = " ".join(value.split())
    if len(text) > MAX_CONTEXT:
        raise ValueError(f"the context has at most {MAX_CONTEXT} characters; "
                         f"this one has {len(text):,}")
    return text or None


JobTitle = Annotated[
    str,
    BeforeValidator(_clean_title),
    AfterValidator(_needs_latin),
    Field(min_length=1, max_length=MAX_TITLE, examples=["Data Scientist", "RN", "15-2051.00"],
          description="A job title as written in a posting or CV (English, at most "
                      f"{MAX_TITLE} characters), or an O*NET code such as 15-2051.00."),
]
Context = Annotated[
    # The length bound sits on the str alone: on the union pydantic would apply it to None
    # too and raise a TypeError instead of accepting an explicit null.
    Annotated[str, Field(max_length=MAX_CONTEXT)] | None,
    BeforeValidator(_clean_context),
    Field(default=None,
          description="Optional industry or free text (e.g. 'hospital', 'fintech startup') "
                      "used to re-rank occupations when a title is ambiguous."),
]


# The first calls after start may arrive together (the host runs calls in a thread pool), and
# the loaders' lru_cache does not stop each thread from loading its own copy: 8 resolvers
# built at once would take 8 times as long and as much memory. One lock makes the others wait.
_LOAD = threading.Lock()


def job_data() -> JobData:
    """The process-wide data, loaded once even when the first calls come together."""
    with _LOAD:
        return get_data()


def resolver() -> TitleResolver:
    """The process-wide title resolver (its precomputed index is loaded on first use)."""
    from ..resolver import get_resolver

    with _LOAD:
        return get_resolver()


@dataclass(frozen=True)
class Match:
    """The occupation a title resolved to, with the evidence."""

    occupation: Occupation
    resolution: Resolution | None  # None when the caller gave an O*NET or SOC code
    candidate: Candidate | None

    @property
    def confidence(self) -> float:
        return self.candidate.confidence if self.candidate else 1.0


def match_title(title: str, context: str | None = None,
                top_k: int = 5) -> tuple[Match | None, Resolution | None]:
    """Resolve a title (or take an O*NET/SOC code as is). Match is None when nothing fits."""
    data = job_data()
    code = _code_occupation(data, title)
    if code is not None:
        return Match(code, None, None), None
    if ONET_CODE.match(title) or SOC_CODE.match(title):
        return None, None  # a well-formed code that names nothing: no_match_blocks says so
    resolution = resolver().resolve(title, context=context, top_k=top_k)
    best = resolution.best
    # Between MIN_CONFIDENCE and the resolver's own "confident" the answer goes ahead with a
    # warning (match_note): a plausible but uncertain match is still useful. Below it the
    # guesses are noise (nonsense titles score ~0.05), so the no-match answer is given.
    if best is None or not (resolution.confident or best.confidence >= MIN_CONFIDENCE):
        return None, resolution
    occupation = data.occupation(best.code)
    if occupation is None:
        return None, resolution
    return Match(occupation, resolution, best), resolution


def _code_occupation(data: JobData, text: str) -> Occupation | None:
    if ONET_CODE.match(text):
        return data.occupation(text)
    if SOC_CODE.match(text):
        # A 6-digit SOC: its first O*NET occupation, which is the `.00` one where it exists.
        found = data.by_soc.get(text)
        return found[0] if found else None
    return None


def no_match_blocks(title: str, resolution: Resolution | None) -> list[blocks.Block]:
    """The answer for a title no occupation fits: the weak guesses and what to try instead.

    A successful result, charged at the function's cost: the matching work was done and the
    guesses and suggestions are its answer. (Input that cannot be a title at all is refused
    at validation instead, and a refused call is never charged.)"""
    shown = blocks.escape_markdown(title)  # the user's text: it must show as typed
    lines = [f"### No confident match for “{shown}”"]
    if ONET_CODE.match(title) or SOC_CODE.match(title):
        # A well-formed code (digits, "-" and "."): nothing in it is markup.
        lines.append(f"No O*NET occupation has the code {title}. Codes look like 15-2051.00 "
                     "(O*NET-SOC) or 15-2051 (SOC); search by job title to find one.")
        return [blocks.Markdown(title="No confident match", text="\n\n".join(lines))]
    if (resolution is not None and resolution.cleaned
            and resolution.cleaned.lower() != title.lower()):
        lines.append(f"Read as: *{blocks.escape_markdown(resolution.cleaned)}*.")
    guesses = list(resolution.candidates[:3]) if resolution else []
    if guesses:
        lines.append("Closest occupations, all below the confidence needed to analyse one: "
                     + "; ".join(f"{c.occupation} ({c.code}, {c.confidence:.0%})"
                                 for c in guesses) + ".")
    suggestions = list(resolution.suggestions) if resolution else []
    if suggestions:
        lines.append("Try one of: " + ", ".join(f"“{s}”" for s in suggestions[:8]) + ".")
    lines.append("Tips: write the title in English without company names or codes, spell out "
                 "unusual abbreviations, or pass an O*NET code such as `15-2051.00`.")
    # Said in the answer too, so that nobody is surprised by the charge: the search ran and
    # these guesses and suggestions are its result (docs/job-titles.md, "No confident match").
    lines.append("This answer counts as a completed call and is charged like any other.")
    return [blocks.Markdown(title="No confident match", text="\n\n".join(lines))]


def match_note(match: Match) -> str:
    """One line saying how sure the match is, for the top of every answer."""
    occ = match.occupation
    link = f"[{occ.title} ({occ.onet_code})]({ONET_URL.format(code=occ.onet_code)})"
    if match.resolution is None or match.candidate is None:
        return f"Occupation {link}, given by its code."
    res, cand = match.resolution, match.candidate
    text = (f"“{blocks.escape_markdown(res.raw)}” matched {link} "
            f"with confidence {cand.confidence:.0%}")
    if cand.matched:
        text += f" (via the title “{cand.matched}”)"
    text += "."
    if not res.confident:
        text += (" **Low confidence**: check that this is the occupation you meant, or add a "
                 "context or an O*NET code.")
    if res.ambiguous:
        others = [c for c in res.candidates if c.code != cand.code][:3]
        text += (" **The title is ambiguous**: it could also be "
                 + "; ".join(f"{c.occupation} ({c.code}, {c.confidence:.0%})" for c in others)
                 + ". Add a context or pass an O*NET code to choose.")
    return text
