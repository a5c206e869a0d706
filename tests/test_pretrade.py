"""The account owner's pre-trade stage (domain/pretrade.py): pure rules, each refusal naming
its rule and numbers, and properties that hold for any account and any order."""

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cli import quartz, quartz_json
from quartz_cli.domain.decision import Constraints, Quote
from quartz_cli.domain.krx import Phase, floor_to_tick, price_limits
from quartz_cli.domain.order_window import WindowCheck, WindowRefusal
from quartz_cli.domain.orders import OrderRequest, Side
from quartz_cli.domain.pretrade import (
    AccountState,
    HeldPosition,
    InFlight,
    Limits,
    MarketFacts,
    PretradeRule,
    TradingState,
    buy_cost,
    check_order,
    daily_loss_breached,
)

OPEN = WindowCheck(at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC), phase=Phase.CONTINUOUS,
                   trading_day=True, refusal=None, detail="regular session")
CLOSED = WindowCheck(at=datetime(2026, 11, 21, 1, 0, tzinfo=UTC), phase=Phase.CLOSED,
                     trading_day=False, refusal=WindowRefusal.HOLIDAY, detail="holiday")
QUOTE = Quote(ticker="005930", price=70_000, base=70_000, upper=91_000, lower=49_000)
NOW = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


def order(side: str = "buy", qty: int = 10, limit: int | None = None,
          ticker: str = "005930") -> OrderRequest:
    return OrderRequest(request_id="r1", action=side, ticker=ticker, qty=qty,
                        order_type="limit" if limit else "market", price=limit or 0,
                        timestamp=NOW)


def account(**over) -> AccountState:
    base = {"cash_krw": 10_000_000, "positions": (HeldPosition("005930", 10, 70_000),),
                "in_flight": (), "start_of_day_value": 50_000_000, "filled_today_krw": 0}
    # 10,000,000 cash + 700,000 held; most tests give a larger total through cash.
    return AccountState(**{**base, **over})


def facts(**over) -> MarketFacts:
    return MarketFacts(**{"quote": QUOTE, "listed": True, "window": OPEN, **over})


def rules(o, a, f=None, c: Constraints | None = None) -> list[PretradeRule]:
    return [r.rule for r in check_order(o, a, f or facts(), Limits(c or Constraints()))]


BIG = account(cash_krw=100_000_000)


def test_a_reasonable_order_passes():
    assert check_order(order(qty=10), BIG, facts(), Limits()) == []
    assert check_order(order("sell", 10, 70_100), BIG, facts(), Limits()) == []


def test_each_rule_refuses_naming_itself_and_its_numbers():
    assert rules(order(qty=1), BIG, facts(window=CLOSED)) == [PretradeRule.ORDER_WINDOW]
    assert rules(order(qty=1), BIG, facts(listed=False)) == [PretradeRule.LISTING]
    assert rules(order(qty=1, limit=95_000), BIG) == [PretradeRule.PRICE_LIMIT]
    assert rules(order(qty=2_000_000), BIG)[0] is PretradeRule.SANITY
    [held] = check_order(order("sell", 11), BIG, facts(), Limits())
    assert held.rule is PretradeRule.HELD_QTY and "10 held" in held.detail
    # A market buy reserves at the upper limit: 110 × 91,000 + fee > 10,000,000.
    rich = account(positions=(HeldPosition("000660", 1_000, 100_000),))
    [cash] = check_order(order(qty=110), rich, facts(), Limits())
    assert cash.rule is PretradeRule.CASH and "upper limit" in cash.detail
    assert cash.code == "pretrade:cash"
    heavy = check_order(order(qty=100), BIG, facts(),
                        Limits(Constraints(max_single_ticker_weight=Decimal("0.05"))))
    assert [r.rule for r in heavy] == [PretradeRule.WEIGHT_CAP]
    assert "would be 7.6 % of 100,700,000 KRW" in heavy[0].detail and "cap 5.0 %" in heavy[0].detail


def test_trading_states():
    halted = account(cash_krw=100_000_000, trading_state=TradingState.HALTED)
    assert rules(order("sell", 1), halted) == [PretradeRule.TRADING_STATE]
    reduce = account(cash_krw=100_000_000, trading_state=TradingState.REDUCE_ONLY)
    assert rules(order(qty=1), reduce) == [PretradeRule.TRADING_STATE]
    assert rules(order("sell", 1), reduce) == []


def test_in_flight_orders_are_counted_at_their_worst_case():
    # Two sells in flight of the 10 held leave 3 to sell.
    a = account(cash_krw=100_000_000, in_flight=(
        InFlight("a", Side.SELL, "005930", 4, 70_000), InFlight("b", Side.SELL, "005930", 3, 0)))
    assert rules(order("sell", 3), a) == []
    assert rules(order("sell", 4), a) == [PretradeRule.HELD_QTY]
    # A buy in flight reserves its cash with the fee.
    flying = InFlight("c", Side.BUY, "000660", 100, 99_000)
    a = account(cash_krw=10_000_000, in_flight=(flying,),
                positions=(HeldPosition("000660", 1_000, 100_000),))
    [cash] = check_order(order(qty=2, limit=70_000), a, facts(), Limits())
    reserved = buy_cost(9_900_000, Constraints())
    assert cash.rule is PretradeRule.CASH and f"{reserved:,}" in cash.detail
    # A buy in flight of the same ticker counts toward its weight.
    # 10 held × 70,000 + 250 × 71,000 in flight = 18,450,000 of 100,700,000 (cap 20,140,000).
    a = account(cash_krw=100_000_000, start_of_day_value=200_000_000,
                in_flight=(InFlight("d", Side.BUY, "005930", 250, 71_000),))
    assert rules(order(qty=25, limit=70_000), a) == [PretradeRule.WEIGHT_CAP]
    assert rules(order(qty=24, limit=70_000), a) == []


