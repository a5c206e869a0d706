"""The simulator's market indexes: a SYNTHETIC, seeded daily path per index (KOSPI, KOSDAQ,
KOSPI 200), stable as days pass (each session draws the next numbers of the index's own
stream), in index points with two decimals. Not derived from the sample market's stocks:
it stands in for the index a backtest compares against, and says nothing about it."""

from __future__ import annotations

import hashlib
import math
from datetime import date
from decimal import Decimal

import numpy as np

from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.market_index import IndexBar
from quartz_cli.sim.market import HISTORY_START

#: KIS 업종 code → (name, level on the first session, daily volatility).
INDEXES = {"0001": ("종합", 2950.0, 0.010), "1001": ("코스닥", 1030.0, 0.013),
           "2001": ("코스피200", 395.0, 0.011)}
_CENT = Decimal("0.01")


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


class SampleIndex:
    """Daily bars of the simulated indexes from HISTORY_START, derived from `seed`."""

    def __init__(self, calendar: KrxCalendar, seed: int) -> None:
        self.calendar = calendar
        self.seed = seed

    def name(self, code: str) -> str | None:
        known = INDEXES.get(code)
        return known[0] if known else None

    def bars(self, code: str, last: date) -> list[IndexBar]:
        """Completed sessions from HISTORY_START through `last` (inclusive), oldest first;
        KeyError for an index the simulator does not know."""
        _, level, sigma = INDEXES[code]
        days = self.calendar.between(HISTORY_START, last)
        draws = np.random.default_rng(_seed(self.seed, "index", code)).standard_normal(
            size=(len(days), 4))
        out = []
        prev = level
        for day, (z_close, z_open, z_high, z_low) in zip(days, draws, strict=True):
            open_ = prev * math.exp(0.3 * sigma * z_open)
            close = prev * math.exp(-0.5 * sigma * sigma + sigma * z_close)
            high = max(open_, close) * math.exp(abs(0.4 * sigma * z_high))
            low = min(open_, close) * math.exp(-abs(0.4 * sigma * z_low))
            o, h, lo, c = (Decimal(x).quantize(_CENT) for x in (open_, high, low, close))
            out.append(IndexBar(day, o, h, lo, c, volume=int(4e8 * math.exp(0.3 * z_high)),
                                value=int(9e12 * math.exp(0.3 * z_low))))
            prev = close
        return out
