"""The bar store: a `MarketData` whose daily bars are kept per ticker in the shared store
(`bars/D/<CODE>.parquet`, see `bar_files`) and updated incrementally from the broker.

- A ticker whose file already holds the last completed session costs no chart call. Otherwise
  one chart call asks from the last stored session onwards: that session comes back too and
  must equal the stored bar, else the broker has adjusted the history (a split, a dividend,
  a rights issue) and the whole series is fetched again.
- Only completed sessions are stored. During a session, today's partial bar comes from the
  chart answer when one was made anyway, else from the quote (whose base price, the
  adjusted previous close, must equal the last stored close: a second adjustment check).
- Weekly and monthly bars are resampled from the daily ones.
- Concurrent writers (two jobs updating one ticker): every write replaces the whole object
  atomically (a local rename, an S3 PUT), so a reader sees one writer's complete series,
  never a mix; and a writer re-reads the object just before writing and keeps it when it
  already reaches a later session, so a slow writer does not roll a fresher file back.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import Enum

from quartz_cli.domain.bars import Bar, Period, resample
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.decision import Quote
from quartz_cli.domain.krx import kst_date, normalize_ticker, session_bounds
from quartz_cli.errors import QuartzError
from quartz_cli.ports import DailyBars, MarketData, Store
from quartz_cli.store.bar_files import BAR_PREFIX, BarSeries, bar_key, decode, encode

log = logging.getLogger(__name__)

# A quote younger than this (by the market clock) serves as today's partial bar: a run's
# quotes serve its whole analysis (a decide over 2,800 tickers analyses for tens of seconds;
# re-asking one ticker at a time after a shorter window would cost a call each).
QUOTE_REUSE_S = 300.0
CONCURRENCY = 4
# Series kept in memory after use (see BarStore._memo).
MEMO_SERIES = 64
# Tickers per broker quote call as `quotes` splits them: KIS's multi-ticker quote takes 30
# (on paper, where each ticker is one call, any size serves).
QUOTE_CHUNK = 30


class Update(str, Enum):
    """What one ticker's update did."""

    CURRENT = "current"        # the file already held the last completed session
    EXTENDED = "extended"      # new sessions appended after one chart call
    FETCHED = "fetched"        # no usable file: the history was fetched whole
    ADJUSTED = "adjusted"      # the broker's history changed: fetched whole again
    FAILED = "failed"


@dataclass(frozen=True)
class Coverage:
    """One ticker's stored bars as `quartz data status` shows them."""

    code: str
    name: str
    first: date | None
    last: date | None
    bars: int
    fresh: bool


def _day(bar: Bar) -> date:
    return bar.day


def same_prices(a: Bar, b: Bar) -> bool:
    """Two bars of one session agree on prices (volume may be revised after the close)."""
    return (a.open, a.high, a.low, a.close) == (b.open, b.high, b.low, b.close)


