"""The technical state of a ticker: indicator values at the last bar, readable signals, and
what was wrong with the data (halts, missing sessions, too little history). Pure: no I/O."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quartz_cli.domain.bars import Period
from quartz_cli.domain.documents import Document
from quartz_cli.indicators.fibonacci import retracement_levels

RSI_OVERBOUGHT = 70.0
RSI_OVERSOLD = 30.0
# Swing lookback (bars) for Fibonacci levels per period: ~3 months, 1 year, 2 years.
SWING_LOOKBACK: dict[Period, int] = {Period.DAY: 60, Period.WEEK: 52, Period.MONTH: 24}
# History requested per period, in calendar days (enough for every indicator's warm-up).
HISTORY_DAYS: dict[Period, int] = {Period.DAY: 400, Period.WEEK: 3 * 366, Period.MONTH: 10 * 366}

INDICATOR_SERIES: dict[str, tuple[str, ...]] = {
    "sma5": ("sma5",), "sma10": ("sma10",), "sma20": ("sma20",), "rsi14": ("rsi14",),
    "macd": ("macd", "macd_signal", "macd_hist"),
    "bollinger": ("bb_upper", "bb_middle", "bb_lower"),
    "fibonacci": ("swing_high", "swing_low"),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Insufficient(_Model):
    """An indicator that has no value yet: it needs more bars than the series has."""

    indicator: str
    needed: int
    available: int


class DataIssues(_Model):
    """What was wrong with the bars and how it was handled: halted sessions (flat,
    zero-volume bars) and sessions missing from the broker's answer are left out of the
    series, so indicators run over traded bars only."""

    halted_sessions: list[date] = []
    missing_sessions: list[date] = []
    calendar_checked: bool = True

    @property
    def any(self) -> bool:
        return bool(self.halted_sessions or self.missing_sessions)

    def describe(self) -> str:
        parts = []
        if self.halted_sessions:
            parts.append(f"{len(self.halted_sessions)} halted session(s) skipped "
                         f"(last {self.halted_sessions[-1].isoformat()})")
        if self.missing_sessions:
            parts.append(f"{len(self.missing_sessions)} missing bar(s) skipped "
                         f"(last {self.missing_sessions[-1].isoformat()})")
        return "; ".join(parts)


class IndicatorValues(_Model):
    """Values at the last bar; None when the indicator has too little history."""

    sma5: float | None = None
    sma10: float | None = None
    sma20: float | None = None
    rsi14: float | None = None
    macd: float | None = None
    macd_signal: float | None = None
    macd_hist: float | None = None
    bb_upper: float | None = None
    bb_middle: float | None = None
    bb_lower: float | None = None
    swing_high: float | None = None
    swing_low: float | None = None


class Signals(_Model):
    """Readable reading of the values; None where the indicator is insufficient."""

    rsi: Literal["overbought", "oversold", "neutral"] | None = None
    macd_cross: Literal["bullish_cross", "bearish_cross", "above_signal",
                        "below_signal"] | None = None
    macd_histogram: Literal["rising", "falling", "flat"] | None = None
    bands: Literal["above_upper", "upper_half", "lower_half", "below_lower"] | None = None
    percent_b: float | None = None
    ma_alignment: Literal["bullish", "bearish", "mixed"] | None = None
    fib_nearest: str | None = None
    fib_nearest_price: float | None = None

    def phrases(self) -> list[str]:
        """Short human phrases for tables and reports."""
        out = []
        if self.rsi:
            out.append(f"RSI {self.rsi}")
        if self.macd_cross:
            out.append("MACD " + self.macd_cross.replace("_", " "))
        if self.macd_histogram:
            out.append(f"histogram {self.macd_histogram}")
        if self.bands:
            out.append("price " + self.bands.replace("_", " ") + " band")
        if self.ma_alignment:
            out.append(f"MAs {self.ma_alignment}")
        if self.fib_nearest is not None:
            out.append(f"near Fib {self.fib_nearest}%")
        return out


class PeriodAnalysis(_Model):
    """One ticker at one bar period."""

    period: Period
    as_of: date
    bars: int
    last_close: int
    values: IndicatorValues
    signals: Signals
    fibonacci_lookback: int
    fibonacci_levels: dict[str, float] = {}
    insufficient: list[Insufficient] = []
    data_issues: DataIssues = DataIssues()


class TechnicalResult(_Model):
    """The analysis of one ticker: every requested period, or why it failed."""

    code: str
    name: str = ""
    ok: bool
    error: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    exit_code: int | None = Field(default=None, description="the failure's exit code "
                                  "(errors.py): 4 an unknown ticker, 5 the broker, ...")
    periods: dict[str, PeriodAnalysis] = {}
    data_source: str = ""
    cached: bool = False


class TechnicalDocument(Document):
    """The stored analysis of one ticker: an entry of a `TechnicalSnapshot`.

    Readers treat a missing or stale analysis as "skip the ticker"."""

    schema_version: int = 1
    code: str
    name: str
    market_time: datetime
    data_source: str
    periods: dict[str, PeriodAnalysis]


class TechnicalSnapshot(Document):
    """`technical/runs/…`: the newest stored analysis of every ticker analysed so far, keyed
    by code: a run's own and those carried over from the snapshot before it."""

    schema_version: int = 1
    entries: dict[str, TechnicalDocument]


def derive_signals(series: dict[str, list[float]], close: float, fib_levels: dict[str, float],
                   ) -> Signals:
    """Signals from the last two bars of each series (NaN = not yet defined)."""
    def last2(name: str) -> tuple[float | None, float | None]:
        s = series.get(name) or []
        a = s[-2] if len(s) >= 2 and not math.isnan(s[-2]) else None
        b = s[-1] if s and not math.isnan(s[-1]) else None
        return a, b

    sig = Signals()
    _, rsi = last2("rsi14")
    if rsi is not None:
        sig.rsi = ("overbought" if rsi >= RSI_OVERBOUGHT else
                   "oversold" if rsi <= RSI_OVERSOLD else "neutral")
    h_prev, hist = last2("macd_hist")
    if hist is not None:
        if h_prev is not None and h_prev <= 0 < hist:
            sig.macd_cross = "bullish_cross"
        elif h_prev is not None and h_prev >= 0 > hist:
            sig.macd_cross = "bearish_cross"
        else:
            sig.macd_cross = "above_signal" if hist > 0 else "below_signal"
        if h_prev is not None:
            sig.macd_histogram = ("rising" if hist > h_prev else
                                  "falling" if hist < h_prev else "flat")
    _, up = last2("bb_upper")
    _, lo = last2("bb_lower")
    _, mid = last2("bb_middle")
    if up is not None and lo is not None and mid is not None:
        sig.percent_b = (close - lo) / (up - lo) if up > lo else 0.5
        sig.bands = ("above_upper" if close > up else "below_lower" if close < lo else
                     "upper_half" if close >= mid else "lower_half")
    _, s5 = last2("sma5")
    _, s10 = last2("sma10")
    _, s20 = last2("sma20")
    if s5 is not None and s10 is not None and s20 is not None:
        sig.ma_alignment = ("bullish" if s5 > s10 > s20 else
                            "bearish" if s5 < s10 < s20 else "mixed")
    if fib_levels:
        name, price = min(fib_levels.items(), key=lambda kv: abs(kv[1] - close))
        sig.fib_nearest, sig.fib_nearest_price = name, price
    return sig


def fib_levels_at(swing_high: float | None, swing_low: float | None) -> dict[str, float]:
    if swing_high is None or swing_low is None:
        return {}
    return retracement_levels(swing_high, swing_low)
