"""The risk gate: a pure function from (proposed decisions, portfolio, quotes, constraints) to
orders, plus the reason every proposal was cut or dropped. Nothing reaches the broker without
passing it, whatever an engine said.

Rules, in the order they apply:

1. A proposal must name a valid KRX code from the analysed universe (once; a duplicate is
   dropped), choose an action it was allowed (when allowances are given), have a quote, and
   carry a finite, non-negative target weight. A hold (no side) places nothing.
2. Sells go first (they reduce risk), most confident first. A sell brings the position down
   to `target_weight` of total value, never more than the sellable quantity.
3. Buys are ranked by confidence, then target weight, then code; at most
   `max_buy_candidates` become orders. A target above `max_single_ticker_weight` is clipped
   to it and the clipped weight is never given to another ticker.
4. Every order is whole shares at a limit price on the KRX tick grid inside the day's ±30 %
   limits (buys at the current price rounded up, sells rounded down).
5. Buys spend only the orderable cash held now (sale proceeds are not counted: a limit sell
   may not fill), fees included; the sum of all order values stays within
   `max_turnover_ratio` × total value. When the account's owner says how much of the
   day's turnover is left (`day_turnover_left`: earlier runs' fills and orders in flight
   already count), buys also fit in that, after this run's sells: the owner would refuse a
   buy beyond it, never a sell.
6. An order below `min_order_krw` is dropped, except a sell of the whole position (so a small
   remnant can always be closed).
7. When the pre-trade order-window check refuses, every order is held back with its reason.

Weights are measured against the portfolio's total value at current prices; a buy's weight
is checked at its limit price, which is at or above the current price, so the cap holds at
either.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import Enum

from quartz_cli.domain.decision import (
    Allowance,
    Constraints,
    PortfolioView,
    Proposal,
    Quote,
)
from quartz_cli.domain.krx import ceil_to_tick, floor_to_tick, normalize_ticker
from quartz_cli.domain.order_window import WindowCheck
from quartz_cli.domain.orders import Side
from quartz_cli.errors import InputError


class Rule(str, Enum):
    """Why the gate cut (reduced) or dropped a proposal. Values are stable for scripts."""

    INVALID_TICKER = "invalid_ticker"
    DUPLICATE = "duplicate"
    NOT_IN_UNIVERSE = "not_in_universe"
    NO_QUOTE = "no_quote"
    ACTION_NOT_ALLOWED = "action_not_allowed"
    INVALID_WEIGHT = "invalid_weight"
    NOT_HELD = "not_held"
    NO_CHANGE = "no_change"
    MAX_BUY_CANDIDATES = "max_buy_candidates"
    MAX_SINGLE_TICKER_WEIGHT = "max_single_ticker_weight"
    SELLABLE_QTY = "sellable_qty"
    PRICE_LIMIT = "price_limit"
    WHOLE_SHARES = "whole_shares"
    CASH = "cash"
    MAX_TURNOVER_RATIO = "max_turnover_ratio"
    DAY_TURNOVER = "day_turnover"
    MIN_ORDER_KRW = "min_order_krw"
    ORDER_WINDOW = "order_window"


class NoteKind(str, Enum):
    CUT = "cut"              # the proposal survives, smaller
    DROPPED = "dropped"      # the proposal places no order
    HELD_BACK = "held_back"  # a valid order not sent because of the order window


@dataclass(frozen=True)
class GateNote:
    """`side` is the proposal's (None for a hold)."""

    ticker: str
    side: Side | None
    kind: NoteKind
    rule: Rule
    detail: str


@dataclass(frozen=True)
class Order:
    """A gated order: whole shares at a valid limit price. `fees_krw` is the estimate of the
    broker fee (plus the transaction tax on sells), rounded up to the won."""

    ticker: str
    side: Side
    qty: int
    limit_price: int
    fees_krw: int
    rationale: str = ""

    @property
    def notional(self) -> int:
        return self.qty * self.limit_price

    @property
    def cash_effect(self) -> int:
        """Cash after the fill minus cash before: negative for a buy."""
        if self.side is Side.BUY:
            return -(self.notional + self.fees_krw)
        return self.notional - self.fees_krw


