"""The technical agent: bars (from the bar store, which the runtime's market data is: fresh
bars every run for the cost of the new sessions) → indicators for every ticker in one native
batch → signals, for many tickers and periods, cached for five minutes and published to the
store as one snapshot per run (`agents/technical_snapshot.py`, pointer
`technical/runs/latest.json`).

The portfolio agent calls `analyze_tickers`; readers of the store use `read_technical`."""

from __future__ import annotations

import asyncio
import logging
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from quartz_cli.agents.documents import Loaded, prune_dated
from quartz_cli.agents.technical_snapshot import publish_snapshot, read_analyses
from quartz_cli.domain.bars import Bar, Period
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.documents import utcnow
from quartz_cli.domain.krx import kst_date, normalize_ticker
from quartz_cli.domain.technical import (
    HISTORY_DAYS,
    INDICATOR_SERIES,
    SWING_LOOKBACK,
    DataIssues,
    IndicatorValues,
    Insufficient,
    PeriodAnalysis,
    TechnicalDocument,
    TechnicalResult,
    derive_signals,
    fib_levels_at,
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
# Rows (tickers) per native call (see analyse_prepared).
BATCH_ROWS = 1024


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


def _cache_key(code: str, period: Period, today: date) -> str:
    return f"technical|{code}|{period.value}|{today.isoformat()}"


@dataclass(frozen=True)
class PeriodBars:
    """One ticker's bars of one period, ready to analyse."""

    bars: list[Bar]
    period: Period
    sessions: list[date] | None


def analyse_bars(bars: list[Bar], period: Period, sessions: list[date] | None,
                 ) -> tuple[PeriodAnalysis, ChartSeries]:
    """Indicators and signals over one ticker's bars (oldest first) of one period."""
    out = analyse_many([PeriodBars(bars, period, sessions)])[0]
    if isinstance(out, QuartzError):
        raise out
    analysis, chart = out
    assert chart is not None
    return analysis, chart


@dataclass(frozen=True)
class Prepared:
    """One ticker's traded bars of one period as the kernel takes them (float64 columns),
    with what the analysis reads from the bars themselves: a few kilobytes in place of a
    list of Bar objects, so that a whole universe fits in memory until its one batch call."""

    period: Period
    close: np.ndarray
    high: np.ndarray
    low: np.ndarray
    last_day: date
    last_close: int
    issues: DataIssues
    # The last CHART_BARS traded days, when a chart is drawn.
    days: list[date] | None


def prepare(item: PeriodBars, *, chart: bool = True) -> Prepared | QuartzError:
    """`item`'s traded bars in columns: halted sessions (flat, zero-volume bars) set apart and
    sessions the broker left out listed; a QuartzError when none traded. Column-wise, as a
    whole-market decide prepares 760,000 bars."""
    bars = item.bars
    days, opens, highs, lows, closes, volumes, _ = zip(*bars, strict=True) if bars else ((),) * 7
    o, h, lo, c, v = (np.array(col, dtype=np.int64)
                      for col in (opens, highs, lows, closes, volumes))
    halted = (v == 0) & (o == h) & (h == lo) & (lo == c)
    traded = np.flatnonzero(~halted)
    if not len(traded):
        return QuartzError(f"no traded {item.period.value} bars in the range")
    missing: list[date] = []
    if item.sessions is not None:
        covered = item.sessions[bisect_left(item.sessions, days[0]):
                                bisect_right(item.sessions, days[-1])]
        missing = sorted(set(covered).difference(days))
    issues = DataIssues(halted_sessions=[days[i] for i in np.flatnonzero(halted)],
                        missing_sessions=missing, calendar_checked=item.sessions is not None)
    last = int(traded[-1])
    return Prepared(
        period=item.period, close=c[traded].astype(np.float64),
        high=h[traded].astype(np.float64), low=lo[traded].astype(np.float64),
        last_day=days[last], last_close=int(c[last]), issues=issues,
        days=[days[i] for i in traded[-CHART_BARS:]] if chart else None)


def analyse_many(items: Sequence[PeriodBars], *, charts: bool = True,
                 ) -> list[tuple[PeriodAnalysis, ChartSeries | None] | QuartzError]:
    """`analyse_bars` over many tickers and periods, in order (see `analyse_prepared`).
    Without `charts` no chart series is kept (None in its place)."""
    return analyse_prepared([prepare(item, chart=charts) for item in items])


class OutputBlock:
    """The kernel's output memory, grown on demand and reused from call to call: at most
    BATCH_ROWS rows of the 12 float64 series (27 MB at 275 bars). Allocated afresh per
    batch, freed blocks of that size stay with the allocator of whichever thread freed
    them, so a decide analysing in worker threads would keep one per thread."""

    def __init__(self) -> None:
        self._flat = np.empty(0)

    def view(self, rows: int, bars: int) -> np.ndarray:
        """A (12, rows, bars) array over the block (valid until the next call)."""
        size = len(SERIES) * rows * bars
        if size > self._flat.size:
            self._flat = np.empty(size)
        return self._flat[:size].reshape(len(SERIES), rows, bars)


def analyse_prepared(items: Sequence[Prepared | QuartzError],
                     block: OutputBlock | None = None,
                     ) -> list[tuple[PeriodAnalysis, ChartSeries | None] | QuartzError]:
    """Indicators and signals of many prepared tickers, in order, with one native call per
    (swing lookback, number of traded bars) and BATCH_ROWS tickers: the kernel takes a
    (tickers × bars) matrix, and rows are independent, so a ticker's values do not depend on
    its batch. A universe read over one date range is a few calls. An error stays in its
    place; an item prepared without chart days has None for its chart. The kernel writes
    into `block` (one used by no other call meanwhile), else into memory of its own."""
    results: list[tuple[PeriodAnalysis, ChartSeries | None] | QuartzError] = [
        QuartzError("not analysed")] * len(items)
    groups: dict[tuple[int, int], list[tuple[int, Prepared]]] = {}
    for i, item in enumerate(items):
        if isinstance(item, QuartzError):
            results[i] = item
            continue
        groups.setdefault((SWING_LOOKBACK[item.period], len(item.close)), []).append((i, item))
    block = block or OutputBlock()
    for (lookback, n), group in groups.items():
        # At most BATCH_ROWS rows a call: the kernel's output is every series of every row
        # (12 float64 series: 74 MB for 2,800 tickers of 275 bars at once, a third of the
        # decide's memory goal), and three calls for the whole market cost ~0.3 ms more
        # than one (a worker thread started per call). Nothing keeps a view of the output
        # past its call.
        for first in range(0, len(group), BATCH_ROWS):
            members = group[first:first + BATCH_ROWS]
            close = np.stack([p.close for _, p in members])
            high = np.stack([p.high for _, p in members])
            low = np.stack([p.low for _, p in members])
            out = native.technical_batch(close, high, low, swing_lookback=lookback,
                                         out=block.view(len(members), n))
            for row, (i, p) in enumerate(members):
                series = {name: out[name][row] for name in SERIES}
                results[i] = _analysis(p, close[row], series, lookback, n)
    return results


def _analysis(p: Prepared, close: np.ndarray, series: dict[str, np.ndarray], lookback: int,
              n: int) -> tuple[PeriodAnalysis, ChartSeries | None]:
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
        period=p.period, as_of=p.last_day, bars=n, last_close=p.last_close,
        values=IndicatorValues(**last), signals=signals, fibonacci_lookback=lookback,
        fibonacci_levels=levels, insufficient=insufficient, data_issues=p.issues,
    )
    if p.days is None:
        return analysis, None
    keep = slice(n - len(p.days), n)
    return analysis, ChartSeries(days=list(p.days), close=close[keep].copy(),
                                 series={k: v[keep].copy() for k, v in series.items()})


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

    def _cached(self, code: str, period: Period, today: date,
                ) -> tuple[str, PeriodAnalysis] | None:
        if self.cache is None:
            return None
        hit = self.cache.get(_cache_key(code, period, today))
        if hit is None:
            return None
        name, raw = hit
        return name, PeriodAnalysis.model_validate_json(raw)

    async def _fetch(self, code: str, period: Period, today: date) -> tuple[str, PeriodBars]:
        start = today - timedelta(days=HISTORY_DAYS[period])
        chart = await self.market.daily_bars(code, start, today, period)
        sessions = (self.calendar.between(start, today)
                    if self.calendar is not None and period is Period.DAY else None)
        if not chart.bars:
            raise BrokerError(f"{code}: the broker returned no {period.value} bars")
        return chart.name, PeriodBars(chart.bars, period, sessions)

    async def analyze_many(self, codes: Sequence[str], periods: Sequence[Period],
                           now: datetime, *, want_chart: bool = False) -> list[TechnicalResult]:
        """Many tickers, every period (not yet published: see `publish`): the bars of all
        of them (concurrently), and the indicators in native batches of BATCH_ROWS tickers
        (`analyse_prepared`), each run in a worker thread as soon as its bars are in, so a
        decide over the whole market analyses while its later quotes are still on the way.
        A ticker that fails is a failed result, not raised. With `want_chart`, the cache is
        bypassed and `charts` keeps the last bars' series."""
        today = kst_date(now)
        gate = asyncio.Semaphore(CONCURRENCY)
        names: dict[str, str] = {}
        analyses: dict[tuple[str, Period], PeriodAnalysis] = {}
        pending: list[tuple[str, Prepared | QuartzError]] = []
        batches: list[tuple[list[tuple[str, Prepared | QuartzError]], asyncio.Future[
            list[tuple[PeriodAnalysis, ChartSeries | None] | QuartzError]]]] = []
        misses: set[str] = set()
        errors: dict[str, QuartzError] = {}

        one_at_a_time = threading.Lock()
        block = OutputBlock()

        def analyse(items: list[Prepared | QuartzError],
                    ) -> list[tuple[PeriodAnalysis, ChartSeries | None] | QuartzError]:
            # One batch at a time, all in one output block.
            with one_at_a_time:
                return analyse_prepared(items, block)

        def analyse_pending() -> None:
            batch = pending.copy()
            pending.clear()
            batches.append((batch, asyncio.ensure_future(asyncio.to_thread(
                analyse, [item for _, item in batch]))))

        async def bars_of(code: str) -> None:
            async with gate:
                try:
                    for period in periods:
                        hit = None if want_chart else self._cached(code, period, today)
                        if hit is not None:
                            names.setdefault(code, hit[0])
                            analyses[(code, period)] = hit[1]
                            continue
                        name, item = await self._fetch(code, period, today)
                        names.setdefault(code, name)
                        # In columns at once: the Bar objects go as soon as they are read.
                        pending.append((code, prepare(item, chart=want_chart)))
                        misses.add(code)
                        if len(pending) >= BATCH_ROWS:
                            analyse_pending()
                except QuartzError as exc:
                    errors[code] = exc

        await asyncio.gather(*(bars_of(c) for c in dict.fromkeys(codes)))
        if pending:
            analyse_pending()
        for batch, analysed in batches:
            for (code, _), out in zip(batch, await analysed, strict=True):
                if code in errors:
                    continue  # another period of it failed: the ticker is a failed result
                if isinstance(out, QuartzError):
                    errors[code] = out
                    continue
                analysis, series = out
                period = analysis.period
                analyses[(code, period)] = analysis
                if series is not None:
                    self.charts[(code, period.value)] = series
                if self.cache is not None:
                    self.cache.set(_cache_key(code, period, today),
                                   (names.get(code, ""), analysis.model_dump_json()),
                                   expire=CACHE_TTL_S)
        return [self._result(code, periods, names, analyses, misses, errors.get(code))
                for code in codes]

    def _result(self, code: str, periods: Sequence[Period], names: dict[str, str],
                analyses: dict[tuple[str, Period], PeriodAnalysis], misses: set[str],
                error: QuartzError | None) -> TechnicalResult:
        source = self.market.source
        if error is not None:
            log.info("technical analysis of %s failed: %s", code, error.message)
            return TechnicalResult(code=code, ok=False, error=error.message,
                                   error_type=type(error).__name__,
                                   error_code=getattr(error, "code", None),
                                   exit_code=error.exit_code, data_source=source)
        return TechnicalResult(code=code, name=names.get(code, ""), ok=True,
                               periods={p.value: analyses[(code, p)] for p in periods},
                               data_source=source, cached=code not in misses)

    async def analyze(self, code: str, periods: Sequence[Period], now: datetime, *,
                      want_chart: bool = False) -> TechnicalResult:
        """One ticker, every period (see `analyze_many`)."""
        return (await self.analyze_many([code], periods, now, want_chart=want_chart))[0]

    async def publish(self, results: Sequence[TechnicalResult], now: datetime) -> str | None:
        """Publish the successful `results` (analysed at market time `now`) as one snapshot,
        in a worker thread (the store's calls block), and return its key; nothing (None)
        without a store or a success."""
        produced_at = utcnow()
        docs = [TechnicalDocument(produced_at=produced_at, env=self.env, code=r.code,
                                  name=r.name, market_time=now, data_source=r.data_source,
                                  periods=r.periods) for r in results if r.ok]
        if self.store is None or not docs:
            return None
        return await asyncio.to_thread(publish_snapshot, self.store, docs, self.env,
                                       produced_at)


