"""The risk gate for a manual order (`quartz trade buy/sell`).

Decisions of the portfolio agent pass `domain.risk.run_gate`; an order typed by hand is one
explicit order, not a target weight, so it passes this subset of the same rules: the order
window, a listed ticker, whole shares, a limit price on the tick grid inside the day's limits,
cash for the worst-case fill (a market buy reserves at the upper limit, as KIS does) plus
fees, no more than the held quantity for a sell, and the single-ticker weight cap after a buy.
`MIN_ORDER_KRW` and the turnover cap size the engine's decisions and do not apply here."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from quartz_cli.domain.decision import Constraints
from quartz_cli.domain.krx import is_on_tick, tick_size
from quartz_cli.domain.order_window import WindowCheck
from quartz_cli.domain.orders import Side


@dataclass(frozen=True)
class ManualOrderContext:
    """What the gate needs to know about the account and the ticker right now."""

    listed: bool
    cash_krw: int
    total_value: int
    held_qty: int
    price: int
    upper_limit: int
    lower_limit: int
    window: WindowCheck


def check_manual_order(side: Side, qty: int, limit: int | None, ctx: ManualOrderContext,
                       constraints: Constraints) -> list[str]:
    """Every rule the order breaks, as readable reasons; an empty list means it may go."""
    reasons: list[str] = []
    if not ctx.window.accepts_orders:
        reasons.append(f"market closed: {ctx.window.detail}")
    if not ctx.listed:
        reasons.append("the ticker is not in the universe Quartz trades")
    if qty < 1:
        reasons.append("quantity must be at least one whole share")
    if limit is not None:
        if not is_on_tick(limit):
            reasons.append(f"limit {limit:,} is off the tick grid (tick {tick_size(limit):,} KRW)")
        if not ctx.lower_limit <= limit <= ctx.upper_limit:
            reasons.append(f"limit {limit:,} is outside today's limits "
                           f"{ctx.lower_limit:,}–{ctx.upper_limit:,}")
    if side is Side.SELL:
        if qty > ctx.held_qty:
            reasons.append(f"cannot sell {qty:,}: {ctx.held_qty:,} held")
        return reasons
    reserve_price = limit if limit is not None else ctx.upper_limit
    notional = Decimal(qty * reserve_price)
    cost = int((notional * (1 + constraints.buy_fee_rate)).to_integral_value(ROUND_CEILING))
    if cost > ctx.cash_krw:
        reasons.append(f"needs {cost:,} KRW with fees at {reserve_price:,}"
                       f"{' (a market buy reserves at the upper limit)' if limit is None else ''}"
                       f", {ctx.cash_krw:,} available")
    if ctx.total_value > 0:
        after = Decimal((ctx.held_qty + qty) * (limit or ctx.price)) / ctx.total_value
        if after > constraints.max_single_ticker_weight:
            reasons.append(f"weight after the buy {after:.1%} exceeds "
                           f"MAX_SINGLE_TICKER_WEIGHT {constraints.max_single_ticker_weight:.0%}")
    return reasons