class StoredBars:
    """The store's side of the bar store, with no broker: reading, writing and the coverage
    of the stored series (`quartz data status`). `clock` is the market clock; `calendar`
    builds the KRX calendar when first needed (weekdays without one)."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime],
                 calendar: Callable[[], KrxCalendar] | None = None) -> None:
        self.store = store
        self.clock = clock
        self._calendar_factory = calendar
        self._calendar: KrxCalendar | None = None

    @property
    def calendar(self) -> KrxCalendar | None:
        """The KRX calendar, loaded on first use (small commands never pay for it)."""
        if self._calendar is None and self._calendar_factory is not None:
            self._calendar = self._calendar_factory()
        return self._calendar

    def _is_session(self, day: date) -> bool:
        calendar = self.calendar
        if calendar is not None:
            return calendar.is_trading_day(day)
        return day.weekday() < 5

    def _previous(self, day: date) -> date:
        calendar = self.calendar
        if calendar is not None:
            prev = calendar.previous(day)
            if prev is not None:
                return prev
        day -= timedelta(days=1)
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        return day

    def last_completed(self, now: datetime) -> date:
        """The latest session whose regular trading has closed at `now`."""
        today = kst_date(now)
        if self._is_session(today) and now >= session_bounds(today)[1]:
            return today
        return self._previous(today)

    def open_session(self, now: datetime) -> date | None:
        """Today, when a session has opened and not yet closed at `now`."""
        today = kst_date(now)
        if self._is_session(today):
            opens, closes = session_bounds(today)
            if opens <= now < closes:
                return today
        return None

    def read(self, code: str) -> BarSeries | None:
        """The stored series of `code` (blocking), or None."""
        raw = self.store.get(bar_key(code))
        return decode(code, raw) if raw else None

    def write(self, series: BarSeries) -> BarSeries:
        """Write `series` (blocking) and return what is now stored. When the stored object
        already reaches a later session, the file never goes back: on the same price basis
        (the stored bar of `series`' last session is unchanged) the two are joined, else the
        stored one, the fresher basis, is kept."""
        current = self.read(series.code)
        if (current is not None and current.last is not None and series.last is not None
                and current.last > series.last):
            mine = series.bars[-1]
            theirs = next((b for b in current.bars if b.day == mine.day), None)
            if theirs is None or not same_prices(theirs, mine):
                return current
            if current.requested_from <= series.requested_from:
                return current
            series = replace(series, bars=series.bars + tuple(
                b for b in current.bars if b.day > mine.day))
        self.store.put(bar_key(series.code), encode(series))
        return series

    def stored_codes(self) -> list[str]:
        """Every ticker with a bar file, sorted."""
        return [k.rsplit("/", 1)[-1].removesuffix(".parquet")
                for k in self.store.list(BAR_PREFIX) if k.endswith(".parquet")]

    def coverage(self, codes: Sequence[str] | None = None) -> list[Coverage]:
        """Coverage of the stored tickers (or of `codes`, absent ones with no bars)."""
        done = self.last_completed(self.clock())
        out = []
        for code in self.stored_codes() if codes is None else codes:
            s = self.read(code)
            if s is None:
                out.append(Coverage(code, "", None, None, 0, False))
            else:
                out.append(Coverage(code, s.name, s.first, s.last, len(s.bars),
                                    s.last is not None and s.last >= done))
        return out


class BarStore(StoredBars):
    """`MarketData` over `broker` with the daily bars kept in `store` (see the module
    docstring); `depth_days` is how far back a first fetch reaches unless asked for more."""

    def __init__(self, store: Store, broker: MarketData, *, clock: Callable[[], datetime],
                 calendar: Callable[[], KrxCalendar] | None = None,
                 depth_days: int = 400) -> None:
        super().__init__(store, clock=clock, calendar=calendar)
        self.broker = broker
        self.depth = timedelta(days=depth_days)
        self.source = broker.source
        # The series read or written last (a few: a decide over the whole universe reads
        # each ticker once, and 2,800 series as Bar objects would not fit its memory).
        self._memo: OrderedDict[str, BarSeries] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        # code → (when fetched, today's bar from a chart answer): one entry per ticker.
        self._partial: dict[str, tuple[datetime, Bar]] = {}
        # code → (when asked, its quote); None when the broker's answer had no price for it
        # (halted, no trade), so reading that ticker's bars does not ask again.
        self._quotes: dict[str, tuple[datetime, Quote | None]] = {}
        self._asking: dict[str, asyncio.Future[Quote | None]] = {}

    # --- updating ---------------------------------------------------------------------------

    async def update(self, code: str, want_from: date | None = None,
                     now: datetime | None = None) -> tuple[BarSeries, Update]:
        """Bring `code`'s stored bars up to the last completed session, reaching back to
        `want_from` (default: `depth_days` before today)."""
        code = normalize_ticker(code)
        now = now or self.clock()
        want_from = want_from or kst_date(now) - self.depth
        lock = self._locks.setdefault(code, asyncio.Lock())
        async with lock:
            return await self._update(code, want_from, now)

    async def _update(self, code: str, want_from: date, now: datetime,
                      ) -> tuple[BarSeries, Update]:
        done = self.last_completed(now)
        today = self.open_session(now)
        fetch_end = today or done
        stored = self._memo.get(code)
        if stored is None:
            stored = await asyncio.to_thread(self.read, code)
        if (stored is not None and stored.requested_from <= want_from
                and stored.last is not None and stored.last >= done):
            self._remember(stored)
            return stored, Update.CURRENT
        if stored is None or stored.last is None or want_from < stored.requested_from:
            # Never less than the default depth: a short first request (a volume average)
            # would otherwise make the next, longer one fetch everything again.
            start = min(want_from, kst_date(now) - self.depth)
            if stored is not None:
                start = min(start, stored.requested_from)
            series = await self._fetch_whole(code, start, fetch_end, done, today)
            action = Update.FETCHED
        else:
            tail = stored.bars[-1]
            chart = await self.broker.daily_bars(code, tail.day, fetch_end)
            again = next((b for b in chart.bars if b.day == tail.day), None)
            if again is None or not same_prices(again, tail):
                log.info("%s: the broker's bar of %s changed (an adjustment): fetching its "
                         "history again", code, tail.day)
                series = await self._fetch_whole(code, stored.requested_from, fetch_end, done,
                                                 today)
                action = Update.ADJUSTED
            else:
                self._keep_partial(code, chart.bars, today)
                added = tuple(b for b in chart.bars if tail.day < b.day <= done)
                series = replace(stored, name=chart.name or stored.name,
                                 bars=stored.bars + added)
                action = Update.EXTENDED
        if series.bars:
            series = await asyncio.to_thread(self.write, series)
        self._remember(series)
        return series, action

    def _remember(self, series: BarSeries) -> None:
        self._memo[series.code] = series
        self._memo.move_to_end(series.code)
        while len(self._memo) > MEMO_SERIES:
            self._memo.popitem(last=False)

    async def _fetch_whole(self, code: str, start: date, end: date, done: date,
                           today: date | None) -> BarSeries:
        chart = await self.broker.daily_bars(code, start, end)
        self._keep_partial(code, chart.bars, today)
        return BarSeries(code=code, name=chart.name, requested_from=start,
                         bars=tuple(b for b in chart.bars if b.day <= done))

    def _keep_partial(self, code: str, bars: Sequence[Bar], today: date | None) -> None:
        if today is not None and bars and bars[-1].day == today:
            self._partial[code] = (self.clock(), bars[-1])

    async def pull(self, codes: Sequence[str], want_from: date | None = None, *,
                   on_done: Callable[[str, Update, str], None] | None = None,
                   ) -> dict[str, Update]:
        """Update every code (completed sessions only); a ticker that fails is reported as
        FAILED through `on_done(code, action, message)`, the others still run. Each ticker's
        file is written as soon as it is fetched, so an interrupted pull resumes where it
        stopped (tickers already current cost no chart call)."""
        now = self.clock()
        gate = asyncio.Semaphore(CONCURRENCY)
        out: dict[str, Update] = {}

        async def one(code: str) -> None:
            async with gate:
                try:
                    _, action = await self.update(code, want_from, now)
                    message = ""
                except QuartzError as exc:
                    action, message = Update.FAILED, exc.message
            out[code] = action
            if on_done is not None:
                on_done(code, action, message)

        await asyncio.gather(*(one(c) for c in codes))
        return out

    # --- the MarketData port ----------------------------------------------------------------

    async def quotes(self, tickers: Sequence[str]) -> tuple[dict[str, Quote], dict[str, str]]:
        """The broker's quotes; remembered briefly to serve as today's partial bars (and a
        bar asked for while its quote is on the way waits for it instead of asking again).
        Asked QUOTE_CHUNK tickers at a time (concurrently; the client's limiter paces the
        calls), each chunk's waiting bars served as soon as it arrives: a decide over the
        whole universe reads its stored bars while the later quotes are still on the way,
        instead of after the last one."""
        chunks = [tickers[i:i + QUOTE_CHUNK] for i in range(0, len(tickers), QUOTE_CHUNK)]
        answers = await asyncio.gather(*(self._quote_chunk(c) for c in chunks))
        quotes: dict[str, Quote] = {}
        failed: dict[str, str] = {}
        for got, bad in answers:
            quotes.update(got)
            failed.update(bad)
        return quotes, failed

    async def _quote_chunk(self, tickers: Sequence[str],
                           ) -> tuple[dict[str, Quote], dict[str, str]]:
        loop = asyncio.get_running_loop()
        mine = {c: loop.create_future() for c in tickers if c not in self._asking}
        self._asking.update(mine)
        quotes: dict[str, Quote] = {}
        try:
            quotes, failed = await self.broker.quotes(tickers)
            now = self.clock()
            # A code left without a price is remembered as such only when the call was
            # answered (some price came back): a failed call leaves its codes to be asked
            # again, not unpriced for QUOTE_REUSE_S.
            for code in tickers if quotes else ():
                self._quotes[code] = (now, quotes.get(code))
        finally:
            for code, fut in mine.items():
                self._asking.pop(code, None)
                fut.set_result(quotes.get(code))
        return quotes, failed

    async def _today_bar(self, code: str, today: date, stored: BarSeries,
                         ) -> tuple[Bar | None, bool]:
        """Today's partial bar (None when halted or unquoted: no trade, no bar), and whether
        the quote's base price contradicts the last stored close (an adjustment)."""
        now = self.clock()
        seen = self._quotes.get(code)
        charted = self._partial.get(code)
        if charted is not None and charted[1].day != today:
            charted = None
        if (charted is not None and (now - charted[0]).total_seconds() <= QUOTE_REUSE_S
                and (seen is None or seen[0] <= charted[0])):
            return charted[1], False
        if seen is None or (now - seen[0]).total_seconds() > QUOTE_REUSE_S:
            asking = self._asking.get(code)
            if asking is not None:
                quote = await asyncio.shield(asking)
            else:
                quote = (await self.quotes([code]))[0].get(code)
            seen = (now, quote)
        q = seen[1]
        if q is None:
            return None, False
        last = stored.bars[-1] if stored.bars else None
        adjusted = (last is not None and last.day == self._previous(today)
                    and q.base != last.close)
        price = q.price
        return Bar(day=today, open=q.open or price, high=max(q.high or price, price),
                   low=min(q.low or price, price), close=price, volume=q.volume,
                   value=q.volume * price), adjusted

    async def daily_bars(self, ticker: str, start: date, end: date,
                         period: Period = Period.DAY) -> DailyBars:
        """Bars from the store (updated first), today's partial bar added in a session,
        resampled to `period`. Weekly and monthly bars reaching further back than the stored
        daily history come from the broker's own chart (a first fetch of ten years of daily
        bars for one monthly analysis would cost ten times the calls); `quartz data pull
        --from` widens the history so that they too come from the store."""
        code = normalize_ticker(ticker)
        now = self.clock()
        if period is not Period.DAY:
            stored = self._memo.get(code) or await asyncio.to_thread(self.read, code)
            if stored is None or stored.requested_from > start:
                return await self.broker.daily_bars(code, start, end, period)
        series, _ = await self.update(code, start, now)
        today = self.open_session(now)
        partial = None
        if today is not None and start <= today <= end:
            partial, adjusted = await self._today_bar(code, today, series)
            if adjusted:
                log.info("%s: the quote's base price differs from the stored close (an "
                         "adjustment): fetching its history again", code)
                series = await self._refetch(code, series, now)
                charted = self._partial.get(code)
                partial = charted[1] if charted and charted[1].day == today else None
        # A stored bar of today's session exists only if the market clock went back (a
        # test's fixed market time): the partial bar replaces it.
        last_day = partial.day if partial is not None else date.max
        # The stored bars are in day order: cut the range by bisection, not bar by bar.
        stop = min(bisect_right(series.bars, end, key=_day),
                   bisect_left(series.bars, last_day, key=_day))
        bars = list(series.bars[bisect_left(series.bars, start, key=_day):stop])
        if partial is not None:
            bars.append(partial)
        return DailyBars(code=code, name=series.name, period=period,
                         bars=resample(bars, period))

    async def _refetch(self, code: str, stored: BarSeries, now: datetime) -> BarSeries:
        async with self._locks.setdefault(code, asyncio.Lock()):
            done = self.last_completed(now)
            today = self.open_session(now)
            series = await self._fetch_whole(code, stored.requested_from, today or done, done,
                                             today)
            if series.bars:
                await asyncio.to_thread(self.store.put, bar_key(code), encode(series))
            self._remember(series)
            return series
