"""The simulator's sample market: synthetic, seeded OHLCV for the bundled universe's real
KRX codes over real KRX sessions (exchange-calendars XKRX). Prices are SYNTHETIC: every
surface that shows them says so. Prices respect tick sizes and the ±30 % daily limit.

History is stable as days pass: each ticker draws from its own seeded stream, one fixed-size
block of draws per session, so extending the range never changes earlier bars.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np

from quartz_cli.domain.bars import Bar
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.krx import (
    KST,
    PriceLimits,
    kst_date,
    price_limits,
    round_to_tick,
    session_bounds,
)
from quartz_cli.domain.universe import Listing, Tier, Universe
from quartz_cli.errors import ConfigError

HISTORY_START = date(2022, 1, 3)
SYNTHETIC_LABEL = "synthetic sample market (not real prices)"
_DAILY_VOL = {Tier.LARGE: 0.018, Tier.MID: 0.025, Tier.SMALL: 0.032}
_BASE_VOLUME = {Tier.LARGE: 8_000_000, Tier.MID: 900_000, Tier.SMALL: 350_000}
_DRAWS_PER_DAY = 5
# The path is scaled so that it would reach the listing's price level after this many
# sessions: a fixed anchor, so the scale (and every bar) never changes as days are added.
_ANCHOR_SESSIONS = 1200
_SESSION_MINUTES = 390  # 09:00–15:30


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _clamp(price: float, limits: PriceLimits) -> int:
    return min(limits.upper, max(limits.lower, round_to_tick(max(price, 1.0))))


@dataclass(frozen=True)
class DailyBars:
    """Daily OHLCV, oldest first. Prices in won, volume in shares (int32: a KRX price or a
    day's volume fits, and the whole universe's paths stay small; readers convert to int)."""

    code: str
    dates: tuple[date, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.dates)


@dataclass(frozen=True)
class MarketEvents:
    """Scripted departures from the plain sample path, for exercising bad-data handling:
    `halts` are sessions a ticker was suspended (KRX reports a flat, zero-volume bar at the
    previous close); `missing` are sessions absent from the chart answers altogether."""

    halts: dict[str, frozenset[date]]
    missing: dict[str, frozenset[date]]

    def halted(self, code: str, day: date) -> bool:
        return day in self.halts.get(code, frozenset())


def parse_day_spec(spec: str, calendar: KrxCalendar, name: str) -> dict[str, frozenset[date]]:
    """`005930:2026-11-02..2026-11-04;000660:2026-10-15` → code → sessions (ranges inclusive,
    restricted to KRX sessions)."""
    out: dict[str, set[date]] = {}
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        try:
            code, _, days = item.partition(":")
            first, _, last = days.partition("..")
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if last else start
        except ValueError:
            raise ConfigError(f"QUARTZ_SIM_{name.upper()}: cannot read {item!r}",
                              hint="use CODE:YYYY-MM-DD or CODE:YYYY-MM-DD..YYYY-MM-DD, "
                                   "joined by ';'") from None
        out.setdefault(code.strip().upper(), set()).update(calendar.between(start, end))
    return {k: frozenset(v) for k, v in out.items()}


def events_from(halts: str, missing: str, calendar: KrxCalendar) -> MarketEvents:
    """The events a SimConfig describes (its `halts` and `missing_bars` fields)."""
    return MarketEvents(parse_day_spec(halts, calendar, "halts"),
                        parse_day_spec(missing, calendar, "missing_bars"))


NO_EVENTS = MarketEvents({}, {})


class BeforeMarketStart(ConfigError):
    """The market clock (QUARTZ_MARKET_TIME) is before the synthetic market's first session."""


def check_market_time(at: datetime) -> None:
    """Raise BeforeMarketStart unless `at` is at or after the first session's open."""
    first_open = datetime.combine(HISTORY_START, time(9), KST)
    if at < first_open:
        raise BeforeMarketStart(
            f"the market clock ({at.astimezone(KST):%Y-%m-%d %H:%M} KST) is before the "
            f"synthetic market's first session ({first_open:%Y-%m-%d %H:%M} KST)",
            hint=f"set QUARTZ_MARKET_TIME to {HISTORY_START.isoformat()}T09:00:00+09:00 or "
                 "later (a few months later leaves history for the indicators), or unset it")


