"""The state field: a US state or territory by USPS code or name, checked at validation.

The list is the 54 areas OEWS publishes state estimates for (50 states, DC, Guam, Puerto
Rico, the Virgin Islands). It is written out rather than read from the data so validating a
request never waits for the data to load; a test checks it equals the areas in wages.parquet.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

STATES: dict[str, str] = {
    "AK": "Alaska", "AL": "Alabama", "AR": "Arkansas", "AZ": "Arizona", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DC": "District of Columbia", "DE": "Delaware",
    "FL": "Florida", "GA": "Georgia", "GU": "Guam", "HI": "Hawaii", "IA": "Iowa", "ID": "Idaho",
    "IL": "Illinois", "IN": "Indiana", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "MA": "Massachusetts", "MD": "Maryland", "ME": "Maine", "MI": "Michigan", "MN": "Minnesota",
    "MO": "Missouri", "MS": "Mississippi", "MT": "Montana", "NC": "North Carolina",
    "ND": "North Dakota", "NE": "Nebraska", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NV": "Nevada", "NY": "New York", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "PR": "Puerto Rico", "RI": "Rhode Island",
    "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah",
    "VA": "Virginia", "VI": "Virgin Islands", "VT": "Vermont", "WA": "Washington",
    "WI": "Wisconsin", "WV": "West Virginia", "WY": "Wyoming",
}
# Common spellings people type that are not the OEWS area name.
ALIASES = {
    "washington dc": "DC", "washington d c": "DC", "d c": "DC", "dist of columbia": "DC",
    "us virgin islands": "VI", "u s virgin islands": "VI", "virgin islands us": "VI",
    "puerto rico pr": "PR",
}
_BY_NAME = {name.lower(): code for code, name in STATES.items()}


def _key(text: str) -> str:
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def normalize_state(value: object) -> object:
    """"ca", "CA", "California", " california " -> "CA"; anything else is a clear error."""
    if value is None or not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None  # an empty form field means "no state"
    if len(text) > 40:
        raise ValueError("not a US state or territory: use a two-letter USPS code such as "
                         "'CA' or a name such as 'California'")
    code = text.upper().replace(".", "")
    if code in STATES:
        return code
    key = _key(text)
    found = _BY_NAME.get(key) or ALIASES.get(key)
    if found:
        return found
    raise ValueError(
        f"{text!r} is not a US state or territory with OEWS data: use a two-letter USPS code "
        "(e.g. 'CA', 'NY', 'DC', 'PR') or a full name (e.g. 'California', 'District of "
        "Columbia'); the 50 states, DC, Guam, Puerto Rico and the Virgin Islands are covered"
    )


State = Annotated[
    str | None,
    BeforeValidator(normalize_state),
    Field(default=None, examples=["CA", "Texas"],
          description="Optional US state or territory: a USPS code ('CA') or a name "
                      "('California'). Adds that state's employment and wages."),
]
