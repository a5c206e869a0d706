"""A broker that books orders after the client gave up (tests/fakes/late_broker.py in front
of the simulator): every request ends matched or closed as not booked, and the simulator
books exactly one order per request it received — in process, and with the trading server
SIGKILLed mid-flight and restarted."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fakes.late_broker import LateBroker
from fakes.server import LoopbackServer, free_port
from quartz_cli.app.runtime import open_runtime, trading_agent
from quartz_cli.config import load_config
from quartz_cli.domain.orders import OrderOutcome, OrderRequest, OrderState
from quartz_cli.errors import BrokerUnavailable
from quartz_cli.remote.trading_client import TradingClient
from quartz_cli.sim import SimConfig, SimState, Simulator
from quartz_cli.sim.exchange import exchange_for
from quartz_cli.store.order_ledger import SqliteOrderLedger
from trading_support import FAST, ServerProcess

S = OrderState
TICKERS = ("005930", "000660", "373220", "207940", "005380", "000270", "068270", "005490")
TOKEN = "late-booking-internal-token-0123456789"
# After the 2026-11-24 session's close and the agent's margin: an unbooked order is dead.
AFTER_THE_SESSION = "2026-11-24T17:00:00+09:00"


def buy(rid: str, ticker: str, qty: int = 1) -> OrderRequest:
    return OrderRequest(request_id=rid, action="buy", ticker=ticker, qty=qty,
                        timestamp=datetime.now(UTC))


def simulator(home: Path) -> Simulator:
    config = load_config()
    return Simulator(SimState(home / "sim" / "broker.db"), SimConfig(rate_limit_per_s=0),
                     clock=lambda: config.market_now().timestamp(), cache_dir=home / "cache")


def booked_at(sim: Simulator) -> list[str]:
    """Order numbers the simulator booked (its own audit, not Quartz's records)."""
    return [a["odno"] for a in exchange_for(sim).audit() if a["event"] == "booked"]


def test_late_bookings_are_matched_and_never_sent_twice(in_session, monkeypatch):
    # Order 0 is answered in time; 1-5 are booked 1.2-2.5 s after the client's 0.8 s
    # timeout; order 6 is lost by the broker and never booked.
    delays = [0.0, 1.5, 2.5, 1.2, 2.0, 1.8, None]
    sim = simulator(in_session)
    with LoopbackServer(sim.app) as upstream:
        late = LateBroker(upstream.url, delays)
        with LoopbackServer(late.app) as proxy:
            monkeypatch.setenv("QUARTZ_KIS_BASE_URL", proxy.url)
            monkeypatch.setenv("QUARTZ_HTTP_TIMEOUT_S", "0.8")
            rt = open_runtime(load_config())
            agent = trading_agent(rt, FAST)
            requests = [buy(f"late-{i}", TICKERS[i % len(TICKERS)], qty=i + 1)
                        for i in range(len(delays))]

            async def go():
                async with rt:
                    first: list[OrderOutcome] = []
                    for r in requests:    # one at a time: the proxy scripts by arrival
                        first.append(await agent.submit(r))
                    exposure = await agent.in_flight()
                    # The server's background pass, until the broker has booked everything
                    # it will ever book and nothing more can be matched.
                    deadline = time.monotonic() + 30
                    while late.forwarded < 6 or await agent.reconcile_pending(force=True):
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.2)
                    await agent.reconcile_pending(force=True)
                    agent.market_now = lambda: datetime.fromisoformat(AFTER_THE_SESSION)
                    await agent.reconcile_pending(force=True)
                    final = [await agent.outcome(r.request_id) for r in requests]
                    return first, exposure, final

            first, exposure, final = asyncio.run(go())
            late.drain()
    booked = booked_at(sim)
    states = [o.state for o in final]
    print(f"\nlate bookings: {len(requests)} requests, simulator booked {len(booked)}; "
          f"proxy forwarded {late.forwarded} ({late.forwarded_late} late, "
          f"{late.answered_to_nobody} answered to nobody, {late.lost} lost); "
          f"states {[s.value for s in states]}")
    assert [o.state for o in first] == [S.ACCEPTED] + [S.UNKNOWN] * 6
    # Every unknown is in flight at its full size until it is resolved.
    assert sorted((f.request_id, f.open_qty) for f in exposure if f.state is S.UNKNOWN) == [
        (f"late-{i}", i + 1) for i in range(1, 7)]
    assert states == [S.ACCEPTED] + [S.RECONCILED] * 5 + [S.EXPIRED]
    # Exactly one broker order per request the broker received, each owned by its request.
    assert len(booked) == len(set(booked)) == 6
    assert sorted(o.order_no for o in final if o.order_no) == sorted(booked)
    assert agent.broker_calls == 7 and late.orders_seen == 7
    assert late.answered_to_nobody == 5 and late.lost == 1
    expired = final[-1]
    assert expired.order_no is None
    assert "not booked: the 2026-11-24 session is over" in expired.message
    assert re.search(r"\d+ order inquiries without a match \(KST [\d:, …]+, 17:00:00\)",
                     expired.message), expired.message


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_late_bookings_across_a_sigkill_of_the_trading_server(in_session):
    """The server sends 6 orders the broker holds for 2-3 s, is SIGKILLed while it waits,
    and restarts: recovery reconciles (never sends); the lost order expires once the
    session is over. The simulator's own audit has exactly one order per booked request."""
    delays = [2.0, 2.5, 3.0, 2.2, None, 2.8]
    n = len(delays)
    sim = simulator(in_session)
    requests = [buy(f"kill-{i}", TICKERS[i], qty=i + 1) for i in range(n)]
    with LoopbackServer(sim.app) as upstream:
        by_ticker = {TICKERS[i]: d for i, d in enumerate(delays)}
        late = LateBroker(upstream.url, lambda _, body: by_ticker[body["PDNO"]])
        with LoopbackServer(late.app) as proxy:
            server = ServerProcess(
                in_session, free_port(), TOKEN,
                {"QUARTZ_KIS_BASE_URL": proxy.url, "QUARTZ_HTTP_TIMEOUT_S": "10"},
                ("--retry-delay", "0.2", "--reconcile-delays", "0,0.1"))
            url = server.ws_url
            server.start()
            try:
                final = asyncio.run(_drive_through_a_kill(server, late, url, requests))
            finally:
                server.stop()
            late.drain()
    booked = booked_at(sim)
    ledger = SqliteOrderLedger(in_session / "trading" / "local-ledger.db")
    entries = {e.request.request_id: e for e in ledger.entries()}
    states = {rid: o.state.value for rid, o in final.items()}
    print(f"\nSIGKILL with late bookings: {n} requests, simulator booked {len(booked)}; "
          f"server starts {server.starts}; proxy forwarded {late.forwarded} "
          f"({late.answered_to_nobody} answered to nobody, {late.lost} lost); {states}")
    assert server.starts == 3
    assert late.orders_seen == n            # each request left the server exactly once
    assert len(booked) == len(set(booked)) == n - 1
    assert sorted(e.order_no for e in entries.values() if e.order_no) == sorted(booked)
    for i, r in enumerate(requests):
        e = entries[r.request_id]
        assert final[r.request_id].state is e.state
        if delays[i] is None:
            assert e.state is S.EXPIRED and "not booked" in e.message
        else:
            assert e.state is S.RECONCILED and e.attempts == 1
            moves = [t for f, t, _ in ledger.history(r.request_id) if f != t]
            assert moves == ["received", "sent", "unknown", "reconciled"]


