"""The technical agent: bars from the broker → indicators (native core) → signals, for many
tickers and periods, cached for five minutes and published to the store under
`technical/<CODE>/` (pointer `technical/<CODE>/latest.json`).

The portfolio agent calls `analyze_tickers`; readers of the store use `read_technical`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from quartz_cli.agents.documents import Loaded, publish, read_latest
from quartz_cli.domain.bars import Bar, Period
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.documents import utcnow
from quartz_cli.domain.krx import kst_date, normalize_ticker
from quartz_cli.domain.technical import (
    HISTORY_DAYS,
    INDICATOR_SERIES,
    SWING_LOOKBACK,
    IndicatorValues,
    Insufficient,
    PeriodAnalysis,
    TechnicalDocument,
    TechnicalResult,
    derive_signals,
    fib_levels_at,
    separate_gaps,
)
from quartz_cli.errors import BrokerError, QuartzError
from quartz_cli.indicators import native
from quartz_cli.indicators.spec import SERIES, bars_needed
from quartz_cli.ports import MarketData, Store

log = logging.getLogger(__name__)

CACHE_TTL_S = 300
PREFIX = "technical"
CONCURRENCY = 4
CHART_BARS = 120


class ResultCache(Protocol):
    """A key-value cache with expiry (diskcache.Cache satisfies it)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, expire: float | None = None) -> bool: ...


@dataclass
class ChartSeries:
    """The last bars of one period with their indicator series, for plotting."""

    days: list[date]
    close: np.ndarray
    series: dict[str, np.ndarray] = field(default_factory=dict)


def document_prefix(code: str) -> str:
    return f"{PREFIX}/{code}"


def analyse_bars(bars: list[Bar], period: Period, sessions: list[date] | None,
                 ) -> tuple[PeriodAnalysis, ChartSeries]:
    """Indicators and signals over one ticker's bars (oldest first) of one period."""
    traded, issues = separate_gaps(bars, sessions)
    if not traded:
        raise QuartzError(f"no traded {period.value} bars in the range")
    lookback = SWING_LOOKBACK[period]
    close = np.array([b.close for b in traded], dtype=np.float64)
    high = np.array([b.high for b in traded], dtype=np.float64)
    low = np.array([b.low for b in traded], dtype=np.float64)
    out = native.technical_batch(close, high, low, swing_lookback=lookback)
    series = {name: out[name][0] for name in SERIES}
    n = len(traded)
    insufficient = []
    for indicator, names in INDICATOR_SERIES.items():
        need = bars_needed(names[0], lookback)
        if n < need:
            insufficient.append(Insufficient(indicator=indicator, needed=need, available=n))
    last = {name: (None if np.isnan(s[-1]) else float(s[-1])) for name, s in series.items()}
    levels = fib_levels_at(last["swing_high"], last["swing_low"])
    tail = {name: s[-2:].tolist() for name, s in series.items()}
    signals = derive_signals(tail, float(close[-1]), levels)
    analysis = PeriodAnalysis(
        period=period, as_of=traded[-1].day, bars=n, last_close=traded[-1].close,
        values=IndicatorValues(**last), signals=signals, fibonacci_lookback=lookback,
        fibonacci_levels=levels, insufficient=insufficient, data_issues=issues,
    )
    keep = slice(max(0, n - CHART_BARS), n)
    chart = ChartSeries(days=[b.day for b in traded[keep]], close=close[keep],
                        series={k: v[keep] for k, v in series.items()})
    return analysis, chart


