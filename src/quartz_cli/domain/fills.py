"""How a backtest fills one day order against the next session's daily bar. Pure.

A backtest decides on bars that closed before the decision time and fills at the first
session that opens after it: never at the decision bar's close. The rules, in order:

- a halt (no bar for the session, or KRX's flat zero-volume bar) fills nothing;
- the session's limits are ±30 % of the previous close (`domain.krx.price_limits`): a buy
  never fills at the upper limit (a locked limit-up has no sellers), a sell never at the
  lower limit;
- a limit buy fills at the open when the open is at or below its limit, else at its limit
  when the day's low reaches it, else not at all (a sell mirrors it); every price is on the
  tick grid;
- at most `participation` of the session's volume is taken: the rest expires with the day
  order (a partial fill);
- the broker's commission on each side and the sell tax by the settlement date come from
  `domain.costs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from quartz_cli.domain.bars import Bar
from quartz_cli.domain.costs import commission, sell_tax
from quartz_cli.domain.krx import ceil_to_tick, floor_to_tick, price_limits
from quartz_cli.domain.orders import Side

#: Default share of a session's volume one order may take.
PARTICIPATION = Decimal("0.1")


@dataclass(frozen=True)
class Fill:
    """What one order got: `qty` shares at `price` (0 shares: not filled, `reason` says
    why), the commission and the sell tax in won."""

    side: Side
    ticker: str
    day: date
    ordered: int
    qty: int
    price: int
    commission: int
    tax: int
    reason: str = ""

    @property
    def notional(self) -> int:
        return self.qty * self.price

    @property
    def cash_effect(self) -> int:
        """Won added to cash (negative for a buy), costs included."""
        if self.side is Side.BUY:
            return -(self.notional + self.commission)
        return self.notional - self.commission - self.tax


def _none(side: Side, ticker: str, day: date, qty: int, reason: str) -> Fill:
    return Fill(side, ticker, day, qty, 0, 0, 0, 0, reason)


def fill_day_order(side: Side, ticker: str, qty: int, limit: int, bar: Bar | None,
                   prev_close: int, day: date, settles_on: date,
                   participation: Decimal = PARTICIPATION) -> Fill:
    """Fill a day limit order of `qty` shares at `limit` won in the session `day` whose bar
    is `bar` (None: no trading, a halt), with `prev_close` the limits' base. See the module
    docstring for the rules."""
    if bar is None or bar.halted:
        return _none(side, ticker, day, qty, "halted: no trading in the session")
    limits = price_limits(prev_close)
    if side is Side.BUY:
        if bar.open <= limit:
            price = ceil_to_tick(bar.open)
        elif bar.low <= limit:
            price = limit
        else:
            return _none(side, ticker, day, qty,
                         f"not filled: the low {bar.low:,} stayed above the limit {limit:,}")
        if price >= limits.upper:
            return _none(side, ticker, day, qty,
                         f"limit-up: no sellers at the upper limit {limits.upper:,}")
    else:
        if bar.open >= limit:
            price = floor_to_tick(bar.open)
        elif bar.high >= limit:
            price = limit
        else:
            return _none(side, ticker, day, qty,
                         f"not filled: the high {bar.high:,} stayed below the limit {limit:,}")
        if price <= limits.lower:
            return _none(side, ticker, day, qty,
                         f"limit-down: no buyers at the lower limit {limits.lower:,}")
    cap = int((Decimal(bar.volume) * participation).to_integral_value(rounding=ROUND_FLOOR))
    got = min(qty, cap)
    if got <= 0:
        return _none(side, ticker, day, qty,
                     f"volume: {participation * 100:.0f} % of {bar.volume:,} shares is none")
    reason = (f"partial: {got:,} of {qty:,} ({participation * 100:.0f} % of the session's "
              f"{bar.volume:,} shares)") if got < qty else ""
    amount = got * price
    tax = sell_tax(amount, settles_on) if side is Side.SELL else 0
    return Fill(side, ticker, day, qty, got, price, commission(amount), tax, reason)
