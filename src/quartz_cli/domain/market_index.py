"""Market index bars (KOSPI and the like): a backtest's benchmark. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

#: KIS's sector (업종) codes of the indexes a backtest may take as its benchmark.
INDEXES = {"kospi": ("0001", "KOSPI"), "kosdaq": ("1001", "KOSDAQ"),
           "kospi200": ("2001", "KOSPI 200")}


@dataclass(frozen=True)
class IndexBar:
    """One session of an index: points with two decimals; volume in shares and traded
    value in won (KIS's units for the index chart are not confirmed; only the closes are
    used)."""

    day: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int = 0
    value: int = 0


def index_fingerprint(bars: Sequence[IndexBar]) -> str:
    """A hash of the bars (what a stored run says it compared against)."""
    h = hashlib.sha256()
    for b in bars:
        h.update(f"{b.day},{b.open},{b.high},{b.low},{b.close};".encode())
    return h.hexdigest()[:16]