@dataclass(frozen=True)
class GateResult:
    orders: tuple[Order, ...]
    held_back: tuple[Order, ...] = ()
    notes: tuple[GateNote, ...] = ()
    holds: tuple[str, ...] = field(default=())

    def notes_for(self, ticker: str) -> list[GateNote]:
        return [n for n in self.notes if n.ticker == ticker]


def _ceil_won(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _floor_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def buy_fees(notional: int, c: Constraints) -> int:
    """Broker fee on a buy, rounded up to the won."""
    return _ceil_won(Decimal(notional) * c.buy_fee_rate)


def sell_fees(notional: int, c: Constraints) -> int:
    """Broker fee plus securities transaction tax on a sell, rounded up to the won."""
    return _ceil_won(Decimal(notional) * (c.sell_fee_rate + c.sell_tax_rate))


def buy_limit_price(q: Quote) -> int:
    """The current price rounded up to the tick, inside the day's limits."""
    return min(max(ceil_to_tick(q.price), q.lower), q.upper)


def sell_limit_price(q: Quote) -> int:
    """The current price rounded down to the tick, inside the day's limits."""
    return max(min(floor_to_tick(q.price), q.upper), q.lower)


def max_affordable_qty(cash: int, price: int, c: Constraints) -> int:
    """The most whole shares at `price` whose cost, fee included, fits in `cash`."""
    if price <= 0 or cash <= 0:
        return 0
    qty = _floor_int(Decimal(cash) / (Decimal(price) * (1 + c.buy_fee_rate)))
    while qty > 0 and qty * price + buy_fees(qty * price, c) > cash:
        qty -= 1
    return qty


def _rank_key(p: Proposal, cap: Decimal) -> tuple[float, float, str]:
    """Most confident first, then the larger (capped) target, then the code."""
    conf = p.confidence if math.isfinite(p.confidence) else 0.0
    weight = min(p.target_weight, float(cap)) if math.isfinite(p.target_weight) else 0.0
    return (-conf, -weight, p.ticker)


class _Run:
    """The mutable bookkeeping of one gate pass."""

    def __init__(self, portfolio: PortfolioView, c: Constraints,
                 day_turnover_left: int | None) -> None:
        self.portfolio = portfolio
        self.c = c
        self.total = Decimal(portfolio.total_value)
        self.cash_left = portfolio.cash_krw
        self.turnover_left = _floor_int(self.total * c.max_turnover_ratio)
        self.day_left = day_turnover_left
        self.orders: list[Order] = []
        self.notes: list[GateNote] = []
        self.buy_orders = 0

    def note(self, p: Proposal, ticker: str, kind: NoteKind, rule: Rule, detail: str) -> None:
        self.notes.append(GateNote(ticker, p.side, kind, rule, detail))

    def drop(self, p: Proposal, ticker: str, rule: Rule, detail: str) -> None:
        self.note(p, ticker, NoteKind.DROPPED, rule, detail)

    def cut(self, p: Proposal, ticker: str, rule: Rule, detail: str) -> None:
        self.note(p, ticker, NoteKind.CUT, rule, detail)

    def _reduce(self, p: Proposal, ticker: str, qty: int, to: int, rule: Rule,
                why: str) -> bool:
        """Note a cut from `qty` to `to` shares; a cut to nothing is a drop. True if any
        shares are left."""
        if to <= 0:
            self.drop(p, ticker, rule, f"{qty} → 0: {why}")
            return False
        self.cut(p, ticker, rule, f"{qty} → {to}: {why}")
        return True

    def _limit(self, p: Proposal, ticker: str, q: Quote, price: int) -> None:
        if price != q.price and not (q.lower <= q.price <= q.upper):
            self.cut(p, ticker, Rule.PRICE_LIMIT,
                     f"price {q.price:,} is outside the day's limits "
                     f"{q.lower:,}–{q.upper:,}; limit set to {price:,}")

    def sell(self, p: Proposal, ticker: str, q: Quote) -> None:
        pos = self.portfolio.position(ticker)
        if pos is None or pos.qty == 0:
            self.drop(p, ticker, Rule.NOT_HELD, "no shares held to sell")
            return
        price = sell_limit_price(q)
        self._limit(p, ticker, q, price)
        keep = _floor_int(Decimal(str(p.target_weight)) * self.total / Decimal(q.price))
        qty = pos.qty - min(keep, pos.qty)
        if qty <= 0:
            self.drop(p, ticker, Rule.NO_CHANGE,
                      f"target weight {p.target_weight:.4f} is not below the current "
                      f"{self.portfolio.weight(ticker):.4f}")
            return
        if qty > pos.sellable_qty:
            if not self._reduce(p, ticker, qty, pos.sellable_qty, Rule.SELLABLE_QTY,
                                f"only {pos.sellable_qty} of {pos.qty} are sellable now"):
                return
            qty = pos.sellable_qty
        by_turnover = self.turnover_left // price
        if qty > by_turnover:
            if not self._reduce(p, ticker, qty, by_turnover, Rule.MAX_TURNOVER_RATIO,
                                f"turnover left {self.turnover_left:,} won"):
                return
            qty = by_turnover
        notional = qty * price
        if notional < self.c.min_order_krw and qty < pos.qty:
            self.drop(p, ticker, Rule.MIN_ORDER_KRW,
                      f"{qty} × {price:,} = {notional:,} won is below {self.c.min_order_krw:,}")
            return
        self.turnover_left -= notional
        if self.day_left is not None:
            # The owner counts a marketable sell at the market price, above its limit.
            self.day_left -= qty * max(price, q.price)
        self.orders.append(Order(ticker, Side.SELL, qty, price, sell_fees(notional, self.c),
                                 p.rationale))

    def buy(self, p: Proposal, ticker: str, q: Quote) -> None:
        c = self.c
        if self.buy_orders >= c.max_buy_candidates:
            self.drop(p, ticker, Rule.MAX_BUY_CANDIDATES,
                      f"already {c.max_buy_candidates} buy orders (ranked by confidence)")
            return
        weight = Decimal(str(p.target_weight))
        if weight > c.max_single_ticker_weight:
            self.cut(p, ticker, Rule.MAX_SINGLE_TICKER_WEIGHT,
                     f"target weight {p.target_weight:.4f} → {c.max_single_ticker_weight} "
                     "(the clipped weight is not given to another ticker)")
            weight = c.max_single_ticker_weight
        price = buy_limit_price(q)
        self._limit(p, ticker, q, price)
        pos = self.portfolio.position(ticker)
        held = pos.qty if pos else 0
        target_qty = _floor_int(weight * self.total / Decimal(price))
        qty = target_qty - held
        if qty <= 0:
            if held == 0 and weight > 0:
                self.drop(p, ticker, Rule.WHOLE_SHARES,
                          f"one share at {price:,} is more than the target "
                          f"{_floor_int(weight * self.total):,} won")
            else:
                self.drop(p, ticker, Rule.NO_CHANGE,
                          f"already at or above the target weight {weight:.4f}")
            return
        by_cash = max_affordable_qty(self.cash_left, price, c)
        if qty > by_cash:
            if not self._reduce(p, ticker, qty, by_cash, Rule.CASH,
                                f"{self.cash_left:,} won orderable, fees included"):
                return
            qty = by_cash
        by_turnover = self.turnover_left // price
        if qty > by_turnover:
            if not self._reduce(p, ticker, qty, by_turnover, Rule.MAX_TURNOVER_RATIO,
                                f"turnover left {self.turnover_left:,} won"):
                return
            qty = by_turnover
        if self.day_left is not None and qty > (by_day := max(0, self.day_left) // price):
            if not self._reduce(p, ticker, qty, by_day, Rule.DAY_TURNOVER,
                                f"the account's turnover left today is "
                                f"{max(0, self.day_left):,} won (earlier fills, orders in "
                                "flight and this run's sells counted)"):
                return
            qty = by_day
        notional = qty * price
        if notional < c.min_order_krw:
            self.drop(p, ticker, Rule.MIN_ORDER_KRW,
                      f"{qty} × {price:,} = {notional:,} won is below {c.min_order_krw:,}")
            return
        fees = buy_fees(notional, c)
        self.cash_left -= notional + fees
        self.turnover_left -= notional
        if self.day_left is not None:
            self.day_left -= notional
        self.buy_orders += 1
        self.orders.append(Order(ticker, Side.BUY, qty, price, fees, p.rationale))


def run_gate(
    proposals: Sequence[Proposal],
    portfolio: PortfolioView,
    quotes: Mapping[str, Quote],
    constraints: Constraints,
    universe: Collection[str],
    window: WindowCheck | None = None,
    allowances: Mapping[str, Allowance] | None = None,
    day_turnover_left: int | None = None,
) -> GateResult:
    """Turn proposals into orders that satisfy every rule of this module; see its docstring.

    `universe` is the set of codes that were analysed; `window`, when given, is the
    pre-trade order-window check (a refusal holds every order back); `allowances`, when
    given, are the per-ticker actions the engine was allowed to choose;
    `day_turnover_left`, when given, is the account's turnover left today (rule 5)."""
    run = _Run(portfolio, constraints, day_turnover_left)
    seen: set[str] = set()
    sells: list[tuple[Proposal, str, Quote]] = []
    buys: list[tuple[Proposal, str, Quote]] = []
    holds: list[str] = []
    for p in proposals:
        try:
            ticker = normalize_ticker(p.ticker)
        except InputError:
            run.drop(p, p.ticker, Rule.INVALID_TICKER, f"'{p.ticker}' is not a KRX code")
            continue
        if ticker in seen:
            run.drop(p, ticker, Rule.DUPLICATE, "a second decision for the same ticker")
            continue
        seen.add(ticker)
        if ticker not in universe:
            run.drop(p, ticker, Rule.NOT_IN_UNIVERSE, "not among the analysed tickers")
            continue
        if p.side is None:
            holds.append(ticker)
            continue
        allowed = allowances.get(ticker) if allowances is not None else None
        if allowances is not None and (allowed is None or p.side not in allowed.sides):
            why = allowed.reason if allowed and allowed.reason else "not offered to the engine"
            run.drop(p, ticker, Rule.ACTION_NOT_ALLOWED, f"{p.side.value} not allowed: {why}")
            continue
        if not math.isfinite(p.target_weight) or p.target_weight < 0:
            run.drop(p, ticker, Rule.INVALID_WEIGHT,
                     f"target weight {p.target_weight!r} is not a non-negative number")
            continue
        quote = quotes.get(ticker)
        if quote is None:
            run.drop(p, ticker, Rule.NO_QUOTE, "no current price")
            continue
        (sells if p.side is Side.SELL else buys).append((p, ticker, quote))
    cap = constraints.max_single_ticker_weight
    for p, ticker, quote in sorted(sells, key=lambda x: _rank_key(x[0], cap)):
        run.sell(p, ticker, quote)
    for p, ticker, quote in sorted(buys, key=lambda x: _rank_key(x[0], cap)):
        run.buy(p, ticker, quote)
    orders = tuple(run.orders)
    if window is not None and not window.accepts_orders:
        reason = window.refusal.value if window.refusal else "closed"
        for o in orders:
            run.notes.append(GateNote(o.ticker, o.side, NoteKind.HELD_BACK,
                                      Rule.ORDER_WINDOW, f"{reason}: {window.detail}"))
        return GateResult(orders=(), held_back=orders, notes=tuple(run.notes),
                          holds=tuple(holds))
    return GateResult(orders=orders, notes=tuple(run.notes), holds=tuple(holds))


def weights_after(portfolio: PortfolioView, orders: Sequence[Order],
                  quotes: Mapping[str, Quote]) -> tuple[dict[str, float], dict[str, float]]:
    """Weights of each ticker (and `cash`) before and after the orders fill at their limit
    prices, positions valued at current prices."""
    qty = {p.ticker: p.qty for p in portfolio.positions}
    price = {p.ticker: p.price for p in portfolio.positions}
    price.update({t: q.price for t, q in quotes.items()})
    cash = portfolio.cash_krw

    def snapshot() -> dict[str, float]:
        values = {t: n * price.get(t, 0) for t, n in qty.items() if n}
        total = cash + sum(values.values())
        out = {t: (v / total if total else 0.0) for t, v in sorted(values.items())}
        out["cash"] = cash / total if total else 0.0
        return out

    before = snapshot()
    for o in orders:
        qty[o.ticker] = qty.get(o.ticker, 0) + (o.qty if o.side is Side.BUY else -o.qty)
        cash += o.cash_effect
    return before, snapshot()
