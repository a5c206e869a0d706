"""The risk gate: examples for each rule, and properties over arbitrary engine output."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.decision import Constraints, PortfolioView, Position, Proposal, Quote
from quartz_cli.domain.krx import KST, is_on_tick, price_limits
from quartz_cli.domain.order_window import WindowRefusal, check_order_window
from quartz_cli.domain.orders import Side
from quartz_cli.domain.risk import (
    NoteKind,
    Rule,
    buy_fees,
    run_gate,
    weights_after,
)

UNIVERSE = ("005930", "000660", "035420", "051910", "005380", "068270")


def quote(ticker: str, price: int, base: int | None = None) -> Quote:
    lim = price_limits(base or price)
    return Quote(ticker=ticker, price=price, base=lim.base, upper=lim.upper, lower=lim.lower)


QUOTES = {
    "005930": quote("005930", 71_000),
    "000660": quote("000660", 182_000),
    "035420": quote("035420", 215_500),
    "051910": quote("051910", 412_000),
    "005380": quote("005380", 248_000),
    "068270": quote("068270", 183_200),
}


def cash_only(cash: int = 10_000_000) -> PortfolioView:
    return PortfolioView(cash_krw=cash)


def rules_of(result, ticker):
    return {(n.kind, n.rule) for n in result.notes_for(ticker)}


def test_buy_is_clipped_to_the_single_ticker_cap_and_not_redistributed():
    c = Constraints(max_turnover_ratio=Decimal("1"))
    props = [Proposal(ticker="005930", side=Side.BUY, target_weight=0.6, confidence=0.9),
             Proposal(ticker="000660", side=Side.BUY, target_weight=0.05, confidence=0.8)]
    r = run_gate(props, cash_only(), QUOTES, c, UNIVERSE)
    by = {o.ticker: o for o in r.orders}
    # 20 % of 10,000,000 at 71,000 → 28 shares; the other stays at its own 5 % (2 shares).
    assert by["005930"].qty == 28 and by["005930"].limit_price == 71_000
    assert by["000660"].qty == 2
    assert (NoteKind.CUT, Rule.MAX_SINGLE_TICKER_WEIGHT) in rules_of(r, "005930")


def test_a_non_finite_weight_is_dropped_not_clipped():
    c = Constraints(max_turnover_ratio=Decimal("1"))
    props = [Proposal(ticker="005930", side=Side.BUY, target_weight=math.inf, confidence=0.9),
             Proposal(ticker="000660", side=Side.BUY, target_weight=math.nan, confidence=0.9)]
    r = run_gate(props, cash_only(), QUOTES, c, UNIVERSE)
    assert not r.orders
    for ticker in ("005930", "000660"):
        assert (NoteKind.DROPPED, Rule.INVALID_WEIGHT) in rules_of(r, ticker)


def test_turnover_cash_and_min_order_cut_in_that_order():
    c = Constraints(max_turnover_ratio=Decimal("0.3"))
    props = [Proposal(ticker=t, side=Side.BUY, target_weight=0.2, confidence=0.9 - i / 10)
             for i, t in enumerate(("005930", "000660", "035420"))]
    r = run_gate(props, cash_only(), QUOTES, c, UNIVERSE)
    assert sum(o.notional for o in r.orders) <= 3_000_000
    # First takes 1,988,000 (28 × 71,000); the second only fits 5 shares in the remaining
    # 1,012,000 of turnover; the third has 102,000 left: no share of 215,500 fits.
    assert [o.qty for o in r.orders] == [28, 5]
    assert (NoteKind.CUT, Rule.MAX_TURNOVER_RATIO) in rules_of(r, "000660")
    assert (NoteKind.DROPPED, Rule.MAX_TURNOVER_RATIO) in rules_of(r, "035420")


def test_max_buy_candidates_keeps_the_most_confident():
    c = Constraints(max_turnover_ratio=Decimal("1"))
    props = [Proposal(ticker=t, side=Side.BUY, target_weight=0.1, confidence=conf)
             for t, conf in zip(UNIVERSE[:5], (0.5, 0.9, 0.7, 0.8, 0.6), strict=True)]
    r = run_gate(props, cash_only(), QUOTES, c, UNIVERSE)
    assert sorted(o.ticker for o in r.orders) == sorted(["000660", "051910", "035420"])
    assert (NoteKind.DROPPED, Rule.MAX_BUY_CANDIDATES) in rules_of(r, "005930")


def test_unknown_invalid_and_duplicate_tickers_are_dropped():
    props = [Proposal(ticker="999999", side=Side.BUY, target_weight=0.1),
             Proposal(ticker="hello", side=Side.BUY, target_weight=0.1),
             Proposal(ticker="005930", side=Side.BUY, target_weight=0.1),
             Proposal(ticker="A005930", side=Side.BUY, target_weight=0.2),
             Proposal(ticker="000660", side=Side.BUY, target_weight=-0.1)]
    r = run_gate(props, cash_only(), QUOTES, Constraints(), UNIVERSE)
    assert [o.ticker for o in r.orders] == ["005930"]
    assert (NoteKind.DROPPED, Rule.NOT_IN_UNIVERSE) in rules_of(r, "999999")
    assert (NoteKind.DROPPED, Rule.INVALID_TICKER) in rules_of(r, "hello")
    assert (NoteKind.DROPPED, Rule.DUPLICATE) in rules_of(r, "005930")
    assert (NoteKind.DROPPED, Rule.INVALID_WEIGHT) in rules_of(r, "000660")


def test_sell_never_exceeds_sellable_and_small_full_exit_is_allowed():
    pf = PortfolioView(cash_krw=1_000_000, positions=(
        Position(ticker="005930", qty=10, sellable_qty=4, avg_price=80_000, price=71_000),
        Position(ticker="000660", qty=1, sellable_qty=1, avg_price=150_000, price=182_000),
    ))
    props = [Proposal(ticker="005930", side=Side.SELL, target_weight=0.0),
             Proposal(ticker="000660", side=Side.SELL, target_weight=0.0)]
    quotes = dict(QUOTES)
    quotes["000660"] = quote("000660", 90_050, base=100_000)
    r = run_gate(props, pf, quotes, Constraints(max_turnover_ratio=Decimal("1")), UNIVERSE)
    by = {o.ticker: o for o in r.orders}
    assert by["005930"].qty == 4 and by["005930"].side is Side.SELL
    assert (NoteKind.CUT, Rule.SELLABLE_QTY) in rules_of(r, "005930")
    # 1 × 90,000 is below MIN_ORDER_KRW but closes the position, so it passes.
    assert by["000660"].qty == 1 and by["000660"].limit_price == 90_000


def test_cash_includes_fees():
    c = Constraints(max_turnover_ratio=Decimal("1"), max_single_ticker_weight=Decimal("1"),
                    min_order_krw=0)
    r = run_gate([Proposal(ticker="005930", side=Side.BUY, target_weight=1.0)],
                 cash_only(710_000), QUOTES, c, UNIVERSE)
    # 10 shares cost 710,000 + fee > cash, so 9.
    assert r.orders[0].qty == 9
    assert r.orders[0].notional + buy_fees(r.orders[0].notional, c) <= 710_000
    assert (NoteKind.CUT, Rule.CASH) in rules_of(r, "005930")


def test_price_outside_limits_is_clamped_to_the_limit():
    q = Quote(ticker="005930", price=99_999, base=71_000, upper=92_300, lower=49_700)
    r = run_gate([Proposal(ticker="005930", side=Side.BUY, target_weight=0.2)],
                 cash_only(), {"005930": q}, Constraints(), UNIVERSE)
    assert r.orders[0].limit_price == 92_300
    assert (NoteKind.CUT, Rule.PRICE_LIMIT) in rules_of(r, "005930")


CAL = KrxCalendar((date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)))


def test_order_window_holds_orders_back_with_its_reason():
    props = [Proposal(ticker="005930", side=Side.BUY, target_weight=0.1)]
    open_ = check_order_window(datetime(2026, 11, 24, 10, 0, tzinfo=KST), CAL)
    assert open_.accepts_orders
    night = check_order_window(datetime(2026, 11, 24, 20, 0, tzinfo=KST), CAL)
    assert night.refusal is WindowRefusal.RESERVATION_ONLY
    r = run_gate(props, cash_only(), QUOTES, Constraints(), UNIVERSE, window=night)
    assert r.orders == () and len(r.held_back) == 1
    assert (NoteKind.HELD_BACK, Rule.ORDER_WINDOW) in rules_of(r, "005930")
    cases = {
        datetime(2026, 11, 22, 10, 0, tzinfo=KST): WindowRefusal.HOLIDAY,  # Sunday
        datetime(2026, 11, 24, 8, 45, tzinfo=KST): WindowRefusal.PRE_OPEN,
        datetime(2026, 11, 24, 15, 35, tzinfo=KST): WindowRefusal.OUTSIDE,
        datetime(2026, 11, 24, 16, 30, tzinfo=KST): WindowRefusal.AFTER_HOURS,
        datetime(2026, 11, 24, 23, 50, tzinfo=KST): WindowRefusal.OUTSIDE,
        datetime(2026, 11, 24, 15, 25, tzinfo=KST): None,
    }
    for at, want in cases.items():
        assert check_order_window(at, CAL).refusal is want, at


def test_weights_before_and_after():
    pf = PortfolioView(cash_krw=9_290_000, positions=(
        Position(ticker="005930", qty=10, sellable_qty=10, avg_price=70_000, price=71_000),))
    r = run_gate([Proposal(ticker="000660", side=Side.BUY, target_weight=0.1)], pf, QUOTES,
                 Constraints(), UNIVERSE)
    before, after = weights_after(pf, r.orders, QUOTES)
    assert before["005930"] == 0.071 and "000660" not in before
    assert 0.09 < after["000660"] <= 0.1
    assert abs(sum(after.values()) - 1) < 1e-9


# -- properties ---------------------------------------------------------------------------

# Mostly plausible answers, with junk mixed in: unknown or malformed codes, duplicates,
# NaN, ±inf, negative weights and weights above 1.
junk_tickers = st.sampled_from(("999999", "12345", "A000660", "0059300", "005930"))
good_weights = st.floats(min_value=0, max_value=0.5)
bad_weights = st.one_of(st.floats(min_value=-0.5, max_value=1.5),
                        st.floats(allow_nan=True, allow_infinity=True))
confidences = st.floats(min_value=0, max_value=1)
sides = st.sampled_from([Side.BUY, Side.BUY, Side.SELL, None])


@st.composite
def proposals(draw):
    chosen = draw(st.lists(st.sampled_from(UNIVERSE), unique=True, max_size=len(UNIVERSE)))
    out = [Proposal(ticker=t, side=draw(sides),
                    target_weight=draw(st.one_of(good_weights, good_weights, bad_weights)),
                    confidence=draw(confidences)) for t in chosen]
    for _ in range(draw(st.integers(0, 3))):
        out.insert(draw(st.integers(0, len(out))), Proposal(
            ticker=draw(junk_tickers), side=draw(sides),
            target_weight=draw(st.one_of(good_weights, bad_weights)),
            confidence=draw(confidences)))
    return out


@st.composite
def market(draw):
    quotes = {}
    for t in UNIVERSE:
        if draw(st.integers(0, 3)) or t == "005930":
            base = draw(st.integers(min_value=500, max_value=600_000))
            lim = price_limits(base)
            price = draw(st.one_of(st.integers(min_value=lim.lower, max_value=lim.upper),
                                  st.integers(min_value=1, max_value=lim.upper * 2)))
            quotes[t] = Quote(ticker=t, price=price, base=base, upper=lim.upper, lower=lim.lower)
    positions = []
    for t in draw(st.lists(st.sampled_from(sorted(quotes)), unique=True, max_size=4)):
        qty = draw(st.integers(min_value=0, max_value=300))
        positions.append(Position(ticker=t, qty=qty,
                                  sellable_qty=draw(st.integers(min_value=0, max_value=qty)),
                                  avg_price=draw(st.integers(min_value=1, max_value=2_000_000)),
                                  price=quotes[t].price))
    cash = draw(st.one_of(st.integers(min_value=0, max_value=500_000_000),
                        st.integers(min_value=50_000_000, max_value=500_000_000)))
    c = Constraints(
        max_buy_candidates=draw(st.sampled_from([0, 1, 3, 3, 4])),
        max_single_ticker_weight=draw(st.sampled_from([Decimal("0.05"), Decimal("0.2"),
                                                       Decimal("0.5"), Decimal("1")])),
        min_order_krw=draw(st.sampled_from([0, 100_000, 1_000_000])),
        max_turnover_ratio=draw(st.sampled_from([Decimal("0.01"), Decimal("0.3"), Decimal("0.3"),
                                                 Decimal("1")])),
        buy_fee_rate=draw(st.sampled_from([Decimal(0), Decimal("0.00015"), Decimal("0.01")])),
    )
    return PortfolioView(cash_krw=cash, positions=tuple(positions)), quotes, c


@settings(max_examples=300, deadline=None)
@given(props=proposals(), mkt=market())
def test_orders_satisfy_every_constraint(props, mkt):
    pf, quotes, c = mkt
    r = run_gate(props, pf, quotes, c, UNIVERSE)
    total = Decimal(pf.total_value)
    tickers_seen = [o.ticker for o in r.orders]
    assert len(tickers_seen) == len(set(tickers_seen)), "one order per ticker"
    buys = [o for o in r.orders if o.side is Side.BUY]
    assert len(buys) <= c.max_buy_candidates
    assert sum(o.notional for o in r.orders) <= total * c.max_turnover_ratio
    assert sum(o.notional + buy_fees(o.notional, c) for o in buys) <= pf.cash_krw
    proposed = {}
    for p in props:
        proposed.setdefault(p.ticker.upper().removeprefix("A")[-6:], p)
    for o in r.orders:
        q = quotes[o.ticker]
        assert o.ticker in UNIVERSE
        assert isinstance(o.qty, int) and o.qty > 0
        assert is_on_tick(o.limit_price) and q.lower <= o.limit_price <= q.upper
        pos = pf.position(o.ticker)
        if o.side is Side.SELL:
            assert pos is not None and o.qty <= pos.sellable_qty
            assert o.notional >= c.min_order_krw or o.qty == pos.qty
        else:
            held = pos.qty if pos else 0
            assert (held + o.qty) * o.limit_price <= c.max_single_ticker_weight * total
            assert o.notional >= c.min_order_krw
    # Every proposal that is not an order or a hold is explained.
    explained = {n.ticker for n in r.notes}
    for p in props:
        if p.side is not None and p.ticker in UNIVERSE and p.ticker not in tickers_seen:
            assert p.ticker in explained


@settings(max_examples=100, deadline=None)
@given(props=proposals(), mkt=market())
def test_clipping_never_raises_another_tickers_order(props, mkt):
    """Lowering one buy's weight (what clipping does) never enlarges a different order. A
    non-finite weight is not clipped but dropped as malformed, so it is not lowered here."""
    pf, quotes, c = mkt
    r = run_gate(props, pf, quotes, c, UNIVERSE)
    for i, p in enumerate(props):
        if (p.side is Side.BUY and math.isfinite(p.target_weight)
                and p.target_weight > float(c.max_single_ticker_weight)):
            lowered = list(props)
            lowered[i] = p.model_copy(update={"target_weight": float(c.max_single_ticker_weight)})
            r2 = run_gate(lowered, pf, quotes, c, UNIVERSE)
            assert {(o.ticker, o.qty) for o in r.orders} == {(o.ticker, o.qty) for o in r2.orders}


@settings(max_examples=150, deadline=None)
@given(mkt=market(), ticker=st.sampled_from(UNIVERSE), weight=st.floats(0, 1))
def test_allowance_bounds_what_the_gate_lets_through(mkt, ticker, weight):
    """A lone proposal never yields more than the allowance computed before asking, and an
    action the allowance refused never yields an order."""
    from quartz_cli.domain.allowance import allowance_for

    pf, quotes, c = mkt
    allowed = allowance_for(ticker, quotes.get(ticker), pf, c, has_technical=True)
    for side in (Side.BUY, Side.SELL):
        p = Proposal(ticker=ticker, side=side, target_weight=weight, confidence=1)
        r = run_gate([p], pf, quotes, c, UNIVERSE, allowances={ticker: allowed})
        for o in r.orders:
            assert side in allowed.sides
            assert o.qty <= (allowed.max_buy_qty if side is Side.BUY else allowed.max_sell_qty)


def test_buys_fit_the_accounts_turnover_left_today_after_this_runs_sells():
    c = Constraints(max_turnover_ratio=Decimal("1"))
    pf = PortfolioView(cash_krw=10_000_000,
                       positions=[Position(ticker="000660", qty=10, sellable_qty=10,
                                           avg_price=180_000, price=182_000)])
    props = [Proposal(ticker="000660", side=Side.SELL, target_weight=0.0, confidence=0.9),
             Proposal(ticker="005930", side=Side.BUY, target_weight=0.2, confidence=0.9)]
    # 2,000,000 left today: the sell is never cut for it (the owner would not refuse a
    # sell), and uses 1,820,000 at the market price; 180,000 buys 2 shares at 71,000.
    r = run_gate(props, pf, QUOTES, c, UNIVERSE, day_turnover_left=2_000_000)
    by = {o.ticker: o for o in r.orders}
    assert by["000660"].qty == 10 and by["005930"].qty == 2
    assert (NoteKind.CUT, Rule.DAY_TURNOVER) in rules_of(r, "005930")
    # Nothing left today: the buy is dropped, the sell still goes.
    r = run_gate(props, pf, QUOTES, c, UNIVERSE, day_turnover_left=0)
    assert [o.ticker for o in r.orders] == ["000660"]
    assert (NoteKind.DROPPED, Rule.DAY_TURNOVER) in rules_of(r, "005930")
    # Without the owner's figure the run's own cap alone applies: 20 % of 11,820,000.
    r = run_gate(props, pf, QUOTES, c, UNIVERSE)
    assert {o.ticker: o.qty for o in r.orders}["005930"] == 33
