"""The KRX trading calendar as a pure value: a set of session dates, each day's hours, and
questions about them. The project's special-days table (`krx_special_days`) applies to every
calendar: its closures are never sessions and its shifted days carry their own hours."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from quartz_cli.domain.krx import KST, REGULAR_HOURS, Phase, SessionHours, kst_date, phase_at
from quartz_cli.domain.krx_special_days import CLOSURES, special_hours


@dataclass(frozen=True)
class KrxCalendar:
    """KRX sessions (from exchange-calendars `XKRX`) between `first` and `last`, less the
    project's closures. `last` is the horizon: a day after it is not known to trade."""

    sessions: tuple[date, ...]
    # Days an authority (the broker's holiday inquiry) says trade, the closures table not
    # withstanding.
    opened: frozenset[date] = frozenset()
    _set: frozenset[date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kept = tuple(d for d in self.sessions if d not in CLOSURES or d in self.opened)
        object.__setattr__(self, "sessions", kept)
        object.__setattr__(self, "_set", frozenset(kept))

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

    def hours(self, day: date) -> SessionHours | None:
        """The regular session's hours on `day`, None when KRX does not trade that day."""
        if not self.is_trading_day(day):
            return None
        special = special_hours(day, self._first_of_year(day))
        return special[0] if special else REGULAR_HOURS

    def special(self, day: date) -> str:
        """Why `day`'s session has shifted hours, or "" for a regular day or a holiday."""
        if not self.is_trading_day(day):
            return ""
        special = special_hours(day, self._first_of_year(day))
        return special[1] if special else ""

    def _first_of_year(self, day: date) -> bool:
        before = self.previous(day)
        return before is not None and before.year < day.year

    def phase(self, moment: datetime) -> Phase:
        """Session phase at `moment` on that day's own hours (KRX holidays and weekends are
        CLOSED)."""
        hours = self.hours(kst_date(moment))
        return phase_at(moment, hours is not None, hours or REGULAR_HOURS)

    def with_day(self, day: date, trading: bool) -> KrxCalendar:
        """This calendar with `day`'s status set by an authority (the broker's holiday
        inquiry), whatever the table said."""
        if trading == self.is_trading_day(day):
            return self
        if trading:
            return KrxCalendar(tuple(sorted(self._set | {day})), self.opened | {day})
        return KrxCalendar(tuple(sorted(self._set - {day})), self.opened - {day})


def last_booking_moment(order_day: date, calendar: KrxCalendar | None,
                        margin: timedelta) -> datetime:
    """The latest moment a regular order sent on `order_day` (KST) could still be booked:
    the close of that day's session plus `margin`. A day the calendar knows has no session
    is bounded by the next session's close, which is conservative: a day order cannot
    outlive the first session after it was sent. The close is that session's own (16:30 on
    the exam day). Without a calendar, the day's regular close."""
    day = order_day
    hours = REGULAR_HOURS
    if calendar is not None and calendar.first <= day <= calendar.last:
        if not calendar.is_trading_day(day):
            day = calendar.next(day) or day
        hours = calendar.hours(day) or REGULAR_HOURS
    return datetime.combine(day, hours.close, KST) + margin
