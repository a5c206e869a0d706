"""The trading agent's money-safety rules under injected broker faults: each request_id is
booked at most once, unknown outcomes are reconciled by the order inquiry, never re-sent."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from fakes.server import LoopbackServer
from quartz_cli.app.runtime import open_runtime, trading_agent
from quartz_cli.config import load_config
from quartz_cli.domain.krx import KST
from quartz_cli.domain.orders import OrderRequest, OrderState, OrderType, Side
from quartz_cli.errors import InputError, SafetyRefusal
from quartz_cli.kis.orders import place_cash_order
from quartz_cli.ports import LedgerError
from quartz_cli.sim import SimConfig, SimState, Simulator
from quartz_cli.sim.exchange import exchange_for
from quartz_cli.store.order_ledger import SqliteOrderLedger
from trading_support import FAST, local

S = OrderState


def order(rid: str, **kw) -> OrderRequest:
    base = {"request_id": rid, "action": "buy", "ticker": "005930", "qty": 1,
            "order_type": "market", "price": 0, "timestamp": datetime.now(UTC)}
    return OrderRequest(**(base | kw))


def test_a_repeated_request_id_returns_the_stored_outcome(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            first = await env.agent.submit(order("r-1"))
            again = await env.agent.submit(order("r-1"))
            both = await asyncio.gather(env.agent.submit(order("r-2")),
                                        env.agent.submit(order("r-2")))
            return first, again, both

    first, again, both = asyncio.run(go())
    assert first.state is S.ACCEPTED and first.order_no
    assert again.order_no == first.order_no and again.state is S.ACCEPTED
    assert both[0].order_no == both[1].order_no
    assert len(env.booked()) == 2                 # r-1 once, r-2 once
    assert [t for _, t, _ in env.agent.ledger.history("r-1")] == ["received", "sent", "accepted"]


def test_a_request_id_reused_for_another_order_is_refused(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            await env.agent.submit(order("r-1"))
            with pytest.raises(InputError):
                await env.agent.submit(order("r-1", qty=2))

    asyncio.run(go())
    assert len(env.booked()) == 1


def test_dropped_response_is_reconciled_not_resent(in_session):
    env = local(in_session, drop_response_rate=1.0)

    async def go():
        async with env.rt:
            return await env.agent.submit(order("drop-1", qty=3))

    out = asyncio.run(go())
    booked = env.booked()
    assert out.state is S.RECONCILED
    assert len(booked) == 1 and out.order_no == booked[0]["odno"]
    assert out.attempts == 1
    assert env.sim.state.counter("fault_dropped") >= 1
    moves = [t for _, t, _ in env.agent.ledger.history("drop-1")]
    assert moves == ["received", "sent", "unknown", "reconciled"]


def after_the_session(env) -> None:
    """Move the agent's market clock past its order date's session close and margin."""
    later = datetime(2026, 11, 24, 17, 0, tzinfo=KST)
    env.agent.market_now = lambda: later


def test_a_5xx_is_never_resent_and_expires_after_the_session(in_session):
    env = local(in_session, error_5xx_rate=1.0)

    async def go():
        async with env.rt:
            stuck = await env.agent.submit(order("5xx-1", qty=2))
            exposure = await env.agent.in_flight()
            # The broker recovers, the client asks again: an inquiry, never a second send.
            env.sim.config = replace(env.sim.config, error_5xx_rate=0.0)
            again = await env.agent.submit(order("5xx-1", qty=2))
            still = await env.agent.reconcile_pending(force=True)
            after_the_session(env)
            closed = await env.agent.reconcile_pending(force=True)
            return stuck, exposure, again, still, closed, await env.agent.outcome("5xx-1")

    stuck, exposure, again, still, closed, final = asyncio.run(go())
    assert stuck.state is S.UNKNOWN and not stuck.resolved
    # Unknown counts as in flight at its full size.
    assert [(x.request_id, x.side.value, x.ticker, x.open_qty, x.state) for x in exposure] == [
        ("5xx-1", "BUY", "005930", 2, S.UNKNOWN)]
    assert again.state is S.UNKNOWN and again.attempts == 1
    assert (still, closed) == (0, 1)
    assert final.state is S.EXPIRED and final.resolved and not final.booked
    assert final.message.startswith("not booked: the 2026-11-24 session is over")
    # The evidence: the inquiries that answered, and when.
    assert re.search(r"\d order inquiries without a match \(KST [\d:, ]+, 17:00:00\), "
                     r"3 more inquiries failed", final.message), final.message
    assert "HTTP 503" in final.message
    assert env.agent.broker_calls == 1 and env.booked() == []
    moves = [t for f, t, _ in env.agent.ledger.history("5xx-1") if f != t]
    assert moves == ["received", "sent", "unknown", "expired"]


def test_unknown_before_the_session_ends_is_not_expired(in_session):
    env = local(in_session, error_5xx_rate=1.0)

    async def go():
        async with env.rt:
            await env.agent.submit(order("5xx-2"))
            env.sim.config = replace(env.sim.config, error_5xx_rate=0.0)
            # 16:29 KST: a CSAT-day session could still book it.
            late = datetime(2026, 11, 24, 16, 29, tzinfo=KST)
            env.agent.market_now = lambda: late
            await env.agent.reconcile_pending(force=True)
            return await env.agent.outcome("5xx-2")

    assert asyncio.run(go()).state is S.UNKNOWN


def test_recovery_reconciles_and_never_sends(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            ledger = env.agent.ledger
            now = env.config.market_now()
            day = now.astimezone(KST).strftime("%Y%m%d")
            # Killed after the claim and the `sent` mark; this one never reached the broker.
            ledger.claim(order("lost-1", qty=5), "local", now)
            ledger.move("lost-1", S.RECEIVED, S.SENT, now, attempts=1, order_date=day)
            resolved = await env.agent.recover()
            state = (await env.agent.outcome("lost-1")).state
            # A repeat of the request by its client is an inquiry too, not a send.
            again = await env.agent.submit(order("lost-1", qty=5))
            return resolved, state, again

    resolved, state, again = asyncio.run(go())
    assert resolved == 0 and state is S.UNKNOWN and again.state is S.UNKNOWN
    assert env.agent.broker_calls == 0 and env.booked() == []
    assert env.agent.inquiries >= 1


def test_one_broker_order_never_satisfies_two_requests(in_session):
    """Two unknown requests for the same order, one booked order, two agents (as two
    processes) reconciling at once over one ledger file: exactly one takes it."""
    env = local(in_session)
    second = trading_agent(env.rt, FAST)

    async def go():
        async with env.rt:
            ledger = env.agent.ledger
            now = env.config.market_now()
            day = now.astimezone(KST).strftime("%Y%m%d")
            for rid in ("twin-a", "twin-b"):
                ledger.claim(order(rid, qty=3), "local", now)
                ledger.move(rid, S.RECEIVED, S.SENT, now, attempts=1, order_date=day)
                ledger.move(rid, S.SENT, S.UNKNOWN, now)
            ticket = await place_cash_order(env.rt.kis, env.config.account(), Side.BUY,
                                            "005930", 3, OrderType.MARKET)
            await asyncio.gather(env.agent.reconcile_pending(force=True),
                                 second.reconcile_pending(force=True))
            return ticket, [await env.agent.outcome(r) for r in ("twin-a", "twin-b")]

    ticket, outs = asyncio.run(go())
    assert sorted(o.state.value for o in outs) == ["reconciled", "unknown"]
    assert [o.order_no for o in outs if o.order_no] == [ticket.order_no]


def test_in_flight_counts_pending_and_unfilled_orders(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            q = env.sim.market.quote("000660", env.config.market_now())
            await env.agent.submit(order("open-1", ticker="000660", qty=4,
                                         order_type="limit", price=q.limits.lower))
            await env.agent.submit(order("done-1", qty=1))
            await env.agent.refresh()
            return await env.agent.in_flight()

    flights = asyncio.run(go())
    # The market order filled; the resting limit order is in flight for its whole size.
    assert [(f.request_id, f.state, f.open_qty, f.price) for f in flights] == [
        ("open-1", S.ACCEPTED, 4, flights[0].price)]
    assert flights[0].order_no


def test_ledger_waits_do_not_block_the_event_loop(in_session):
    """Another process holds the ledger's write lock for a while: the order waits for it,
    and the event loop keeps serving meanwhile."""
    env = local(in_session)
    path = in_session / "trading" / "local-ledger.db"

    async def go():
        async with env.rt:
            await env.agent.orders()          # the ledger file exists
            blocker = sqlite3.connect(str(path), isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.02)
                    ticks += 1

            beat = asyncio.create_task(ticker())
            submit = asyncio.create_task(env.agent.submit(order("busy-1")))
            await asyncio.sleep(0.5)
            blocker.execute("COMMIT")
            blocker.close()
            out = await submit
            beat.cancel()
            return out, ticks

    out, ticks = asyncio.run(go())
    assert out.state is S.ACCEPTED
    assert ticks >= 10


def test_rate_limit_bursts_are_retried(in_session):
    # Seed 1: the first call starts a burst (EGW00201), the next one passes.
    env = local(in_session, rate_limit_burst_rate=0.5, rate_limit_burst_s=0.01, fault_seed=1)

    async def go():
        async with env.rt:
            return await env.agent.submit(order("rl-1"))

    out = asyncio.run(go())
    assert out.state is S.ACCEPTED
    assert env.sim.state.counter("fault_rate_limited") == 1
    assert env.rt.kis.rate_limited == 1
    assert len(env.booked()) == 1


def test_attempts_are_bounded_when_the_broker_stays_down(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            # Nothing listens on this address: connection refused, certainly not sent.
            env.rt.kis.endpoint = replace(env.rt.kis.endpoint, base_url="http://127.0.0.1:9")
            env.rt.kis.http = httpx.AsyncClient()
            return await env.agent.submit(order("down-1"))

    out = asyncio.run(go())
    assert out.state is S.REJECTED and out.attempts == 3
    assert "not booked" in out.message
    assert env.booked() == []


def test_business_rejection_is_final(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            return await env.agent.submit(order("rej-1", action="sell", qty=10_000))

    out = asyncio.run(go())
    assert out.state is S.REJECTED and out.code == "APBK0986" and out.attempts == 1


def test_interrupted_send_is_recovered_from_the_ledger(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            ledger = env.agent.ledger
            now = env.config.market_now()
            # A previous process marked the request sent, the broker booked it, and the
            # process died before it heard back.
            entry, _ = ledger.claim(order("crash-1", qty=7), "local", now)
            ledger.move("crash-1", S.RECEIVED, S.SENT, now, attempts=1,
                        order_date=now.astimezone(KST).strftime("%Y%m%d"))
            ticket = await place_cash_order(env.rt.kis, env.config.account(),
                                            entry.request.side, "005930", 7,
                                            entry.request.order_type)
            # And one that was claimed but never sent.
            ledger.claim(order("crash-2", qty=2), "local", now)
            resolved = await env.agent.recover()
            again = await env.agent.submit(order("crash-1", qty=7))
            fresh = await env.agent.submit(order("crash-2", qty=2))
            return ticket, resolved, again, fresh

    ticket, resolved, again, fresh = asyncio.run(go())
    assert resolved == 1
    assert again.state is S.RECONCILED and again.order_no == ticket.order_no
    assert fresh.state is S.ACCEPTED
    assert len(env.booked()) == 2


def test_cancel_through_the_agent(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            q = env.sim.market.quote("005930", env.config.market_now())
            placed = await env.agent.submit(order("lim-1", order_type="limit",
                                                  price=q.limits.lower))
            open_orders = await env.agent.cancelable_orders()
            cancel = await env.agent.submit(order("can-1", action="cancel", ticker="", qty=0,
                                                  order_no=placed.order_no))
            return placed, open_orders, cancel, await env.agent.outcome("lim-1")

    placed, open_orders, cancel, original = asyncio.run(go())
    assert placed.state is S.ACCEPTED
    assert [o.order_no for o in open_orders] == [placed.order_no]
    assert cancel.state is S.CANCELLED and cancel.order_no != placed.order_no
    assert original.state is S.CANCELLED


def test_refresh_records_fills(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            await env.agent.submit(order("fill-1", qty=4))
            await env.agent.refresh()
            return await env.agent.outcome("fill-1")

    out = asyncio.run(go())
    assert out.state is S.FILLED and out.filled_qty == 4 and out.avg_fill_price > 0


def test_a_request_claimed_by_another_replica_is_not_sent(in_session):
    env = local(in_session)
    env.rt.store.put("orders/claims/shared-1.json",
                     json.dumps({"request_id": "shared-1", "owner": "other-replica"}).encode())

    async def go():
        async with env.rt:
            return await env.agent.submit(order("shared-1"))

    out = asyncio.run(go())
    assert not out.resolved and "another trading agent" in out.message
    assert env.booked() == []
    assert env.agent.ledger.get("shared-1") is None
    own = json.loads(env.rt.store.get("orders/claims/shared-1.json"))
    assert own["owner"] == "other-replica"


def test_prod_refuses_orders_without_the_live_opt_in(quartz_home, monkeypatch):
    for k, v in {"QUARTZ_ENV": "prod", "HANSEC_INVESTMENT_APP_KEY": "PSkey" + "x" * 31,
                 "HANSEC_INVESTMENT_APP_SECRET_KEY": "s" * 40,
                 "HANSEC_INVESTMENT_CANO": "12345678"}.items():
        monkeypatch.setenv(k, v)
    rt = open_runtime(load_config())
    agent = trading_agent(rt)

    async def go():
        async with rt:
            with pytest.raises(SafetyRefusal):
                await agent.submit(order("prod-1"))

    asyncio.run(go())
    assert agent.broker_calls == 0 and agent.ledger.get("prod-1") is None


def test_ledger_refuses_illegal_moves_and_shared_order_numbers(tmp_path):
    ledger = SqliteOrderLedger(tmp_path / "l.db")
    now = datetime.now(UTC)
    ledger.claim(order("a"), "local", now)
    ledger.claim(order("b"), "local", now)
    with pytest.raises(LedgerError):
        ledger.move("a", S.RECEIVED, S.FILLED, now)
    ledger.move("a", S.RECEIVED, S.SENT, now)
    ledger.move("a", S.SENT, S.ACCEPTED, now, order_no="0000000001")
    ledger.move("b", S.RECEIVED, S.SENT, now)
    with pytest.raises(LedgerError):
        ledger.move("b", S.SENT, S.ACCEPTED, now, order_no="0000000001")
    with pytest.raises(LedgerError):
        ledger.move("a", S.SENT, S.ACCEPTED, now)        # no longer `sent`
    assert ledger.get("b").state is S.SENT


def test_a_stale_request_is_refused_unsent(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            old = order("old-1", timestamp=datetime(2026, 11, 23, 23, 0, tzinfo=UTC))
            first = await env.agent.submit(old)
            again = await env.agent.submit(old)
            return first, again

    first, again = asyncio.run(go())
    assert first.state is S.REJECTED and "older than" in first.message
    assert again.state is S.REJECTED and again.attempts == 0
    assert env.booked() == [] and env.agent.broker_calls == 0


def test_real_domain_paths_cancelable_inquiry_and_hashkey(in_session):
    from quartz_cli.config import LOCAL_APP_KEY, LOCAL_APP_SECRET
    from quartz_cli.domain.orders import OrderType, Side
    from quartz_cli.kis.client import KisClient
    from quartz_cli.kis.orders import cancelable_orders

    env = local(in_session, real_tr_ids=True)

    async def go():
        async with env.rt:
            kis = KisClient(replace(env.rt.endpoint, real_tr_ids=True), LOCAL_APP_KEY,
                            LOCAL_APP_SECRET, env.rt.tokens, env.rt.kis.http)
            q = env.sim.market.quote("005930", env.config.market_now())
            t = await place_cash_order(kis, env.config.account(), Side.BUY, "005930",
                                       4, OrderType.LIMIT, q.limits.lower, hashkey=True)
            day = env.config.market_now().astimezone(KST).date()
            return t, await cancelable_orders(kis, env.config.account(), day)

    ticket, open_orders = asyncio.run(go())
    assert ticket.code == "APBK0013" and ticket.org_no == "06010"
    assert [(o.order_no, o.cancelable_qty) for o in open_orders] == [(ticket.order_no, 4)]
    assert env.sim.state.counter("served:TTTC0084R") == 1
    assert env.sim.state.counter("served:TTTC0012U") == 1


def test_dropped_response_over_tcp_when_the_simulator_is_served(in_session, monkeypatch):
    """`quartz sim serve` + QUARTZ_KIS_BASE_URL: the drop breaks the HTTP connection."""
    config = load_config()
    sim = Simulator(SimState(in_session / "served.db"),
                    SimConfig(rate_limit_per_s=0, drop_response_rate=1.0),
                    clock=lambda: config.market_now().timestamp(),
                    cache_dir=in_session / "cache")
    with LoopbackServer(sim.app) as srv:
        monkeypatch.setenv("QUARTZ_KIS_BASE_URL", srv.url)
        rt = open_runtime(load_config())
        agent = trading_agent(rt, FAST)

        async def go():
            async with rt:
                return await agent.submit(order("tcp-1", qty=2))

        out = asyncio.run(go())
    booked = [a for a in exchange_for(sim).audit() if a["event"] == "booked"]
    assert rt.endpoint.in_process is False
    assert out.state is S.RECONCILED and len(booked) == 1
    assert out.order_no == booked[0]["odno"]