@dataclass
class TechnicalAgent:
    """Analyses tickers with bars from a `MarketData` port; `cache` and `calendar` are
    optional."""

    market: MarketData
    store: Store | None
    env: str
    cache: ResultCache | None = None
    calendar: KrxCalendar | None = None
    charts: dict[tuple[str, str], ChartSeries] = field(default_factory=dict)

    async def _period(self, code: str, period: Period, today: date, want_chart: bool,
                      ) -> tuple[str, PeriodAnalysis, bool]:
        key = f"technical|{code}|{period.value}|{today.isoformat()}"
        if self.cache is not None and not want_chart:
            hit = self.cache.get(key)
            if hit is not None:
                name, raw = hit
                return name, PeriodAnalysis.model_validate_json(raw), True
        start = today - timedelta(days=HISTORY_DAYS[period])
        chart = await self.market.daily_bars(code, start, today, period)
        sessions = (self.calendar.between(start, today)
                    if self.calendar is not None and period is Period.DAY else None)
        if not chart.bars:
            raise BrokerError(f"{code}: the broker returned no {period.value} bars")
        analysis, series = analyse_bars(chart.bars, period, sessions)
        self.charts[(code, period.value)] = series
        if self.cache is not None:
            self.cache.set(key, (chart.name, analysis.model_dump_json()), expire=CACHE_TTL_S)
        return chart.name, analysis, False

    async def analyze(self, code: str, periods: Sequence[Period], now: datetime, *,
                      want_chart: bool = False) -> TechnicalResult:
        """One ticker, every period (not yet published: see `publish`); a failure is
        returned as a failed result, not raised."""
        today = kst_date(now)
        source = self.market.source
        try:
            out: dict[str, PeriodAnalysis] = {}
            name = ""
            cached = True
            for period in periods:
                name_p, analysis, hit = await self._period(code, period, today, want_chart)
                name = name or name_p
                cached = cached and hit
                out[period.value] = analysis
            return TechnicalResult(code=code, name=name, ok=True, periods=out,
                                   data_source=source, cached=cached)
        except QuartzError as exc:
            log.info("technical analysis of %s failed: %s", code, exc.message)
            return TechnicalResult(code=code, ok=False, error=exc.message,
                                   error_type=type(exc).__name__,
                                   error_code=getattr(exc, "code", None),
                                   exit_code=exc.exit_code, data_source=source)

    async def publish(self, result: TechnicalResult, now: datetime) -> None:
        """Publish a successful `result` (analysed at market time `now`) under
        `technical/<CODE>/`, in a worker thread (the store's calls block); nothing without a
        store or for a failed result."""
        if self.store is None or not result.ok:
            return
        doc = TechnicalDocument(produced_at=utcnow(), env=self.env, code=result.code,
                                name=result.name, market_time=now,
                                data_source=result.data_source, periods=result.periods)
        await asyncio.to_thread(publish, self.store, document_prefix(result.code), doc)


async def analyze_tickers(market: MarketData, store: Store | None, tickers: Sequence[str],
                          periods: Sequence[Period], now: datetime, *, env: str = "local",
                          cache: ResultCache | None = None, calendar: KrxCalendar | None = None,
                          on_done: Callable[[TechnicalResult], None] | None = None,
                          agent: TechnicalAgent | None = None,
                          want_chart: bool = False) -> list[TechnicalResult]:
    """Analyse `tickers` (validated KRX codes) for `periods` as of market time `now`.

    Results come back in the order of `tickers`; a ticker that fails (unknown code, broker
    error, no bars) is a result with ok=False and the others still run. Each success is
    published to `store` under `technical/<CODE>/`. Raises InputError for a malformed code
    before any call. With `want_chart`, the cache is bypassed and `agent.charts` keeps the
    last bars' series for plotting."""
    codes = [normalize_ticker(t) for t in tickers]
    agent = agent or TechnicalAgent(market, store, env, cache, calendar)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(code: str) -> TechnicalResult:
        async with gate:
            result = await agent.analyze(code, periods, now, want_chart=want_chart)
        # Published outside the gate: the store's latency does not hold up the next ticker's
        # bars.
        await agent.publish(result, now)
        if on_done is not None:
            on_done(result)
        return result

    return list(await asyncio.gather(*(one(c) for c in codes)))


def read_technical(store: Store, code: str, *, now: datetime | None = None,
                   ) -> Loaded[TechnicalDocument] | None:
    """The latest stored analysis of `code` with its age (None when there is none)."""
    return read_latest(store, document_prefix(normalize_ticker(code)), TechnicalDocument, now=now)
