"""Chaos: 600 orders through `quartz trade serve` from three concurrent producers (some
request_ids sent by two at once) while the broker misbehaves — the simulator injects 10 %
5xx, 5 % accept-then-drop, latency and rate-limit bursts, and a late-booking proxy in front of
it books 4 % of the orders 2.5-4.5 s after the trading server gave up on them — the producers'
WebSockets are cut at random, and the server process is SIGKILLed and restarted twice
mid-stream. Then the session closes: a server started after it reconciles what is left.

Afterwards every request_id has exactly one resolved state (none lost), and the simulator's
own records — its orders and its final positions — hold exactly one order per request the
ledger calls booked and none for the others (no duplicates). The counts are printed."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fakes.late_broker import LateBroker
from fakes.server import LoopbackServer, free_port
from quartz_cli.config import LOCAL_CANO, market_clock
from quartz_cli.domain.krx import tick_size
from quartz_cli.domain.orders import (
    BOOKED_STATES,
    OrderOutcome,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
)
from quartz_cli.domain.universe import bundled_universe
from quartz_cli.errors import BrokerUnavailable
from quartz_cli.remote.trading_client import TradingClient
from quartz_cli.sim import SimConfig, SimState, Simulator
from quartz_cli.sim.exchange import SEED_POSITIONS, exchange_for
from quartz_cli.store.order_ledger import SqliteOrderLedger
from trading_support import MARKET_TIME, ServerProcess, seed_calendar

S = OrderState
N_ORDERS = 600
KILL_AT = (180, 390)
TOKEN = "chaos-internal-token-0123456789-abcdef"
CONCURRENCY = 48
PRODUCERS = 3
TWICE_EVERY = 20            # every 20th request_id is sent by two producers at once
LATE_RATE = 0.04
# The whole drive must end well inside pytest's timeout, so a slow machine fails with the
# counts so far instead of a bare timeout.
DRIVE_DEADLINE_S = 360
AFTER_THE_SESSION = "2026-11-24T17:00:00+09:00"

FAULTS = SimConfig(error_5xx_rate=0.10, drop_response_rate=0.05,
                   rate_limit_burst_rate=0.002, rate_limit_burst_s=0.1, latency_ms=5,
                   rate_limit_per_s=0, starting_cash=10_000_000_000, fault_seed=11)


def make_orders(home: Path) -> list[OrderRequest]:
    """Market buys across the universe, market sells of a seeded holding, resting limits."""
    rng = random.Random(4)
    codes = bundled_universe().codes()
    sim = Simulator(SimState(), SimConfig(), cache_dir=home / "cache")
    at = datetime.fromisoformat(MARKET_TIME)
    out = []
    for i in range(N_ORDERS):
        rid = f"chaos-{i:04d}"
        now = datetime.now(UTC)
        kind = i % 10
        if kind == 7:
            out.append(OrderRequest(request_id=rid, action="sell", ticker="005930", qty=1,
                                    timestamp=now))
        elif kind == 8:
            code = rng.choice(codes)
            lower = sim.market.quote(code, at).limits.lower
            out.append(OrderRequest(request_id=rid, action="buy", ticker=code, qty=1,
                                    order_type="limit", price=lower + tick_size(lower),
                                    timestamp=now))
        else:
            out.append(OrderRequest(request_id=rid, action="buy", ticker=rng.choice(codes),
                                    qty=rng.randint(1, 3), timestamp=now))
    return out


def late_delays(seed: int):
    """The proxy's script: most orders go straight through, a few are booked late."""
    rng = random.Random(seed)

    def delay(n: int, body: dict) -> float:
        return rng.uniform(2.5, 4.5) if rng.random() < LATE_RATE else 0.0
    return delay


