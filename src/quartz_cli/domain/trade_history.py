"""Fills and realised P&L by day, from the broker's daily order inquiry.

Realised P&L is counted on sells against the moving-average cost of the buys seen before
them in the same history; a sell whose shares were bought before the history starts has no
known cost here, so its P&L is left out and its quantity reported as `unmatched_sell_qty`
(never guessed)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from quartz_cli.domain.orders import OrderReport, Side


@dataclass
class DayFills:
    """One KST day's fills: counts, amounts in won, and the realised P&L."""

    day: date
    fills: list[dict[str, object]] = field(default_factory=list)
    bought_krw: int = 0
    sold_krw: int = 0
    realised_pnl_krw: int = 0
    unmatched_sell_qty: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"day": self.day.isoformat(), "fills": self.fills,
                "bought_krw": self.bought_krw, "sold_krw": self.sold_krw,
                "realised_pnl_krw": self.realised_pnl_krw,
                "unmatched_sell_qty": self.unmatched_sell_qty}


def fills_by_day(reports: Iterable[OrderReport]) -> list[DayFills]:
    """The filled part of each new order (revise/cancel rows carry no fill of their own),
    oldest day first, with the realised P&L of each day's sells."""
    filled = [r for r in reports
              if r.original_order_no is None and r.filled_qty > 0 and r.placed_at is not None]
    # Within a day the broker's order numbers are sequential (zero-padded): a surer order
    # than the order time, which has whole seconds only.
    filled.sort(key=lambda r: (r.placed_at.date() if r.placed_at else None, r.order_no))
    held: dict[str, int] = defaultdict(int)
    cost: dict[str, int] = defaultdict(int)  # total won paid for the shares in `held`
    days: dict[date, DayFills] = {}
    for r in filled:
        assert r.placed_at is not None
        day = days.setdefault(r.placed_at.date(), DayFills(r.placed_at.date()))
        amount = r.filled_amount or r.filled_qty * r.avg_fill_price
        realised: int | None = None
        if r.side is Side.BUY:
            held[r.ticker] += r.filled_qty
            cost[r.ticker] += amount
            day.bought_krw += amount
        else:
            day.sold_krw += amount
            matched = min(r.filled_qty, held[r.ticker])
            if matched:
                # Integer won: the average cost of the matched shares, rounded down once.
                basis = cost[r.ticker] * matched // held[r.ticker]
                realised = amount * matched // r.filled_qty - basis
                cost[r.ticker] -= basis
                held[r.ticker] -= matched
                day.realised_pnl_krw += realised
            day.unmatched_sell_qty += r.filled_qty - matched
        day.fills.append({"time": r.placed_at.isoformat(), "order_no": r.order_no,
                          "side": r.side.value.lower(), "ticker": r.ticker, "name": r.name,
                          "qty": r.filled_qty, "avg_price": r.avg_fill_price,
                          "amount_krw": amount, "realised_pnl_krw": realised})
    return [days[d] for d in sorted(days)]
