"""The account owner's pre-trade risk stage: one order checked against the account as it
will be once everything in flight fills at the worst case. Pure: no I/O, no clock.

Every order on every path (the trading server's WebSocket and HTTP, the CLI in-process,
decide and rebalance) passes it in `agents.owner.AccountOwner` before the broker sees it.
The portfolio gate (`domain.risk`) sizes an engine's decisions; this stage has the last word.

Rules, each refusal naming itself and its numbers:

- trading state: `halted` refuses every new order; `reduce_only` refuses buys.
- order window: the KRX calendar and the regular session (`domain.order_window`).
- listing: the ticker is in the universe Quartz trades.
- quote: a listed ticker has a quote now (none when halted, or the broker did not answer).
- sanity: at least one share, at most `max_order_qty`, a notional at most `max_order_krw`.
- tick grid and daily limits for a limit price; a quote inside its own limits.
- held quantity: a sell never exceeds what is held minus what is already in flight to sell
  (a position is never sold twice).
- cash: a buy's worst-case cost (its limit, or the upper limit for a market buy, plus the
  fee) fits in the cash left after every in-flight buy's worst-case cost.
- weight cap: what is held plus every in-flight buy plus this buy, valued at the higher of
  the current price and the order's limit, stays within `max_single_ticker_weight` of the
  account's value (in-flight sells are not counted: they may not fill).
- turnover per KRX trading day: today's filled notional, plus every in-flight order's
  worst-case notional, plus this order's, stays within `max_turnover_ratio` × the value
  the account had when the owner first saw it that day. Buys and sells both count, but only
  a buy is refused for it: a sell lowers exposure, and a stop-loss must always get out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from enum import Enum

from quartz_cli.domain.decision import Constraints, Quote
from quartz_cli.domain.krx import is_on_tick, tick_size
from quartz_cli.domain.order_window import WindowCheck
from quartz_cli.domain.orders import OrderRequest, OrderType, Side


class TradingState(str, Enum):
    """What the account owner lets through: everything, sells only, or nothing new
    (cancels always pass: they only reduce exposure)."""

    ACTIVE = "active"
    REDUCE_ONLY = "reduce_only"
    HALTED = "halted"


class PretradeRule(str, Enum):
    """The rule a refusal names; `pretrade:<value>` is the outcome's code."""

    TRADING_STATE = "trading_state"
    ORDER_WINDOW = "order_window"
    LISTING = "listing"
    QUOTE = "quote"
    SANITY = "sanity"
    TICK = "tick"
    PRICE_LIMIT = "price_limit"
    HELD_QTY = "held_qty"
    CASH = "cash"
    WEIGHT_CAP = "weight_cap"
    TURNOVER = "turnover"


@dataclass(frozen=True)
class Refusal:
    rule: PretradeRule
    detail: str

    @property
    def code(self) -> str:
        return f"pretrade:{self.rule.value}"

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class HeldPosition:
    """One holding: shares held (including any being sold), and the current price."""

    ticker: str
    qty: int
    price: int


@dataclass(frozen=True)
class InFlight:
    """An order sent (or possibly sent) whose remainder may still fill: `qty` is what is left
    of it, `worst_price` the per-share price it can fill at in the worst case (its limit, or
    the day's limit for a market order). An order of unknown outcome counts at full size."""

    request_id: str
    side: Side
    ticker: str
    qty: int
    worst_price: int

    @property
    def notional(self) -> int:
        return self.qty * self.worst_price


@dataclass(frozen=True)
class AccountState:
    """The account as the owner sees it before one order: the broker's cash (not net of open
    buys) and holdings, the owner's in-flight orders, today's filled notional, the value at
    the start of the KST trading day and the trading state."""

    cash_krw: int
    positions: tuple[HeldPosition, ...]
    in_flight: tuple[InFlight, ...]
    start_of_day_value: int
    filled_today_krw: int
    trading_state: TradingState = TradingState.ACTIVE

    def position(self, ticker: str) -> HeldPosition | None:
        return next((p for p in self.positions if p.ticker == ticker), None)

    @property
    def total_value(self) -> int:
        """Cash plus holdings at their current prices."""
        return self.cash_krw + sum(p.qty * p.price for p in self.positions)

    def in_flight_qty(self, ticker: str, side: Side) -> int:
        return sum(o.qty for o in self.in_flight if o.ticker == ticker and o.side is side)


@dataclass(frozen=True)
class MarketFacts:
    """What the market says about the order's ticker right now."""

    quote: Quote
    listed: bool
    window: WindowCheck


@dataclass(frozen=True)
class Limits:
    """The settings the stage enforces: the portfolio's constraints (weight cap, turnover
    cap, fee and tax rates) and a sanity bound on one order."""

    constraints: Constraints = field(default_factory=Constraints)
    max_order_qty: int = 1_000_000
    max_order_krw: int = 10_000_000_000


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def buy_cost(notional: int, c: Constraints) -> int:
    """A buy's cash need: notional plus the broker fee, rounded up to the won."""
    return notional + _ceil(Decimal(notional) * c.buy_fee_rate)


def worst_price(side: Side, order_type: OrderType, limit: int, quote: Quote) -> int:
    """The per-share price an order can fill at in the worst case: its limit, else the
    day's upper limit for a market buy (KIS reserves cash there) and the current price for
    a market sell (the turnover it adds; a lower fill only lowers it)."""
    if order_type is OrderType.LIMIT:
        return limit
    return quote.upper if side is Side.BUY else quote.price


def _pct(x: Decimal) -> str:
    return f"{x * 100:.1f} %"