async def analyze_tickers(market: MarketData, store: Store | None, tickers: Sequence[str],
                          periods: Sequence[Period], now: datetime, *, env: str = "local",
                          cache: ResultCache | None = None, calendar: KrxCalendar | None = None,
                          on_done: Callable[[TechnicalResult], None] | None = None,
                          on_published: Callable[[TechnicalResult, str], None] | None = None,
                          agent: TechnicalAgent | None = None,
                          want_chart: bool = False) -> list[TechnicalResult]:
    """Analyse `tickers` (validated KRX codes) for `periods` as of market time `now`.

    Results come back in the order of `tickers`; a ticker that fails (unknown code, broker
    error, no bars) is a result with ok=False and the others still run. The successes are
    published to `store` as one snapshot. Raises InputError for a malformed code
    before any call. With `want_chart`, the cache is bypassed and `agent.charts` keeps the
    last bars' series for plotting."""
    codes = [normalize_ticker(t) for t in tickers]
    agent = agent or TechnicalAgent(market, store, env, cache, calendar)
    results = await agent.analyze_many(codes, periods, now, want_chart=want_chart)

    key = await agent.publish(results, now)
    for r in results:
        if key is not None and r.ok and on_published is not None:
            on_published(r, key)
        if on_done is not None:
            on_done(r)
    return results


def prune_technical(store: Store, keep_days: float, now: datetime) -> int:
    """The retention rule of technical history: dated snapshots older than `keep_days` are
    deleted, the newest kept (and so are the newest of each ticker's documents of the
    layout before snapshots); blocking; returns how many were deleted."""
    return prune_dated(store, PREFIX, keep_days, now)


def read_technical(store: Store, code: str, *, now: datetime | None = None,
                   ) -> Loaded[TechnicalDocument] | None:
    """The latest stored analysis of `code` with its age (None when there is none)."""
    code = normalize_ticker(code)
    return read_analyses(store, [code], now=now).get(code)
