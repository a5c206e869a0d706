"""The simulator's exchange over the real KIS protocol (KisClient → in-process simulator):
fills, resting limits, cancels, validation, sessions, balances and paging."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from quartz_cli.domain.costs import commission
from quartz_cli.domain.krx import kst_date, tick_size
from quartz_cli.domain.orders import OrderType, Side
from quartz_cli.domain.universe import bundled_universe
from quartz_cli.errors import BrokerError
from quartz_cli.kis.account import inquire_balance, inquire_buyable, inquire_daily_orders
from quartz_cli.kis.orders import cancelable_orders, place_cash_order, revise_or_cancel
from quartz_cli.sim.exchange import SEED_POSITIONS
from trading_support import MARKET_TIME, local

BUY, SELL, MKT, LMT = Side.BUY, Side.SELL, OrderType.MARKET, OrderType.LIMIT


def today(env) -> datetime:
    return kst_date(env.config.market_now())


def test_seeded_account_has_cash_and_positions_with_pnl(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            return await inquire_balance(env.rt.kis, env.config.account())

    bal = asyncio.run(go())
    assert bal.cash_krw == 100_000_000
    assert {p.ticker for p in bal.positions} == {c for c, _, _ in SEED_POSITIONS}
    samsung = bal.position("005930")
    assert samsung.qty == 120 and samsung.pnl == samsung.value - samsung.purchase_amount
    assert samsung.return_ratio > 0.15            # seeded in profit
    assert bal.position("051910").return_ratio < -0.05   # seeded at a loss
    assert bal.total_value == bal.cash_krw + sum(p.value for p in bal.positions)


def test_market_buy_fills_at_the_current_price_with_slippage(in_session):
    env = local(in_session, slippage_bps=50)

    async def go():
        async with env.rt:
            acct = env.config.account()
            now = env.config.market_now()
            quote = env.sim.market.quote("005930", now)
            ticket = await place_cash_order(env.rt.kis, acct, BUY, "005930", 3, MKT)
            rows = await inquire_daily_orders(env.rt.kis, acct, today(env), today(env))
            bal = await inquire_balance(env.rt.kis, acct)
            return quote, ticket, rows, bal

    quote, ticket, rows, bal = asyncio.run(go())
    assert len(ticket.order_no) == 10 and ticket.org_no == "00950"
    row = rows[0]
    assert row.order_no == ticket.order_no and row.filled_qty == 3 and row.remaining_qty == 0
    # 50 bps against the buyer, on the tick grid (the clock may have moved a minute).
    assert row.avg_fill_price > quote.price * 0.99
    assert row.avg_fill_price % tick_size(row.avg_fill_price) == 0
    # The deposit moves at settlement (T+2); the D+2 figure shows the buy and its commission.
    assert bal.cash_krw == bal.d1_cash_krw == 100_000_000
    assert bal.d2_cash_krw == 100_000_000 - row.filled_amount - commission(row.filled_amount)
    assert bal.position("005930").qty == 123


def test_limit_order_rests_then_cancel_releases_it(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            acct = env.config.account()
            q = env.sim.market.quote("005930", env.config.market_now())
            low = q.limits.lower + tick_size(q.limits.lower)
            t = await place_cash_order(env.rt.kis, acct, BUY, "005930", 2, LMT, low)
            open_before = await cancelable_orders(env.rt.kis, acct, today(env))
            c = await revise_or_cancel(env.rt.kis, acct, t.org_no, t.order_no, cancel=True)
            open_after = await cancelable_orders(env.rt.kis, acct, today(env))
            rows = await inquire_daily_orders(env.rt.kis, acct, today(env), today(env))
            with pytest.raises(BrokerError) as again:
                await revise_or_cancel(env.rt.kis, acct, t.org_no, t.order_no, cancel=True)
            return t, c, open_before, open_after, rows, again.value

    t, c, before, after, rows, again = asyncio.run(go())
    assert [o.order_no for o in before] == [t.order_no] and before[0].cancelable_qty == 2
    assert after == []
    cancel_row = next(r for r in rows if r.order_no == c.order_no)
    assert cancel_row.cancelled and cancel_row.original_order_no == t.order_no
    assert again.status == 200 and again.code == "APBK0353"


def test_limit_order_fills_when_the_price_crosses(in_session):
    t0 = datetime.fromisoformat(MARKET_TIME)
    clock = [t0]
    env = local(in_session, clock=lambda: clock[0].timestamp())
    market = env.sim.market
    start = market.quote("005930", t0).price
    later = next(t0 + timedelta(minutes=m) for m in range(1, 300)
                 if market.quote("005930", t0 + timedelta(minutes=m)).price < start)
    target = market.quote("005930", later).price

    async def go():
        async with env.rt:
            acct = env.config.account()
            t = await place_cash_order(env.rt.kis, acct, BUY, "005930", 5, LMT, target)
            resting = await cancelable_orders(env.rt.kis, acct, t0.date())
            clock[0] = later        # the market moves down to the limit
            rows = await inquire_daily_orders(env.rt.kis, acct, t0.date(), t0.date())
            return t, resting, rows

    t, resting, rows = asyncio.run(go())
    assert [o.order_no for o in resting] == [t.order_no]
    row = next(r for r in rows if r.order_no == t.order_no)
    assert row.filled_qty == 5 and row.avg_fill_price == target


@pytest.mark.parametrize("price_kind,code", [("off_tick", "APBK0506"),
                                              ("above_limit", "APBK0507")])
def test_limit_price_validation(in_session, price_kind, code):
    env = local(in_session)

    async def go():
        async with env.rt:
            q = env.sim.market.quote("005930", env.config.market_now())
            price = q.price + 1 if price_kind == "off_tick" else \
                q.limits.upper + tick_size(q.limits.upper)
            with pytest.raises(BrokerError) as err:
                await place_cash_order(env.rt.kis, env.config.account(), BUY, "005930", 1,
                                       LMT, price)
            return err.value

    err = asyncio.run(go())
    assert err.code == code and err.status == 200     # a business error: HTTP 200, rt_cd 1
    assert env.booked() == []


def test_cash_and_holdings_are_enforced(in_session):
    env = local(in_session, starting_cash=1_000_000)

    async def go():
        async with env.rt:
            acct = env.config.account()
            with pytest.raises(BrokerError) as cash:
                await place_cash_order(env.rt.kis, acct, BUY, "005930", 100, MKT)
            with pytest.raises(BrokerError) as shares:
                await place_cash_order(env.rt.kis, acct, SELL, "005930", 121, MKT)
            buyable = await inquire_buyable(env.rt.kis, acct, "005930")
            return cash.value, shares.value, buyable

    cash, shares, buyable = asyncio.run(go())
    assert cash.code == "40250000" and shares.code == "APBK0986"    # the paper host's code
    assert buyable.cash_krw == 1_000_000
    assert buyable.qty == 1_000_000 // buyable.price_used   # market: reserved at the upper limit


def test_orders_outside_the_session_are_refused(in_session, monkeypatch):
    monkeypatch.setenv("QUARTZ_MARKET_TIME", "2026-11-24T16:00:00+09:00")
    env = local(in_session)

    async def go():
        async with env.rt:
            with pytest.raises(BrokerError) as err:
                await place_cash_order(env.rt.kis, env.config.account(), BUY, "005930", 1, MKT)
            return err.value

    err = asyncio.run(go())
    assert err.code == "40580000" and "장종료" in err.message    # the paper host's words


def test_balance_and_daily_orders_follow_paging(in_session):
    env = local(in_session)
    codes = [c for c in bundled_universe().codes() if c not in {p[0] for p in SEED_POSITIONS}]

    async def go():
        async with env.rt:
            acct = env.config.account()
            for code in codes[:22]:
                await place_cash_order(env.rt.kis, acct, BUY, code, 1, MKT)
            bal = await inquire_balance(env.rt.kis, acct)
            rows = await inquire_daily_orders(env.rt.kis, acct, today(env), today(env))
            return bal, rows

    bal, rows = asyncio.run(go())
    # 26 positions over pages of 20 (paper), 22 orders over pages of 15 (paper).
    assert len(bal.positions) == 26
    assert len(rows) == 22 and len({r.order_no for r in rows}) == 22
    assert env.sim.state.counter("served:VTTC8434R") == 2
    assert env.sim.state.counter("served:VTTC0081R") == 2


def test_cancelable_inquiry_is_real_domain_only(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            with pytest.raises(BrokerError) as err:
                await env.rt.kis.get("/uapi/domestic-stock/v1/trading/inquire-psbl-rvsecncl",
                                     "TTTC0084R", {"CANO": "50000000", "ACNT_PRDT_CD": "01"})
            return err.value

    err = asyncio.run(go())
    # A real-account TR_ID on the paper host, answered as KIS's paper host answers it.
    assert err.code == "EGW02006" and err.status == 500


def test_audit_records_each_booking(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            acct = env.config.account()
            await place_cash_order(env.rt.kis, acct, BUY, "005930", 1, MKT)
            await place_cash_order(env.rt.kis, acct, SELL, "005930", 1, MKT)

    asyncio.run(go())
    events = [a["event"] for a in env.exchange.audit()]
    assert events == ["booked", "filled", "booked", "filled"]
