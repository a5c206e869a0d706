"""The KRX trading calendar as a pure value: a set of session dates and questions about it."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime

from quartz_cli.domain.krx import Phase, kst_date, phase_at


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
