"""US city names in job titles ("Nurse - Dallas", "Software Engineer Dallas TX"): found and cut.

The raw data has no list of places, so this is a small curated one: the largest US cities by
population (Census estimates) and the nicknames postings use for their metros. A name is cut
only where it cannot be part of the job: before a state ("Dallas TX", "Dallas, Texas"), after
a separator or "in" at the end of a segment ("- Dallas", "in Houston"), or as the last word
after the job itself ("Cashier Houston"). A city first in the title is left alone, as it is
often an employer ("Houston Methodist RN", "Dallas Cowboys Cheerleader"). Names that are
also common words or surnames (Mobile, Jackson, Independence) are left out of the list.
"""

from __future__ import annotations

import re

from .functions.states import STATES

CITIES = (
    "New York City", "New York", "Los Angeles", "Chicago", "Houston", "Phoenix",
    "Philadelphia", "San Antonio", "San Diego", "Dallas", "Fort Worth", "Jacksonville",
    "Austin", "San Jose", "Charlotte", "Columbus", "Indianapolis", "San Francisco", "Seattle",
    "Denver", "Oklahoma City", "Nashville", "Washington DC", "Washington D.C.", "El Paso",
    "Las Vegas", "Boston", "Detroit", "Portland", "Louisville", "Memphis", "Baltimore",
    "Milwaukee", "Albuquerque", "Tucson", "Fresno", "Sacramento", "Mesa", "Atlanta",
    "Kansas City", "Colorado Springs", "Omaha", "Raleigh", "Miami", "Virginia Beach",
    "Long Beach", "Oakland", "Minneapolis", "Bakersfield", "Tulsa", "Tampa", "Arlington",
    "Wichita", "Aurora", "Cleveland", "New Orleans", "Honolulu", "Anaheim", "Orlando",
    "Lexington", "Stockton", "Riverside", "Irvine", "Corpus Christi", "Newark", "Santa Ana",
    "Cincinnati", "Pittsburgh", "Saint Paul", "St. Paul", "St Paul", "Saint Louis",
    "St. Louis", "St Louis", "Greensboro", "Durham", "Jersey City", "Plano", "Anchorage",
    "Buffalo", "Fort Wayne", "Chandler", "Scottsdale", "Reno", "Salt Lake City", "Richmond",
    "Boise", "Birmingham", "Rochester", "Des Moines", "Spokane", "Hartford", "Providence",
    "Charleston", "Tallahassee", "Knoxville", "Chattanooga", "Grand Rapids", "Ann Arbor",
    "Palo Alto", "Mountain View", "Sunnyvale", "Santa Clara", "Cambridge", "Brooklyn",
    "Manhattan", "Queens", "the Bronx", "Bronx", "Silicon Valley", "Bay Area", "Twin Cities",
    "Tri-State Area", "NYC", "DFW", "LA Metro",
)
_NAMES = "|".join(re.escape(c).replace(r"\ ", r"\s+")
                  for c in sorted(CITIES, key=len, reverse=True))
_CITY = (rf"(?i:(?:greater\s+)?(?:{_NAMES})(?:\s+bay)?"
         r"(?:\s+(?:metro(?:politan)?\s+)?area|\s+metro)?)")
_ABBR = "|".join(STATES)  # upper case only: "in" must not read as Indiana
_STATE = "|".join(sorted(STATES.values(), key=len, reverse=True))
_END = r"(?=\s*(?:$|[-,|)(\u2013\u2014/]))"  # the end of the title or of a segment

# "Dallas TX", "Dallas, Texas", "New York, NY 10001", anywhere.
_BEFORE_STATE = re.compile(
    rf"(?<![\w.])(?:in\s+)?{_CITY}\s*,?\s*(?:(?:{_ABBR})\b(?:\s+\d{{5}})?|(?i:{_STATE})\b)"
)
# "- Dallas", ", Houston metro", "in Austin", "(Chicago)": a separator, then only the city.
_AFTER_SEPARATOR = re.compile(
    rf"(?:[-,|(@\u2013\u2014/]|\b(?i:in|at)\b)\s*{_CITY}{_END}"
)
# "Cashier Houston": the city as the last word of a title that names a job before it.
_LAST = re.compile(rf"(?<=[a-z0-9)])\s+{_CITY}\s*$", re.IGNORECASE)


# Every city pattern starts with one of these words (or "greater"): a title with none of
# them, most titles, skips the three long alternations below.
_FIRST_WORDS = frozenset({re.match(r"\w+", c).group(0).lower() for c in CITIES} | {"greater"})
_WORD = re.compile(r"\w+")


def strip_places(text: str) -> str:
    """Cut city names (and the state after them) where they are the job's location."""
    if _FIRST_WORDS.isdisjoint(_WORD.findall(text.lower())):
        return text
    text = _BEFORE_STATE.sub(" , ", text)
    text = _AFTER_SEPARATOR.sub(" , ", text)
    return _LAST.sub(" ", text)
