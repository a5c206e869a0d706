"""KRX days that differ from the exchange-calendars `XKRX` table: the project keeps them here
and tests them (tests/test_krx_calendar.py). Add a row when KRX announces a change.

- Closures: days KRX is closed that the library does not know (elections, ad-hoc holidays).
- The college-entrance-exam day (대학수학능력시험, CSAT): every window moves one hour later,
  the regular session runs 10:00–16:30. The library lists CSAT days only up to 2020.
- The first session of each year opens at 10:00 (the opening ceremony) and closes at 15:30:
  a rule, not a list (the library knows it too).

Sources and what is unconfirmed: docs/external-apis.md ("KRX special days").
"""

from __future__ import annotations

from datetime import date, time

from quartz_cli.domain.krx import REGULAR_CLOSE, SessionHours

LATE_OPEN_HOURS = SessionHours(time(10, 0), REGULAR_CLOSE)
CSAT_HOURS = SessionHours(time(10, 0), time(16, 30))

#: Days KRX does not trade although the library's table has a session.
CLOSURES: dict[date, str] = {
    date(2026, 6, 3): "9th nationwide local elections",
    date(2028, 4, 12): "23rd National Assembly election",
}

#: College-entrance-exam days (the regular session runs 10:00–16:30).
CSAT_DAYS: dict[date, str] = {
    date(2021, 11, 18): "CSAT for the 2022 academic year",
    date(2022, 11, 17): "CSAT for the 2023 academic year",
    date(2023, 11, 16): "CSAT for the 2024 academic year",
    date(2024, 11, 14): "CSAT for the 2025 academic year",
    date(2025, 11, 13): "CSAT for the 2026 academic year",
    date(2026, 11, 19): "CSAT for the 2027 academic year",
    date(2027, 11, 18): "CSAT for the 2028 academic year",
}


def special_hours(day: date, first_of_year: bool) -> tuple[SessionHours, str] | None:
    """The shifted hours of the session `day` and why, or None for a regular session.
    `first_of_year`: `day` is the first session of its calendar year."""
    if day in CSAT_DAYS:
        return CSAT_HOURS, CSAT_DAYS[day]
    if first_of_year:
        return LATE_OPEN_HOURS, "first session of the year (opening ceremony)"
    return None
