"""KRX rules an order engine needs: stock codes, tick sizes, daily price limits, sessions.

Tick table: KRX unified table since 2023-01-25 (stocks on KOSPI/KOSDAQ/KONEX).
Daily limit: ±30 % of the base price (normally the previous close) for KOSPI and KOSDAQ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from quartz_cli.errors import InputError

KST = ZoneInfo("Asia/Seoul")

# New codes since 2024 may carry a letter; validate as six digits / capital letters.
_CODE = re.compile(r"^[0-9A-Z]{6}$")

# (upper bound exclusive, tick) by order price band.
_TICKS: tuple[tuple[int, int], ...] = (
    (2_000, 1),
    (5_000, 5),
    (20_000, 10),
    (50_000, 50),
    (200_000, 100),
    (500_000, 500),
)
_TOP_TICK = 1_000
DAILY_LIMIT = 0.30


def normalize_ticker(code: str) -> str:
    """Validate a KRX stock code (`005930`, or a 7-char short code `A005930`); return 6 chars."""
    text = code.strip().upper()
    if len(text) == 7 and text[0] in "AQ" and _CODE.match(text[1:]):
        text = text[1:]
    if not _CODE.match(text):
        raise InputError(f"'{code}' is not a KRX stock code (6 digits or capital letters, "
                         "e.g. 005930)")
    return text


def tick_size(price: int) -> int:
    """The tick for an order at `price` won."""
    for bound, tick in _TICKS:
        if price < bound:
            return tick
    return _TOP_TICK


def floor_to_tick(price: float) -> int:
    """The highest valid price at or below `price`."""
    p = int(price)
    return p - p % tick_size(p)


def ceil_to_tick(price: float) -> int:
    """The lowest valid price at or above `price`."""
    p = int(-(-price // 1))
    tick = tick_size(p)
    rem = p % tick
    if rem == 0:
        return p
    up = p + tick - rem
    # Crossing into a coarser band can make `up` itself off-tick; settle on that band's grid.
    return up if up % tick_size(up) == 0 else up + tick_size(up) - up % tick_size(up)


def round_to_tick(price: float) -> int:
    """The valid price nearest to `price` (ties go up)."""
    down = floor_to_tick(price)
    up = ceil_to_tick(price)
    return up if up - price <= price - down else down


def is_on_tick(price: int) -> bool:
    return price > 0 and price % tick_size(price) == 0


@dataclass(frozen=True)
class PriceLimits:
    """The day's upper and lower limit prices (상한가 / 하한가)."""

    base: int
    upper: int
    lower: int

    def contains(self, price: int) -> bool:
        return self.lower <= price <= self.upper


def price_limits(base: int, limit: float = DAILY_LIMIT) -> PriceLimits:
    """Limits as KRX computes them: width = base × 30 % truncated to the base price's tick;
    each bound then truncated to its own tick."""
    width_raw = int(base * limit)
    width = width_raw - width_raw % tick_size(base)
    upper = floor_to_tick(base + width)
    lower = max(1, floor_to_tick(base - width))
    return PriceLimits(base=base, upper=upper, lower=lower)


class Phase(str, Enum):
    """Where a KST moment falls in the KRX trading day (regular-session view)."""

    CLOSED = "closed"                  # not a trading day, or outside every window
    PRE_OPEN_AUCTION = "pre_open"      # 08:30–09:00 opening call auction
    CONTINUOUS = "continuous"          # 09:00–15:20
    CLOSING_AUCTION = "closing"        # 15:20–15:30 closing call auction
    AFTER_HOURS = "after_hours"        # 15:40–18:00 after-hours close / single price


REGULAR_OPEN = time(9, 0)
REGULAR_CLOSE = time(15, 30)
AFTER_HOURS_END = time(18, 0)


def _shift(t: time, minutes: int) -> time:
    return (datetime.combine(date(2000, 1, 1), t) + timedelta(minutes=minutes)).time()


@dataclass(frozen=True)
class SessionHours:
    """One day's regular session, open to close (KST). The other windows keep their place
    around it: the opening auction is the 30 minutes before the open, the closing auction the
    10 minutes before the close, the after-hours session from 10 minutes after the close to
    18:00 (on a shifted day KRX moves them with the session, but after-hours still ends at
    18:00)."""

    open: time
    close: time

    def phase(self, t: time) -> Phase:
        """Where the KST time of day `t` falls on a trading day with these hours."""
        if _shift(self.open, -30) <= t < self.open:
            return Phase.PRE_OPEN_AUCTION
        if self.open <= t < _shift(self.close, -10):
            return Phase.CONTINUOUS
        if _shift(self.close, -10) <= t < self.close:
            return Phase.CLOSING_AUCTION
        if _shift(self.close, 10) <= t < AFTER_HOURS_END:
            return Phase.AFTER_HOURS
        return Phase.CLOSED

    def __str__(self) -> str:
        return f"{self.open:%H:%M}–{self.close:%H:%M}"


REGULAR_HOURS = SessionHours(REGULAR_OPEN, REGULAR_CLOSE)


def phase_at(moment: datetime, is_trading_day: bool,
             hours: SessionHours = REGULAR_HOURS) -> Phase:
    """The session phase at `moment` (any time zone) for a day whose status and hours are
    given."""
    if not is_trading_day:
        return Phase.CLOSED
    return hours.phase(moment.astimezone(KST).time())


def kst_date(moment: datetime) -> date:
    return moment.astimezone(KST).date()


def session_bounds(day: date) -> tuple[datetime, datetime]:
    """Regular session open and close of `day` as aware datetimes."""
    return (datetime.combine(day, REGULAR_OPEN, KST), datetime.combine(day, REGULAR_CLOSE, KST))


def minutes_into_session(moment: datetime) -> float:
    """Minutes since 09:00 KST of the same day (negative before the open)."""
    open_, _ = session_bounds(kst_date(moment))
    return (moment - open_) / timedelta(minutes=1)
