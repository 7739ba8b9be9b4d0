"""Job-title cleaning: noise removal, abbreviation expansion, seniority and function parsing.

`clean_title(raw)` turns a title as people type it ("Sr. Software Eng (Remote) - Austin, TX
$120k") into a `CleanTitle`: the display form ("senior software engineer"), the seniority level
("senior"), the function words found in the IPOD gazetteer ("software"), and `tokens`, the
words used for matching, with seniority words removed and abbreviations expanded. The same
function is applied to every title the resolver indexes, so both sides agree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from .functions.states import STATES
from .places import strip_places

MAX_CHARS = 300  # longer inputs are cut: no job title needs more

# LinkedIn-style seniority levels, lowest first; `mid` stands for numbered levels such as II.
SENIORITY_LEVELS = (
    "intern", "entry", "mid", "senior", "lead", "manager", "director", "vp", "c_level", "owner",
)
SENIORITY_LABELS = {
    "intern": "Intern", "entry": "Entry level", "mid": "Mid level", "senior": "Senior",
    "lead": "Lead / Principal", "manager": "Manager", "director": "Director",
    "vp": "Vice President", "c_level": "C-level", "owner": "Owner / Partner",
}

# Location noise in titles: the same 54 areas the state field accepts, matched lower-case.
US_STATES = {code: name.lower() for code, name in STATES.items()}
_STATE_ABBR = "|".join(US_STATES)
_STATE_NAMES = "|".join(sorted(US_STATES.values(), key=len, reverse=True))

# Abbreviation -> expansion. A pair (last, other) depends on whether the word ends the title
# ("software eng" -> engineer) or modifies the next word ("eng manager" -> engineering).
ABBREVIATIONS: dict[str, str | tuple[str, str]] = {
    "sr": "senior", "snr": "senior", "sen": "senior", "jr": "junior", "jnr": "junior",
    "mgr": "manager", "mngr": "manager", "mgmt": "management", "mngmt": "management",
    "vp": "vice president", "svp": "senior vice president", "evp": "executive vice president",
    "avp": "assistant vice president", "rvp": "regional vice president",
    "ceo": "chief executive officer", "cfo": "chief financial officer",
    "coo": "chief operating officer", "cto": "chief technology officer",
    "cio": "chief information officer", "cmo": "chief marketing officer",
    "cno": "chief nursing officer", "ciso": "chief information security officer",
    "chro": "chief human resources officer", "cro": "chief revenue officer",
    "rn": "registered nurse", "lpn": "licensed practical nurse",
    "lvn": "licensed vocational nurse", "cna": "certified nursing assistant",
    "np": "nurse practitioner", "crna": "certified registered nurse anesthetist",
    "emt": "emergency medical technician", "cma": "certified medical assistant",
    "dir": "director", "eng": ("engineer", "engineering"), "engr": "engineer",
    "engg": "engineering", "dev": ("developer", "development"), "devs": "developers",
    "admin": ("administrator", "administrative"), "asst": "assistant", "assoc": "associate",
    "coord": "coordinator", "coordr": "coordinator", "spec": "specialist",
    "specl": "specialist", "tech": ("technician", "technical"), "techs": "technicians",
    "rep": "representative", "reps": "representatives", "exec": "executive",
    "acct": ("accountant", "account"), "accts": "accounts", "ops": "operations",
    "hr": "human resources", "it": "information technology",
    "qa": "quality assurance", "qc": "quality control", "ui": "user interface",
    "ux": "user experience", "mktg": "marketing", "mkt": "marketing", "mfg": "manufacturing",
    "svc": "service", "svcs": "services", "cust": "customer",
    "csr": "customer service representative", "sw": "software", "swe": "software engineer",
    "sde": "software development engineer", "sre": "site reliability engineer",
    "dba": "database administrator", "cpa": "certified public accountant",
    "cdl": "truck driver", "otr": "over the road", "govt": "government",
    "gov": "government", "natl": "national", "intl": "international", "sys": "systems",
    "dept": "department", "supv": "supervisor", "supvr": "supervisor", "supt": "superintendent",
    "ctr": "center", "maint": "maintenance", "elec": "electrical", "mech": "mechanical",
    "info": "information", "med": "medical", "pharm": "pharmacy", "mgt": "management",
    "hvac": "heating ventilation air conditioning", "bdr": "business development representative",
    "sdr": "sales development representative", "gm": "general manager",
    "pt": "physical therapist", "ot": "occupational therapist",
    "slp": "speech language pathologist",
    "cnc": "computer numerical control", "lmt": "licensed massage therapist",
    "lcsw": "licensed clinical social worker", "pmp": "project manager", "pm": "project manager",
    "ba": "business analyst", "hha": "home health aide", "pca": "personal care aide",
    "ma": "medical assistant", "pa": "physician assistant", "md": "physician",
    "dr": "doctor", "prof": "professor", "asst.": "assistant", "trnr": "trainer",
    "ae": "account executive", "am": "account manager", "cs": "customer service",
    "bi": "business intelligence", "ml": "machine learning", "ai": "artificial intelligence",
    "pr": "public relations", "r&d": "research and development", "k12": "k 12",
    "fp&a": "financial planning and analysis", "f&b": "food and beverage",
    "whse": "warehouse", "wh": "warehouse", "prod": ("production", "production"),
    "ee": "electrical engineer", "me": "mechanical engineer", "ce": "civil engineer",
    "sci": ("scientist", "science"), "proj": "project", "res": "research", "edu": "education",
    "ed": "education", "tchr": "teacher", "instr": "instructor", "pos": "point of sale",
}

# Words that only state seniority or employment terms: they are dropped from the match tokens.
SENIORITY_WORDS: dict[str, str] = {
    "intern": "intern", "interns": "intern", "internship": "intern", "trainee": "intern",
    "extern": "intern", "coop": "intern", "student": "intern", "apprentice": "intern",
    "junior": "entry", "entry": "entry", "graduate": "entry", "grad": "entry",
    "beginner": "entry", "novice": "entry",
    "senior": "senior", "experienced": "senior", "seasoned": "senior",
    "lead": "lead", "principal": "lead", "staff": "lead", "head": "lead", "chief": "lead",
    "manager": "manager", "supervisor": "manager", "foreman": "manager", "managing": "manager",
    "director": "director", "directors": "director",
    "president": "c_level", "owner": "owner", "founder": "owner", "cofounder": "owner",
    "proprietor": "owner", "partner": "owner",
}
ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6}
DROP_FROM_MATCH = frozenset({
    "senior", "junior", "entry", "level", "experienced", "seasoned", "beginner", "novice",
    "mid", "midlevel", "sr", "jr", "and", "of", "the", "for", "in", "a", "an", "to", "with",
    "at", "on", "or", "ii", "iii", "iv", "vi",
})

_NOISE_PHRASES = [
    r"\b(?:100\s*%\s*)?remote(?:ly)?\b", r"\bhybrid\b", r"\bon[\s-]?site\b", r"\bin[\s-]office\b",
    r"\bwork(?:ing)?\s+from\s+home\b", r"\bwfh\b", r"\btelecommut\w*\b", r"\bvirtual\b(?=\W*$)",
    r"\b(?:full|part)[\s-]?time\b", r"\bft\b", r"\bper\s+diem\b", r"\bprn\b",
    r"\b(?:1st|2nd|3rd|first|second|third|day|night|evening|overnight|weekend|graveyard|swing|"
    r"rotating|morning|afternoon)s?\s+shifts?\b",
    r"\bshifts?\s*(?:[1-3]|one|two|three)\b", r"\b(?:nights|weekends|overnights)\b",
    r"\bcontract(?:\s+to\s+(?:hire|perm))?\b(?=\W*$)", r"\btemp(?:orary)?\s+to\s+(?:hire|perm)\b",
    r"\b(?:now\s+)?hiring\b", r"\burgent(?:ly)?\b", r"\bimmediate(?:ly)?(?:\s+(?:start|hire))?\b",
    r"\bapply\s+(?:now|today)\b", r"\bsign[\s-]?on\s+bonus\b", r"\bbonus\b", r"\bw2\b",
    r"\b1099\b", r"\bopen\s+to\s+relocation\b", r"\brelocation\b", r"\bnew\s+grads?\b",
    r"\bno\s+experience(?:\s+(?:needed|required))?\b", r"\bentry[\s-]?level\b",
    r"\bmid[\s-]?level\b", r"\blevel\s*(?:[1-6]|i{1,3}|iv|v)\b", r"\bseasonal\b(?=\W*$)",
    r"\bpermanent\b", r"\bdirect\s+hire\b", r"\bclass\s+[abc]\b", r"\botr\b",
    r"(?<=cdl)[\s-]?[abc]\b", r"\buk\b|\busa\b|\bu\.s\.a?\.?(?=\W|$)",
]
_NOISE = re.compile("|".join(_NOISE_PHRASES), re.IGNORECASE)
# A word that every match of _NOISE contains (lower case): an ASCII title with none of them
# skips that long alternation, which costs a third of the cleaning. Keep in step with
# _NOISE_PHRASES (a test checks that each phrase needs one).
_NOISE_HINTS = (
    "remote", "hybrid", "site", "office", "home", "wfh", "telecommut", "virtual", "time",
    "ft", "diem", "prn", "shift", "night", "weekend", "contract", "temp", "hiring", "urgent",
    "immediate", "apply", "bonus", "w2", "1099", "relocation", "grad", "experience", "level",
    "seasonal", "permanent", "hire", "class", "otr", "cdl", "uk", "usa", "u.s",
)


def _has_noise_hint(text: str) -> bool:
    if not text.isascii():  # IGNORECASE folds some non-ASCII letters to ASCII ones
        return True
    return any(map(text.lower().__contains__, _NOISE_HINTS))  # the loop in C
_PAY = re.compile(
    r"(?:up\s+to\s+|from\s+|starting\s+at\s+)?[$£€]\s?\d[\d,.]*\s*k?"
    r"(?:\s*[-\u2013to]+\s*[$£€]?\s?\d[\d,.]*\s*k?)?"
    r"(?:\s*(?:/|per|an|a)\s*(?:hr|hour|h|yr|year|annum|week|wk|month|mo|day))?"
    r"|\b\d[\d,.]*\s*k?\s*(?:/|per)\s*(?:hr|hour|yr|year|annum|week|wk)\b"
    r"|\b\d{2,3}k\b(?:\s*[-\u2013]\s*\d{2,3}k\b)?",
    re.IGNORECASE,
)
_REQ = re.compile(
    r"\b(?:req(?:uisition)?|job|ref(?:erence)?|posting|position|vacancy|id)\s*"
    r"(?:#|no\.?|num(?:ber)?|id)?\s*[:#]?\s*[a-z]{0,4}[-_]?\d[\w-]*"
    r"|#\s*[a-z]{0,4}[-_]?\d[\w-]*|\b[a-z]{1,4}[-_]?\d{4,}\b|\b\d{5,}\b",
    re.IGNORECASE,
)
_CITY_WORD = r"[A-Z][\w.'\u2019]*"
_CITY_STATE = re.compile(
    rf"(?:[-,|(@\u2013\u2014/]|\bin\b)\s*"
    rf"(?P<city>{_CITY_WORD}(?:\s+{_CITY_WORD}){{0,2}}\s*,\s*)?"
    rf"(?P<abbr>{_STATE_ABBR})\b(?:\s+\d{{5}})?(?=\s*(?:$|[-,|)\u2013\u2014/]))"
)


def _drop_city_state(m: re.Match[str]) -> str:
    # A bare "PA" or "MA" after a dash is more likely a title (physician / medical assistant).
    if m.group("city") is None and m.group("abbr").lower() in ABBREVIATIONS:
        return m.group(0)
    return " , "

_STATE_NAME = re.compile(rf"\b(?:{_STATE_NAMES})\b", re.IGNORECASE)
# Cheap tests that let most titles skip a long pattern (same result, see strip_noise).
_STATE_FIRST = frozenset(name.split()[0] for name in US_STATES.values())
_WORDS = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
_PARENS = re.compile(r"[(\[{]([^)\]}]*)[)\]}]")
_TOKEN = re.compile(r"[^\W_]+(?:[&+#][^\W_]+|\+\+|#)*", re.UNICODE)
_SEGMENT_SPLIT = re.compile(r"\s+[-\u2013\u2014|\u2022\u00b7:]\s+|\s*[|\u2022\u00b7]\s*|\s+@\s+")


@dataclass(frozen=True, slots=True)
class CleanTitle:
    raw: str
    cleaned: str  # lower case, noise removed, abbreviations expanded (seniority words kept)
    tokens: tuple[str, ...]  # the words to match on: `cleaned` less seniority and stop words
    seniority: str | None  # one of SENIORITY_LEVELS, or None when the title does not say
    function: str | None  # gazetteer function words, such as "software" or "human resources"
    alternates: tuple[str, ...] = ()  # parenthesised expansions ("CEO (Chief Executive ...)")


def _ascii_fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c))


def strip_noise(text: str) -> str:
    """Remove pay, requisition ids, locations (states, large US cities), remote, shift and
    employment-type words."""
    if _DIGIT.search(text):  # every pay and requisition pattern holds a digit
        text = _PAY.sub(" ", text)
        text = _REQ.sub(" ", text)
    text = _CITY_STATE.sub(_drop_city_state, text)
    text = strip_places(text)  # before state names: "New York, NY" is a city, not a state
    if not text.isascii() or not _STATE_FIRST.isdisjoint(_WORDS.findall(text.lower())):
        text = _STATE_NAME.sub(" ", text)
    if _has_noise_hint(text):
        text = _NOISE.sub(" ", text)
    return text


def _segments(text: str) -> list[str]:
    """Split "Title - Location - Team" on separators, dropping segments that are only noise."""
    parts = [p for p in _SEGMENT_SPLIT.split(text) if p.strip()]
    if len(parts) <= 1:
        return parts
    kept = [parts[0]]
    for part in parts[1:]:
        words = _TOKEN.findall(strip_noise(part))
        if words:
            kept.append(part)
    return kept


def expand(words: list[str]) -> list[str]:
    """Expand abbreviations; a pair-valued one depends on being the last word."""
    out: list[str] = []
    last = len(words) - 1
    for i, w in enumerate(words):
        exp = ABBREVIATIONS.get(w)
        if exp is None:
            out.append(w)
        elif isinstance(exp, tuple):
            out.extend((exp[0] if i == last else exp[1]).split())
        else:
            out.extend(exp.split())
    return out


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; `&`, `+`, `#` inside words are kept (r&d, c++, c#)."""
    text = text.lower().replace("'", "").replace("\u2019", "").replace(".", " ")
    words = _TOKEN.findall(text)
    return [w[:-1] if w.endswith("&") else w for w in words]