@dataclass(frozen=True)
class SimQuote:
    """The current state of one ticker as the simulator prices it at a moment: the
    simulator's own (session, OHLC, limits), not the domain's `domain.decision.Quote`."""

    code: str
    price: int
    open: int
    high: int
    low: int
    volume: int
    base: int          # previous close (기준가)
    limits: PriceLimits
    session_date: date
    in_session: bool


class SampleMarket:
    """Bars and quotes for every listing of `universe`, derived from `seed`."""

    def __init__(self, universe: Universe, calendar: KrxCalendar, seed: int = 20_220_103) -> None:
        self.universe = universe
        self.calendar = calendar
        self.seed = seed
        self.label = SYNTHETIC_LABEL
        # One path per ticker, the longest built so far: history is stable as days are added,
        # so an earlier end is a slice of it. Any universe size, no regeneration per call.
        self._paths: dict[str, DailyBars] = {}
        # Through which day each path was built (a delisted listing's path ends before it).
        self._built: dict[str, date] = {}
        self._sessions: tuple[date, tuple[date, ...]] | None = None

    def listing(self, code: str) -> Listing | None:
        return self.universe.get(code)

    def sessions_until(self, last: date) -> tuple[date, ...]:
        # One tuple per end day, shared by every ticker's path.
        if self._sessions is None or self._sessions[0] != last:
            self._sessions = (last, tuple(self.calendar.between(HISTORY_START, last)))
        return self._sessions[1]

    def _build_path(self, code: str, last: date) -> DailyBars:
        listing = self.universe.get(code)
        if listing is None:
            raise KeyError(code)
        days = self.sessions_until(last)
        n = len(days)
        rng = np.random.default_rng(_seed(self.seed, code))
        draws = rng.standard_normal(size=(max(n, _ANCHOR_SESSIONS), _DRAWS_PER_DAY))
        sigma = _DAILY_VOL[listing.tier]
        drift = -0.5 * sigma * sigma
        anchor = draws[:_ANCHOR_SESSIONS, 0]
        start = listing.base_price / math.exp(float(np.sum(drift + sigma * anchor)))
        o = np.empty(n, np.int32)
        h = np.empty(n, np.int32)
        lo = np.empty(n, np.int32)
        c = np.empty(n, np.int32)
        v = np.empty(n, np.int32)
        prev = max(round_to_tick(start), 1)
        for i in range(n):
            z_close, z_open, z_high, z_low, z_vol = draws[i]
            limits = price_limits(prev)
            open_ = _clamp(prev * math.exp(0.3 * sigma * z_open), limits)
            close = _clamp(prev * math.exp(drift + sigma * z_close), limits)
            high = _clamp(max(open_, close) * math.exp(abs(0.5 * sigma * z_high)), limits)
            low = _clamp(min(open_, close) * math.exp(-abs(0.5 * sigma * z_low)), limits)
            o[i], c[i] = open_, close
            h[i], lo[i] = max(high, open_, close), min(low, open_, close)
            v[i] = int(_BASE_VOLUME[listing.tier] * math.exp(0.4 * z_vol))
            prev = close
        return DailyBars(code, days, o, h, lo, c, v)

    def _listed_part(self, path: DailyBars) -> DailyBars:
        """The sessions of `path` in which its listing was listed (all of them when its
        listing has no dates)."""
        listing = self.universe.get(path.code)
        if listing is None or (listing.listed is None and listing.delisted is None):
            return path
        first = bisect_left(path.dates, listing.listed) if listing.listed else 0
        end = bisect_left(path.dates, listing.delisted) if listing.delisted else len(path)
        return DailyBars(path.code, path.dates[first:end], path.open[first:end],
                         path.high[first:end], path.low[first:end], path.close[first:end],
                         path.volume[first:end])

    def daily(self, code: str, last: date) -> DailyBars:
        """Completed daily bars from HISTORY_START through the session `last` (inclusive)."""
        path = self._paths.get(code)
        if path is None or self._built.get(code, date.min) < last:
            path = self._paths[code] = self._listed_part(self._build_path(code, last))
            self._built[code] = last
        n = bisect_right(path.dates, last)
        if n == len(path):
            return path
        return DailyBars(code, path.dates[:n], path.open[:n], path.high[:n], path.low[:n],
                         path.close[:n], path.volume[:n])

    def _intraday(self, code: str, day: date, open_: int, close: int) -> np.ndarray:
        """Minute prices 09:00..15:30 of `day`: a seeded Brownian bridge from open to close."""
        rng = np.random.default_rng(_seed(self.seed, code, day.isoformat(), "intraday"))
        steps = rng.standard_normal(_SESSION_MINUTES)
        walk = np.concatenate([[0.0], np.cumsum(steps)])
        t = np.linspace(0.0, 1.0, _SESSION_MINUTES + 1)
        bridge = walk - t * walk[-1]
        listing = self.universe.get(code)
        sigma = _DAILY_VOL[listing.tier if listing else Tier.MID]
        log_path = (np.log(open_) + t * (np.log(close) - np.log(open_))
                    + bridge * sigma / math.sqrt(_SESSION_MINUTES))
        return np.exp(log_path)

    def quote(self, code: str, at: datetime) -> SimQuote:
        """The ticker's state at `at`: during a session, a price on today's intraday path;
        otherwise the last session's close."""
        check_market_time(at)
        today = kst_date(at)
        if self.calendar.is_trading_day(today):
            bars = self.daily(code, today)
            i = len(bars) - 1
            open_t, close_t = session_bounds(today)
            base = int(bars.close[i - 1]) if i > 0 else int(bars.open[i])
            limits = price_limits(base)
            if at < open_t:
                p = base
                return SimQuote(code, p, p, p, p, 0, base, limits, today, False)
            minute = min(_SESSION_MINUTES, int((at - open_t).total_seconds() // 60))
            path = self._intraday(code, today, int(bars.open[i]), int(bars.close[i]))[:minute + 1]
            price = _clamp(float(path[-1]), limits)
            high = max(_clamp(float(path.max()), limits), price)
            low = min(_clamp(float(path.min()), limits), price)
            frac = minute / _SESSION_MINUTES
            volume = int(bars.volume[i] * frac)
            return SimQuote(code, price, int(bars.open[i]), high, low, volume, base, limits,
                            today, at < close_t)
        last = self.calendar.previous(today)
        if last is None:
            raise KeyError(code)
        bars = self.daily(code, last)
        close = int(bars.close[-1])
        base = int(bars.close[-2]) if len(bars) > 1 else close
        return SimQuote(code, close, int(bars.open[-1]), int(bars.high[-1]),
                        int(bars.low[-1]), int(bars.volume[-1]), base, price_limits(base), last,
                        False)

    def history_for(self, code: str, at: datetime) -> DailyBars:
        """Daily bars as of `at`: completed sessions, plus today's partial bar in a session."""
        check_market_time(at)
        today = kst_date(at)
        if self.calendar.is_trading_day(today) and at >= datetime.combine(today, time(9), KST):
            return self.daily(code, today)
        last = self.calendar.previous(today) if not self.calendar.is_trading_day(today) \
            or at < datetime.combine(today, time(9), KST) else today
        if last is None:
            raise KeyError(code)
        return self.daily(code, last)

    def bars(self, code: str, at: datetime, events: MarketEvents = NO_EVENTS) -> list[Bar]:
        """Daily bars as the chart API serves them at `at`, oldest first: halted sessions
        are flat zero-volume bars at the previous close, missing sessions are left out.
        Traded value is volume × close (the sample market has no intraday VWAP)."""
        daily = self.history_for(code, at)
        halts = events.halts.get(code, frozenset())
        missing = events.missing.get(code, frozenset())
        out: list[Bar] = []
        prev_close = int(daily.open[0]) if len(daily) else 0
        for i, day in enumerate(daily.dates):
            if day in halts:
                bar = Bar(day, prev_close, prev_close, prev_close, prev_close, 0, 0)
            else:
                close = int(daily.close[i])
                volume = int(daily.volume[i])
                bar = Bar(day, int(daily.open[i]), int(daily.high[i]), int(daily.low[i]),
                          close, volume, volume * close)
            prev_close = bar.close
            if day not in missing:
                out.append(bar)
        return out


def partial_today(bars: list[Bar], quote: SimQuote) -> list[Bar]:
    """`bars` with today's bar, during the session, as it stands at the quote's moment (as
    KIS's chart shows it: the current price as the close), not the day's final bar, which
    the simulator knows in advance; a halted session's flat bar stays."""
    if (not quote.in_session or not bars or bars[-1].day != quote.session_date
            or bars[-1].halted):
        return bars
    if quote.volume == 0:
        # Nothing traded yet today: no bar for it yet.
        return bars[:-1]
    today = Bar(quote.session_date, quote.open, quote.high, quote.low, quote.price,
                quote.volume, quote.volume * quote.price)
    return [*bars[:-1], today]