def test_turnover_is_per_day_against_the_start_of_day_value():
    # 30 % of 50,000,000 = 15,000,000; 14,000,000 filled today leaves 1,000,000.
    a = account(cash_krw=100_000_000, filled_today_krw=14_000_000)
    assert rules(order(qty=14, limit=70_000), a) == []
    [t] = check_order(order(qty=15, limit=70_000), a, facts(), Limits())
    assert t.rule is PretradeRule.TURNOVER and "15,000,000" in t.detail
    # What is in flight counts too, sells included ...
    a = account(cash_krw=100_000_000, filled_today_krw=14_000_000,
                in_flight=(InFlight("e", Side.SELL, "000660", 1, 500_000),))
    assert rules(order(qty=8, limit=70_000), a) == [PretradeRule.TURNOVER]
    # ... but a sell is never held back by the cap: it lowers exposure (a stop-loss must
    # get out), however much was traded today.
    assert rules(order("sell", 8, 70_000), a) == []


def test_daily_loss():
    assert daily_loss_breached(97_100_000, 100_000_000, Decimal("3")) is None
    why = daily_loss_breached(97_000_000, 100_000_000, Decimal("3"))
    assert why and "3.00 % below" in why


_tickers = st.sampled_from(["005930", "000660", "035420"])
_price = st.integers(1_000, 300_000).map(floor_to_tick)


@st.composite
def scenarios(draw):
    held = {t: (draw(st.integers(0, 500)), draw(_price)) for t in ["005930", "000660", "035420"]}
    positions = tuple(HeldPosition(t, q, p) for t, (q, p) in held.items() if q)
    flying = tuple(InFlight(f"f{i}", draw(st.sampled_from(list(Side))), draw(_tickers),
                            draw(st.integers(1, 300)), draw(_price))
                   for i in range(draw(st.integers(0, 4))))
    a = AccountState(cash_krw=draw(st.integers(0, 200_000_000)), positions=positions,
                     in_flight=flying, start_of_day_value=draw(st.integers(1, 300_000_000)),
                     filled_today_krw=draw(st.integers(0, 50_000_000)))
    ticker = draw(_tickers)
    price = held[ticker][1]
    lim = price_limits(price)
    q = Quote(ticker=ticker, price=price, base=price, upper=lim.upper, lower=lim.lower)
    side = draw(st.sampled_from(["buy", "sell"]))
    o = order(side, draw(st.integers(1, 2_000)), draw(st.sampled_from([None, price])), ticker)
    return a, q, o


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_an_accepted_order_keeps_every_promise_with_everything_in_flight_filled(s):
    a, q, o = s
    c = Constraints()
    if check_order(o, a, facts(quote=q), Limits(c)):
        return
    limit = o.price or 0
    px = limit or (q.upper if o.side is Side.BUY else q.price)
    buys = [f for f in a.in_flight if f.side is Side.BUY]
    # Cash never goes negative, fees included.
    if o.side is Side.BUY:
        reserved = sum(buy_cost(f.notional, c) for f in buys)
        assert a.cash_krw - reserved - buy_cost(o.qty * px, c) >= 0
        value = max(q.price, limit)
        held = a.position(o.ticker).qty if a.position(o.ticker) else 0
        mine = sum(f.qty * max(f.worst_price, value) for f in buys if f.ticker == o.ticker)
        assert held * value + mine + o.qty * value <= c.max_single_ticker_weight * a.total_value
    else:
        # No position sold twice.
        held = a.position(o.ticker).qty if a.position(o.ticker) else 0
        assert o.qty + a.in_flight_qty(o.ticker, Side.SELL) <= held
    if o.side is Side.BUY:
        traded = a.filled_today_krw + sum(f.notional for f in a.in_flight) + o.qty * px
        assert traded <= c.max_turnover_ratio * a.start_of_day_value + 1


def test_cli_refuses_before_sending_and_the_broker_books_nothing():
    env = {"QUARTZ_MARKET_TIME": "2026-11-20T10:30:00+09:00"}
    assert quartz("trade", "buy", "005930", "5000", env=env).returncode == 9
    proc = quartz("trade", "sell", "000660", "31", env=env)
    assert proc.returncode == 9 and "30 held" in proc.stderr
    closed = quartz("trade", "buy", "005930", "1",
                    env={"QUARTZ_MARKET_TIME": "2026-11-22T10:30:00+09:00"})  # a Sunday
    assert closed.returncode == 9 and "market closed" in closed.stderr
    refused = quartz_json("trade", "orders", env=env)["orders"]
    assert refused and all(o["state"] == "rejected" and o["code"].startswith("pretrade:")
                           and not o["order_no"] for o in refused)
    assert quartz("trade", "buy", "005930", "1", env=env).returncode == 0
    booked = [o for o in quartz_json("trade", "orders", env=env)["orders"] if o["order_no"]]
    assert len(booked) == 1
