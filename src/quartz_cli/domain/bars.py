"""Price bars (daily, weekly, monthly) as typed values, and resampling daily bars into
weeks and months. Prices in integer won, volume in shares."""

from __future__ import annotations

from datetime import date, timedelta
from enum import Enum
from typing import NamedTuple


class Period(str, Enum):
    """Bar period. The values key the technical documents' periods."""

    DAY = "D"
    WEEK = "W"
    MONTH = "M"


class Bar(NamedTuple):
    """One OHLCV bar. For weeks and months, `day` is the first session the bar covers.

    A named tuple, not a frozen dataclass: a decide over the whole market builds 760,000 of
    them from the bar files, and a tuple is built in a third of the time."""

    day: date
    open: int
    high: int
    low: int
    close: int
    volume: int
    value: int = 0

    @property
    def halted(self) -> bool:
        """No trade happened: KRX reports a suspended session as a flat, zero-volume bar."""
        return self.volume == 0 and self.open == self.high == self.low == self.close


def period_key(day: date, period: Period) -> tuple[int, int]:
    """The week (ISO year, ISO week) or month (year, month) a session belongs to."""
    if period is Period.WEEK:
        iso = day.isocalendar()
        return (iso[0], iso[1])
    if period is Period.MONTH:
        return (day.year, day.month)
    return (day.toordinal(), 0)


def period_start(day: date, period: Period) -> date:
    """The first calendar day of the week (Monday) or month that `day` falls in."""
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    if period is Period.MONTH:
        return day.replace(day=1)
    return day


def resample(daily: list[Bar], period: Period) -> list[Bar]:
    """Aggregate oldest-first daily bars into `period` bars: first open, highest high, lowest
    low, last close, summed volume and value; dated by the first session of each group."""
    if period is Period.DAY:
        return list(daily)
    out: list[Bar] = []
    group: list[Bar] = []
    for bar in daily:
        if group and period_key(bar.day, period) != period_key(group[0].day, period):
            out.append(_merge(group))
            group = []
        group.append(bar)
    if group:
        out.append(_merge(group))
    return out


def _merge(group: list[Bar]) -> Bar:
    return Bar(
        day=group[0].day,
        open=group[0].open,
        high=max(b.high for b in group),
        low=min(b.low for b in group),
        close=group[-1].close,
        volume=sum(b.volume for b in group),
        value=sum(b.value for b in group),
    )
