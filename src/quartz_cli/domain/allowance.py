"""What an engine may choose, computed before it is asked: per ticker the allowed sides,
the largest buy and sell quantities, and the largest target weight.

The same limits as the risk gate, applied to one ticker at a time (the gate still runs after
the engine answers: it also sees the interaction between tickers, e.g. shared cash)."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from quartz_cli.domain.decision import (
    Allowance,
    Constraints,
    PortfolioView,
    Quote,
)
from quartz_cli.domain.orders import Side
from quartz_cli.domain.risk import buy_limit_price, max_affordable_qty, sell_limit_price


def allowance_for(ticker: str, quote: Quote | None, portfolio: PortfolioView,
                  c: Constraints, *, has_technical: bool) -> Allowance:
    """The allowance of one ticker. Without a quote only a hold is allowed; without technical
    data a held ticker may still be sold (exits are rules) but nothing is bought."""
    pos = portfolio.position(ticker)
    held = pos.qty if pos else 0
    sellable = pos.sellable_qty if pos else 0
    if quote is None:
        return Allowance(sides=(), reason="no current price")
    sides: list[Side] = []
    reasons = []
    total = Decimal(portfolio.total_value)
    turnover = int((total * c.max_turnover_ratio).to_integral_value(rounding=ROUND_FLOOR))
    max_sell = min(sellable, turnover // sell_limit_price(quote))
    if max_sell > 0:
        sides.append(Side.SELL)
    elif held:
        reasons.append("nothing sellable now")
    max_buy = 0
    if has_technical:
        price = buy_limit_price(quote)
        cap_qty = int((c.max_single_ticker_weight * total / price)
                      .to_integral_value(rounding=ROUND_FLOOR)) - held
        max_buy = max(0, min(cap_qty, max_affordable_qty(portfolio.cash_krw, price, c),
                             turnover // price))
        if max_buy * price >= max(c.min_order_krw, 1):
            sides.insert(0, Side.BUY)
        else:
            max_buy = 0
            reasons.append("no buy of at least MIN_ORDER_KRW fits cash, cap and turnover")
    else:
        reasons.append("no technical data")
    return Allowance(sides=tuple(sides), max_buy_qty=max_buy, max_sell_qty=max_sell,
                     max_weight=float(c.max_single_ticker_weight), reason="; ".join(reasons))