@dataclass(frozen=True)
class DayTurnover:
    """The account's turnover for the KST trading day, as the owner counts it: what it
    allows (`max_turnover_ratio` × the start-of-day value), what fills used, and what the
    orders in flight may still use at their worst case."""

    allowed: int
    filled: int
    in_flight: int

    @property
    def left(self) -> int:
        """Won of buys the owner would still let through today (never negative)."""
        return max(0, self.allowed - self.filled - self.in_flight)


def day_turnover(account: AccountState, c: Constraints) -> DayTurnover:
    """The day's turnover budget of `account` under `c` (the turnover rule's numbers)."""
    return DayTurnover(allowed=_ceil(c.max_turnover_ratio * account.start_of_day_value),
                       filled=account.filled_today_krw,
                       in_flight=sum(o.notional for o in account.in_flight))


def check_order(order: OrderRequest, account: AccountState, market: MarketFacts,
                limits: Limits) -> list[Refusal]:
    """Every rule `order` (a buy or a sell) breaks, most basic first; empty means it may
    go. See the module docstring for the rules."""
    if order.side is None:
        raise ValueError("check_order takes a buy or a sell; cancels are not checked")
    c = limits.constraints
    side, ticker, qty, q = order.side, order.ticker, order.qty, market.quote
    out: list[Refusal] = []

    def refuse(rule: PretradeRule, detail: str) -> None:
        out.append(Refusal(rule, detail))

    state = account.trading_state
    if state is TradingState.HALTED:
        refuse(PretradeRule.TRADING_STATE, "trading state: the account is halted; no new "
               "orders (resume with `quartz trade resume`)")
    elif state is TradingState.REDUCE_ONLY and side is Side.BUY:
        refuse(PretradeRule.TRADING_STATE, "trading state: the account is reduce-only; "
               "sells only (resume with `quartz trade resume`)")
    if not market.window.accepts_orders:
        refuse(PretradeRule.ORDER_WINDOW, f"market closed: {market.window.detail}")
    if not market.listed:
        refuse(PretradeRule.LISTING, f"listing: {ticker} is not in the universe Quartz trades")
    limit = order.price if order.order_type is OrderType.LIMIT else 0
    price = worst_price(side, order.order_type, limit, q)
    # A marketable limit sell fills at the market price, above its limit: count that.
    notional = qty * (max(price, q.price) if side is Side.SELL else price)
    if not 1 <= qty <= limits.max_order_qty:
        refuse(PretradeRule.SANITY, f"sanity: {qty:,} shares is outside 1–"
               f"{limits.max_order_qty:,} for one order")
    elif notional > limits.max_order_krw:
        refuse(PretradeRule.SANITY, f"sanity: {qty:,} × {price:,} = {notional:,} KRW is more "
               f"than {limits.max_order_krw:,} KRW for one order")
    if limit:
        if not is_on_tick(limit):
            refuse(PretradeRule.TICK, f"tick: limit {limit:,} is off the tick grid "
                   f"(tick {tick_size(limit):,} KRW)")
        if not q.lower <= limit <= q.upper:
            refuse(PretradeRule.PRICE_LIMIT, f"price limit: limit {limit:,} is outside today's "
                   f"limits {q.lower:,}–{q.upper:,}")
    pos = account.position(ticker)
    held = pos.qty if pos else 0
    if side is Side.SELL:
        selling = account.in_flight_qty(ticker, Side.SELL)
        if qty > held - selling:
            refuse(PretradeRule.HELD_QTY, f"held quantity: cannot sell {qty:,} {ticker}: "
                   f"{held:,} held, {selling:,} already in flight to sell")
    else:
        reserved = sum(buy_cost(o.notional, c) for o in account.in_flight if o.side is Side.BUY)
        cost = buy_cost(notional, c)
        free = account.cash_krw - reserved
        if cost > free:
            why = " (a market buy reserves at the upper limit)" if not limit else ""
            refuse(PretradeRule.CASH, f"cash: needs {cost:,} KRW with fees at {price:,}{why}; "
                   f"{account.cash_krw:,} KRW cash minus {reserved:,} reserved by in-flight "
                   f"buys leaves {free:,}")
        total = account.total_value
        value_price = max(q.price, limit)
        exposure = sum(max(o.worst_price, value_price) * o.qty for o in account.in_flight
                       if o.ticker == ticker and o.side is Side.BUY)
        after = held * value_price + exposure + qty * value_price
        cap = c.max_single_ticker_weight
        if total <= 0 or Decimal(after) > cap * total:
            weight = Decimal(after) / total if total > 0 else Decimal(1)
            refuse(PretradeRule.WEIGHT_CAP, f"weight cap: {ticker} would be {_pct(weight)} of "
                   f"{total:,} KRW after in-flight orders ({after:,} KRW; cap {_pct(cap)})")
    day = day_turnover(account, c)
    traded = day.filled + day.in_flight + notional
    if side is Side.BUY and traded > day.allowed:
        refuse(PretradeRule.TURNOVER, f"turnover: today's {day.filled:,} KRW "
               f"filled + {day.in_flight:,} in flight + {notional:,} for this order = "
               f"{traded:,} KRW, more than {_pct(c.max_turnover_ratio)} of the start-of-day "
               f"value {account.start_of_day_value:,} KRW ({day.allowed:,})")
    return out


def daily_loss_breached(total_value: int, start_of_day_value: int,
                        limit_pct: Decimal) -> str | None:
    """Why the account should go reduce-only (its value fell `limit_pct` % or more below
    the start of the day), or None."""
    if start_of_day_value <= 0:
        return None
    loss = Decimal(start_of_day_value - total_value) / start_of_day_value
    if loss * 100 < limit_pct:
        return None
    return (f"daily loss limit: value {total_value:,} KRW is {loss * 100:.2f} % below the "
            f"start-of-day {start_of_day_value:,} KRW (limit {limit_pct} %)")
