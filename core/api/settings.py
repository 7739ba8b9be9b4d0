"""The API's limits, from the environment of `tokenworks serve` (defaults suit one box)."""

from __future__ import annotations

import os
from dataclasses import dataclass

RATE_ENV, BURST_ENV, BODY_ENV = "TOKENWORKS_API_RATE", "TOKENWORKS_API_BURST", \
    "TOKENWORKS_API_MAX_BODY"


@dataclass(frozen=True)
class ApiSettings:
    rate: float = 5.0  # requests per second per key, on average
    burst: int = 30  # requests per key at once
    max_body: int = 1024 * 1024  # bytes

    @classmethod
    def from_env(cls) -> ApiSettings:
        try:
            return cls(rate=float(os.environ.get(RATE_ENV, cls.rate)),
                       burst=int(os.environ.get(BURST_ENV, cls.burst)),
                       max_body=int(os.environ.get(BODY_ENV, cls.max_body)))
        except ValueError as error:
            raise ValueError(f"{RATE_ENV}, {BURST_ENV} and {BODY_ENV} must be numbers: "
                             f"{error}") from None
