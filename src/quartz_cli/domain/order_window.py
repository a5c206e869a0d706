"""When KIS accepts the orders Quartz places: a pre-trade check with its own refusal reasons.

Quartz places regular limit orders only, so it trades in the regular session
(09:00–15:30 KST on a KRX trading day, the closing call auction included). The window follows
each day's own hours (`KrxCalendar.hours`): the first session of the year opens at 10:00 and
the college-entrance-exam day runs 10:00–16:30, every other window moving with it. The
other windows (shown for a regular day) exist but take other order types, which Quartz does
not use:

==================  =====================================================================
08:30–09:00         pre-open: 장전 시간외 (`05`) and opening-auction orders; prices are not
                    formed yet, so Quartz waits for the open
15:30–15:40         nothing is accepted
15:40–18:00         after-hours: 장후 시간외 (`06`), 시간외 단일가 (`07`), and since 2026-09-14
                    (unconfirmed) the KRX after-market types 41–47, no market orders
15:40–07:30 (+1)    KIS reservation orders (`order-resv`, real accounts only) except 23:40–00:10
==================  =====================================================================

Conservative by design: anything not clearly the regular session is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import Enum

from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.krx import KST, Phase, kst_date


class WindowRefusal(str, Enum):
    HOLIDAY = "krx_holiday"
    PRE_OPEN = "pre_open"
    AFTER_HOURS = "after_hours_session"
    RESERVATION_ONLY = "reservation_order_window"
    OUTSIDE = "outside_order_window"


@dataclass(frozen=True)
class WindowCheck:
    """The outcome of the pre-trade window check at one moment."""

    at: datetime
    phase: Phase
    trading_day: bool
    refusal: WindowRefusal | None
    detail: str

    @property
    def accepts_orders(self) -> bool:
        return self.refusal is None


_RESV_START = time(15, 40)
_RESV_END = time(7, 30)
_RESV_GAP = (time(23, 40), time(0, 10))


def _in_reservation_window(t: time) -> bool:
    in_span = t >= _RESV_START or t < _RESV_END
    in_gap = t >= _RESV_GAP[0] or t < _RESV_GAP[1]
    return in_span and not in_gap


def check_order_window(moment: datetime, calendar: KrxCalendar) -> WindowCheck:
    """Whether a regular limit order may be sent at `moment`, and why not if not."""
    day = kst_date(moment)
    trading = calendar.is_trading_day(day)
    phase = calendar.phase(moment)
    t = moment.astimezone(KST).time()
    stamp = moment.astimezone(KST).strftime("%Y-%m-%d %H:%M KST")
    hours = calendar.hours(day)
    special = calendar.special(day)
    shifted = f"; {special}: {hours}" if special and hours else ""
    opens = f"{hours.open:%H:%M}" if hours else ""
    if phase in (Phase.CONTINUOUS, Phase.CLOSING_AUCTION):
        return WindowCheck(moment, phase, trading, None, f"regular session ({stamp}{shifted})")
    if not trading:
        return WindowCheck(moment, phase, trading, WindowRefusal.HOLIDAY,
                           f"{day.isoformat()} is not a KRX trading day ({stamp})")
    if phase is Phase.PRE_OPEN_AUCTION:
        return WindowCheck(moment, phase, trading, WindowRefusal.PRE_OPEN,
                           f"pre-open auction; Quartz sends regular orders from {opens} "
                           f"({stamp}{shifted})")
    if phase is Phase.AFTER_HOURS:
        return WindowCheck(moment, phase, trading, WindowRefusal.AFTER_HOURS,
                           "after-hours session takes only after-hours order types, which "
                           f"Quartz does not place ({stamp})")
    if hours is not None and _RESV_END <= t < hours.open:
        return WindowCheck(moment, phase, trading, WindowRefusal.PRE_OPEN,
                           f"before the open; Quartz sends regular orders from {opens} "
                           f"({stamp}{shifted})")
    if _in_reservation_window(t):
        return WindowCheck(moment, phase, trading, WindowRefusal.RESERVATION_ONLY,
                           "KIS accepts only reservation orders now (real accounts); Quartz "
                           f"does not place them ({stamp})")
    return WindowCheck(moment, phase, trading, WindowRefusal.OUTSIDE,
                       f"outside every KIS order window ({stamp})")