_LEVEL_RANK = {level: i for i, level in enumerate(SENIORITY_LEVELS)}


_VICE_PRESIDENT = re.compile(r"\bvice president\b")
_C_LEVEL = re.compile(r"\bchief \w+(?: \w+)? officer\b|\bpresident\b")
_HEAD_OF = re.compile(r"\bhead of\b")
_LEVEL_N = re.compile(r"\blevel ([1-6])\b")


def parse_seniority(words: list[str]) -> str | None:
    """The highest seniority level that the (expanded) words state, or None."""
    rank = _LEVEL_RANK
    found: list[str] = []
    joined = " ".join(words)
    # Each pattern runs only when the words it needs are there (a substring test is cheap).
    if "vice president" in joined and _VICE_PRESIDENT.search(joined):
        found.append("vp")
        joined = joined.replace("vice president", " ")
    if ("president" in joined or "officer" in joined) and _C_LEVEL.search(joined):
        found.append("c_level")
    if "head of" in joined and _HEAD_OF.search(joined):
        found.append("director")
    for w in joined.split():
        level = SENIORITY_WORDS.get(w)
        if level is not None and level != "c_level":
            found.append(level)
    numbered = [ROMAN[w] for w in words[1:] if w in ROMAN]
    if "level " in joined:
        numbered += [int(n) for n in _LEVEL_N.findall(joined)]
    if numbered:
        n = max(numbered)
        found.append("entry" if n == 1 else "mid" if n == 2 else "senior" if n == 3 else "lead")
    if not found:
        return None
    return max(found, key=rank.__getitem__)


