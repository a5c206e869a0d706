"""Composition root, KRX calendar for trading: the calendar table (`calendars.krx_calendar`)
with, in paper and prod, today's status from KIS's holiday inquiry (`kis/holidays.py`), which
is the authority. KIS's answer is cached per day; a disagreement with the table is logged
(and the table's special days, docs/external-apis.md, should be corrected).

A job whose reads go through the trading agent (`rt.reads`) does not ask KIS: every KIS call
of the account leaves from the owner, and the owner checks each order on its own calendar."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from quartz_cli.app.runtime import Runtime
from quartz_cli.calendars import krx_calendar
from quartz_cli.config import Env
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.krx import kst_date
from quartz_cli.kis.holidays import HolidayCache, market_day

log = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def holiday_cache(folder: Path) -> HolidayCache:
    """One cache per folder and process, so a server asks the disk once a day."""
    return HolidayCache(folder)


async def trading_calendar(rt: Runtime) -> KrxCalendar:
    """The KRX calendar the order window is checked against (see the module docstring)."""
    config = rt.config
    today = kst_date(config.market_now())
    calendar = krx_calendar(config.home / "cache", today)
    if config.env is Env.LOCAL or rt.reads is not None:
        return calendar
    folder = config.home / "cache" / "kis-holidays" / config.env.value
    verdict = await market_day(rt.kis, today, holiday_cache(folder))
    if verdict is None:
        return calendar
    if verdict.open != calendar.is_trading_day(today):
        log.warning("KIS's holiday inquiry says the market is %s on %s; the calendar table "
                    "says %s. Following KIS.", "open" if verdict.open else "closed",
                    today.isoformat(), "open" if calendar.is_trading_day(today) else "closed")
    return calendar.with_day(today, verdict.open)