@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.timeout(600)
def test_chaos_no_duplicates_no_losses(quartz_home: Path, calendar_cache: Path):
    seed_calendar(quartz_home, calendar_cache)
    orders = make_orders(quartz_home)
    market_now = market_clock(datetime.fromisoformat(MARKET_TIME))
    sim = Simulator(SimState(quartz_home / "sim" / "broker.db"), FAULTS,
                    clock=lambda: market_now().timestamp(),
                    cache_dir=quartz_home / "cache")
    results: dict[str, OrderOutcome] = {}          # what the producers were answered
    final_outcomes: dict[str, OrderOutcome] = {}   # what the server lists at the end
    resubmits: Counter[str] = Counter()
    restarts: list[tuple[float, float]] = []
    started = time.monotonic()

    with LoopbackServer(sim.app) as upstream:
        late = LateBroker(upstream.url, late_delays(5))
        with LoopbackServer(late.app) as proxy:
            server = ServerProcess(
                quartz_home, free_port(), TOKEN,
                {"QUARTZ_KIS_BASE_URL": proxy.url, "QUARTZ_HTTP_TIMEOUT_S": "2.0"},
                ("--retry-delay", "0.2", "--reconcile-delays", "0,0.1,0.3"))
            url = server.ws_url

            async def drive() -> list[TradingClient]:
                clients = [TradingClient(url, TOKEN, reply_timeout_s=20, deadline_s=60)
                           for _ in range(PRODUCERS)]
                gate = asyncio.Semaphore(CONCURRENCY)
                kills = list(KILL_AT)
                restarting = asyncio.Lock()

                async def chaos_monkey() -> None:
                    rng = random.Random(9)
                    while len(results) < N_ORDERS:
                        await asyncio.sleep(rng.uniform(0.1, 0.6))
                        await rng.choice(clients).disconnect()

                async def one(req: OrderRequest, client: TradingClient) -> None:
                    async with gate:
                        for _ in range(100):
                            try:
                                out = await client.submit(req)
                            except BrokerUnavailable:
                                out = None
                            # Unknown: the owner has it in flight; it is reconciled, never
                            # sent again, so there is nothing more to ask for now.
                            if out is not None and (out.resolved or out.state is S.UNKNOWN):
                                results[req.request_id] = out
                                break
                            resubmits[req.request_id] += 1
                            await asyncio.sleep(0.3)
                        else:
                            raise AssertionError(f"{req.request_id} never answered")
                    if kills and len(results) >= kills[0] and not restarting.locked():
                        async with restarting:
                            kills.pop(0)
                            t_kill = time.monotonic() - started
                            await asyncio.to_thread(server.kill)
                            await asyncio.sleep(0.3)
                            await asyncio.to_thread(server.start)
                            restarts.append((t_kill, time.monotonic() - started))

                jobs = []
                for i, req in enumerate(orders):
                    jobs.append(one(req, clients[i % PRODUCERS]))
                    if i % TWICE_EVERY == 0:
                        jobs.append(one(req, clients[(i + 1) % PRODUCERS]))
                monkey = asyncio.create_task(chaos_monkey())
                try:
                    async with asyncio.timeout(DRIVE_DEADLINE_S):
                        await asyncio.gather(*jobs)
                except TimeoutError:
                    raise AssertionError(
                        f"only {len(results)} of {N_ORDERS} requests answered in "
                        f"{DRIVE_DEADLINE_S} s; server starts {server.starts}, re-asks "
                        f"{sum(resubmits.values())}") from None
                finally:
                    monkey.cancel()
                return clients

            async def close_the_session(clients: list[TradingClient]) -> Counter[str]:
                """The broker books what it held; the session closes; a server started after
                it reconciles every request still unknown (matched, or expired)."""
                await asyncio.to_thread(late.drain)
                before = Counter(o.state.value for o in await clients[0].orders(
                    limit=2 * N_ORDERS))
                sim.config = replace(FAULTS, error_5xx_rate=0.0, drop_response_rate=0.0,
                                     rate_limit_burst_rate=0.0)
                await asyncio.to_thread(server.stop)
                await asyncio.to_thread(server.start, QUARTZ_MARKET_TIME=AFTER_THE_SESSION)
                deadline = time.monotonic() + 90
                while True:
                    listed = await clients[0].orders(limit=2 * N_ORDERS)
                    if all(o.resolved for o in listed):
                        break
                    assert time.monotonic() < deadline, Counter(o.state.value for o in listed)
                    await asyncio.sleep(0.5)
                final_outcomes.update({o.request_id: o for o in listed})
                for client in clients:
                    await client.aclose()
                return before

            async def main() -> tuple[list[TradingClient], float, Counter[str]]:
                clients = await drive()
                elapsed = time.monotonic() - started
                return clients, elapsed, await close_the_session(clients)

            server.start()
            try:
                clients, elapsed, before_close = asyncio.run(main())
            finally:
                server.stop()

    ledger = SqliteOrderLedger(quartz_home / "trading" / "local-ledger.db")
    entries = {e.request.request_id: e for e in ledger.entries(limit=10 * N_ORDERS)}
    sim_state = sim.state
    sim_orders = [r["odno"] for r in sim_state.query(
        "SELECT odno FROM sim_orders WHERE kind = 'order'")]
    audit_booked = [a["odno"] for a in exchange_for(sim).audit() if a["event"] == "booked"]
    counters = sim_state.counters()
    booked_by_ledger = {e.order_no: rid for rid, e in entries.items()
                        if e.state in BOOKED_STATES}
    states = Counter(e.state.value for e in entries.values())
    dupes = len(sim_orders) - len(set(sim_orders))
    orphans = sorted(set(sim_orders) - set(booked_by_ledger))
    lost = N_ORDERS - len(results)

    # The simulator's final account: each ticker's position moved by exactly the market
    # orders the ledger says were booked (they fill whole at once; limits rest unfilled).
    expected = {code: qty for code, qty, _ in SEED_POSITIONS}
    for e in entries.values():
        r = e.request
        if e.state in BOOKED_STATES and r.order_type is OrderType.MARKET:
            sign = 1 if r.side is Side.BUY else -1
            expected[r.ticker] = expected.get(r.ticker, 0) + sign * r.qty
    final = {row["pdno"]: int(row["qty"]) for row in sim_state.query(
        "SELECT pdno, qty FROM sim_positions WHERE cano = ?", (LOCAL_CANO,))}
    mismatched = sorted(t for t in set(expected) | set(final)
                        if expected.get(t, 0) != final.get(t, 0))

    print(f"\nchaos: {N_ORDERS} orders from {PRODUCERS} producers in {elapsed:.1f}s; server "
          f"starts {server.starts} (SIGKILL x{len(restarts)}, then one after the close)")
    print("  SIGKILL at " + ", ".join(f"{a:.1f}s (back up at {b:.1f}s)" for a, b in restarts))
    print(f"  before the close: {dict(before_close)}")
    print(f"  final ledger states: {dict(states)}")
    print(f"  simulator booked {len(sim_orders)} orders (audit {len(audit_booked)}); "
          f"5xx injected {counters.get('fault_5xx', 0)}, responses dropped "
          f"{counters.get('fault_dropped', 0)}, rate-limit refusals "
          f"{counters.get('fault_rate_limited', 0)}; booked late {late.forwarded_late} "
          f"({late.answered_to_nobody} after the caller gave up)")
    sent_ws = sum(c.sent_ws for c in clients)
    sent_http = sum(c.sent_http for c in clients)
    print(f"  producers: ws sends {sent_ws}, http sends {sent_http}, ws connects "
          f"{sum(c.reconnects for c in clients)}, re-asks {sum(resubmits.values())}")
    print(f"  duplicates {dupes + len(orphans)}, lost {lost}, positions off at the "
          f"simulator {len(mismatched)}")
    for e in [e for e in entries.values() if e.state is S.REJECTED][:3]:
        print(f"  rejected {e.request.request_id}: {e.message[:110]}")
    for e in [e for e in entries.values() if e.state is S.EXPIRED][:2]:
        print(f"  expired {e.request.request_id}: {e.message[:200]}")

    assert server.starts == len(KILL_AT) + 2
    # None lost: every request has one ledger row, resolved, and the producers got that
    # outcome.
    assert set(entries) == {o.request_id for o in orders}
    assert lost == 0 and set(results) == set(entries) == set(final_outcomes)
    assert all(e.state.value in {"accepted", "filled", "reconciled", "rejected", "cancelled",
                                 "expired"} for e in entries.values())
    for rid, out in final_outcomes.items():
        assert (out.state, out.order_no) == (entries[rid].state, entries[rid].order_no), rid
    # What a producer was told stands: a resolved answer never changed its broker order.
    for rid, out in results.items():
        if out.resolved:
            assert out.order_no == entries[rid].order_no, rid
    # No duplicates: every order the simulator booked belongs to exactly one request, every
    # request the ledger calls booked is at the simulator, and the final positions agree.
    assert dupes == 0 and sorted(audit_booked) == sorted(sim_orders)
    assert orphans == []
    assert set(booked_by_ledger) == set(sim_orders)
    assert mismatched == [], [(t, expected.get(t), final.get(t)) for t in mismatched]
    # Expired requests are exactly the ones the broker never booked, each with its evidence.
    assert all(e.order_no is None and "not booked" in e.message
               for e in entries.values() if e.state is S.EXPIRED)
    # The faults really happened.
    assert counters.get("fault_5xx", 0) > 0 and counters.get("fault_dropped", 0) > 0
    assert late.answered_to_nobody > 0
    assert sum(c.reconnects for c in clients) > 3
    assert states.get("reconciled", 0) > 0 and states.get("expired", 0) > 0