def detect_function(words: list[str], gazetteer: Mapping[str, str]) -> str | None:
    """The IPOD function (FUN) words of the title, in order, as one phrase."""
    fun = [w for w in words if gazetteer.get(w) == "FUN"]
    return " ".join(dict.fromkeys(fun)) or None


def match_tokens(words: list[str]) -> tuple[str, ...]:
    """Expanded words less seniority, stop and repeated words (all kept if nothing is left).

    "X of Y" and "X for Y" become "Y X", so that the last word is the head noun: "director of
    nursing" -> "nursing director".
    """
    for sep in ("of", "for"):
        if sep in words[1:-1]:
            i = words.index(sep, 1)
            words = words[i + 1:] + words[:i]
            break
    kept = [w for w in words if w not in DROP_FROM_MATCH and (len(w) > 1 or w.isdigit())]
    if kept and kept[-1] in ROMAN:  # "Accountant I"
        kept = kept[:-1]
    kept = list(dict.fromkeys(kept))
    return tuple(kept) if kept else tuple(words)


_DANGLING = frozenset({"in", "at", "for", "of", "and", "with", "to", "or", "the", "a"})


def index_keys(title: str) -> list[str]:
    """The match keys of a published title (no noise to remove): its words and those of each
    parenthesised part, such as "ceo" and "chief executive officer". Fast: used at index time."""
    text = title if title.isascii() else _ascii_fold(title)
    keys: list[str] = []
    if "(" in text:
        for part in _PARENS.findall(text):
            words = tokenize(part)
            if words:
                keys.append(" ".join(match_tokens(expand(words))))
        text = _PARENS.sub(" ", text)
    words = tokenize(text)
    if words:
        keys.insert(0, " ".join(match_tokens(expand(words))))
    return list(dict.fromkeys(keys))