async def _drive_through_a_kill(server: ServerProcess, late: LateBroker, url: str,
                                requests: list[OrderRequest]) -> dict[str, OrderOutcome]:
    client = TradingClient(url, TOKEN, reply_timeout_s=5, deadline_s=30)
    try:
        first = [asyncio.create_task(client.submit(r)) for r in requests]
        deadline = time.monotonic() + 20
        while late.orders_seen < len(requests):     # all held by the broker
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.to_thread(server.kill)
        await asyncio.to_thread(server.start)
        # The first callers reconnect and get the stored outcome (still unknown, mostly).
        for answer in await asyncio.gather(*first, return_exceptions=True):
            assert isinstance(answer, (OrderOutcome, BrokerUnavailable)), answer
        # Ask again (same request_ids) until the late bookings are all matched.
        final: dict[str, OrderOutcome] = {}
        deadline = time.monotonic() + 30
        while True:
            for r in requests:
                final[r.request_id] = await client.submit(r)
            pending = [o for o in final.values() if o.state is S.UNKNOWN]
            if late.forwarded == len(requests) - 1 and len(pending) <= 1:
                break
            assert time.monotonic() < deadline, pending
            await asyncio.sleep(0.3)
        # The session closes: a server started after it expires what the broker never booked.
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start, QUARTZ_MARKET_TIME=AFTER_THE_SESSION)
        deadline = time.monotonic() + 30
        while True:
            for r in requests:
                final[r.request_id] = await client.outcome(r.request_id) or final[r.request_id]
            if all(o.resolved for o in final.values()):
                return final
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
    finally:
        await client.aclose()


def test_an_answer_arriving_after_another_process_adopted_the_request(in_session,
                                                                      monkeypatch):
    """Process A sends; the broker holds the order 1.5 s; meanwhile process B's startup
    recovery adopts A's `sent` row as unknown (nothing booked yet, so no match). A's answer
    then arrives: the ticket is the match, and the order is booked once."""
    sim = simulator(in_session)
    with LoopbackServer(sim.app) as upstream:
        late = LateBroker(upstream.url, 1.5)
        with LoopbackServer(late.app) as proxy:
            monkeypatch.setenv("QUARTZ_KIS_BASE_URL", proxy.url)
            monkeypatch.setenv("QUARTZ_HTTP_TIMEOUT_S", "10")
            rt = open_runtime(load_config())
            a, b = trading_agent(rt, FAST), trading_agent(rt, FAST)

            async def go():
                async with rt:
                    sending = asyncio.create_task(a.submit(buy("adopt-1", "005930", 2)))
                    deadline = time.monotonic() + 10
                    while late.orders_seen < 1:     # the broker holds it
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.02)
                    await b.recover()
                    adopted = await b.outcome("adopt-1")
                    return adopted, await sending

            adopted, answered = asyncio.run(go())
            late.drain()
    booked = booked_at(sim)
    assert adopted.state is S.UNKNOWN
    assert answered.state is S.RECONCILED and answered.order_no == booked[0]
    assert len(booked) == 1 and a.broker_calls == 1 and b.broker_calls == 0
