"""The KRX trading calendar as a pure value: a set of session dates and questions about it."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from quartz_cli.domain.krx import KST, REGULAR_CLOSE, Phase, kst_date, phase_at


@dataclass(frozen=True)
class KrxCalendar:
    """KRX sessions (from exchange-calendars `XKRX`) between `first` and `last`."""

    sessions: tuple[date, ...]
    _set: frozenset[date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_set", frozenset(self.sessions))

    @property
    def first(self) -> date:
        return self.sessions[0]

    @property
    def last(self) -> date:
        return self.sessions[-1]

    def is_trading_day(self, day: date) -> bool:
        return day in self._set

    def between(self, start: date, end: date) -> list[date]:
        """Sessions with start <= day <= end."""
        lo = bisect.bisect_left(self.sessions, start)
        hi = bisect.bisect_right(self.sessions, end)
        return list(self.sessions[lo:hi])

    def previous(self, day: date) -> date | None:
        """The last session strictly before `day`."""
        i = bisect.bisect_left(self.sessions, day)
        return self.sessions[i - 1] if i > 0 else None

    def next(self, day: date) -> date | None:
        """The first session strictly after `day`."""
        i = bisect.bisect_right(self.sessions, day)
        return self.sessions[i] if i < len(self.sessions) else None

    def phase(self, moment: datetime) -> Phase:
        """Session phase at `moment` (KRX holidays and weekends are CLOSED)."""
        return phase_at(moment, self.is_trading_day(kst_date(moment)))


def last_booking_moment(order_day: date, calendar: KrxCalendar | None,
                        margin: timedelta) -> datetime:
    """The latest moment a regular order sent on `order_day` (KST) could still be booked:
    the close of that day's session plus `margin`. A day the calendar knows has no session
    is bounded by the next session's close, which is conservative: a day order cannot
    outlive the first session after it was sent. Without a calendar, the day's own close."""
    day = order_day
    if calendar is not None and calendar.first <= day <= calendar.last \
            and not calendar.is_trading_day(day):
        day = calendar.next(day) or day
    return datetime.combine(day, REGULAR_CLOSE, KST) + margin