def clean_title(raw: str, gazetteer: Mapping[str, str] | None = None,
                noise: bool = True) -> CleanTitle:
    """Clean one raw title. Never raises; an empty or noise-only title gives empty tokens.

    `noise=False` skips the noise rules (pay, ids, locations, shifts): the resolver uses it
    for the published titles it indexes, which carry none.
    """
    text = raw[:MAX_CHARS] if raw else ""
    if not text.isascii():  # folding is the identity on ASCII: skip its two normalizations
        text = _ascii_fold(text)
    alternates: list[str] = []
    inner = [m.group(1) for m in _PARENS.finditer(text)]
    text = _PARENS.sub(" , ", text)
    if noise:
        text = _CITY_STATE.sub(_drop_city_state, text)
        text = " , ".join(_segments(text)) if text.strip() else text
    stripped = strip_noise(text) if noise else text
    words = tokenize(stripped)
    if not words:  # everything was noise: fall back to the plain words
        words = tokenize(text)
    for part in inner:
        part_words = tokenize(strip_noise(", " + part) if noise else part)
        if part_words:
            if words:
                alternates.append(" ".join(expand(part_words)))
            else:
                words = part_words
    expanded = expand(words)
    while len(expanded) > 1 and expanded[-1] in _DANGLING:
        expanded.pop()
    expanded = list(dict.fromkeys(expanded)) if len(set(expanded)) < len(expanded) else expanded
    # Seniority is read before the noise went: "entry level", "level 2", "new grad".
    seniority = parse_seniority(expand(tokenize(text))) or parse_seniority(expanded)
    tokens = match_tokens(expanded)
    function = detect_function(expanded, gazetteer) if gazetteer else None
    return CleanTitle(raw=raw, cleaned=" ".join(expanded), tokens=tokens, seniority=seniority,
                      function=function, alternates=tuple(alternates))
