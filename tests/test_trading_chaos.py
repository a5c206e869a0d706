"""Chaos: 1,000 orders through `quartz trade serve` while the simulator injects 10 % 5xx,
5 % accept-then-drop, latency and rate-limit bursts, the client's WebSocket is cut at random,
and the server process is SIGKILLed and restarted twice mid-stream.

Afterwards every request_id has exactly one resolved state, the simulator booked each at most
once (every booking belongs to exactly one request), and none was lost."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from fakes.server import free_port
from quartz_cli.domain.krx import tick_size
from quartz_cli.domain.orders import BOOKED_STATES, OrderOutcome, OrderRequest
from quartz_cli.domain.universe import bundled_universe
from quartz_cli.errors import BrokerUnavailable
from quartz_cli.servers.trading_client import TradingClient
from quartz_cli.sim import SimConfig, SimState, Simulator
from quartz_cli.store.order_ledger import SqliteOrderLedger
from trading_support import MARKET_TIME, seed_calendar

N_ORDERS = 1000
KILL_AT = (300, 650)
TOKEN = "chaos-internal-token-0123456789"
CONCURRENCY = 48

FAULTS = {
    "QUARTZ_SIM_ERROR_5XX_RATE": "0.10",
    "QUARTZ_SIM_DROP_RESPONSE_RATE": "0.05",
    "QUARTZ_SIM_RATE_LIMIT_BURST_RATE": "0.002",
    "QUARTZ_SIM_RATE_LIMIT_BURST_S": "0.1",
    "QUARTZ_SIM_LATENCY_MS": "5",
    "QUARTZ_SIM_RATE_LIMIT_PER_S": "0",
    "QUARTZ_SIM_STARTING_CASH": "10000000000",
}


class Server:
    """`quartz trade serve` as a child process that the test can SIGKILL and restart."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.env = {**{k: v for k, v in os.environ.items()
                       if not k.startswith(("QUARTZ_", "HANSEC_"))},
                    "QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME,
                    "QUARTZ_INTERNAL_TOKEN": TOKEN, "QUARTZ_RATE_LIMIT_PER_S": "1000", **FAULTS}

    def start(self) -> None:
        # The child keeps its own copy of the log's descriptor; ours can close at once.
        with open(self.home / f"server-{self.starts}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "quartz_cli", "trade", "serve", "--port", str(self.port),
                 "--retry-delay", "0.2", "--reconcile-delays", "0,0.1,0.3"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health/live", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not come up")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


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


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_chaos_no_duplicates_no_losses(quartz_home: Path, calendar_cache: Path):
    seed_calendar(quartz_home, calendar_cache)
    orders = make_orders(quartz_home)
    server = Server(quartz_home, free_port())
    results: dict[str, OrderOutcome] = {}
    resubmits = Counter()
    restarts: list[tuple[float, float]] = []
    started = time.monotonic()

    async def drive() -> TradingClient:
        client = TradingClient(f"ws://127.0.0.1:{server.port}/ws/orders", TOKEN,
                               reply_timeout_s=20, deadline_s=60)
        gate = asyncio.Semaphore(CONCURRENCY)
        kills = list(KILL_AT)
        restarting = asyncio.Lock()

        async def chaos_monkey() -> None:
            rng = random.Random(9)
            while len(results) < N_ORDERS:
                await asyncio.sleep(rng.uniform(0.1, 0.6))
                await client.disconnect()

        async def one(req: OrderRequest) -> None:
            async with gate:
                for _ in range(100):
                    try:
                        out = await client.submit(req)
                    except BrokerUnavailable:
                        out = None
                    if out is not None and out.resolved:
                        results[req.request_id] = out
                        break
                    resubmits[req.request_id] += 1
                    await asyncio.sleep(0.3)
                else:
                    raise AssertionError(f"{req.request_id} never resolved")
            if kills and len(results) >= kills[0] and not restarting.locked():
                async with restarting:
                    kills.pop(0)
                    t_kill = time.monotonic() - started
                    await asyncio.to_thread(server.kill)
                    await asyncio.sleep(0.3)
                    await asyncio.to_thread(server.start)
                    restarts.append((t_kill, time.monotonic() - started))

        monkey = asyncio.create_task(chaos_monkey())
        try:
            await asyncio.gather(*(one(r) for r in orders))
        finally:
            monkey.cancel()
            await client.aclose()
        return client

    server.start()
    try:
        client = asyncio.run(drive())
    finally:
        server.stop()
    elapsed = time.monotonic() - started

    ledger = SqliteOrderLedger(quartz_home / "trading" / "local-ledger.db")
    entries = {e.request.request_id: e for e in ledger.entries(limit=10 * N_ORDERS)}
    sim_state = SimState(quartz_home / "sim" / "local.db")
    sim_orders = [r["odno"] for r in sim_state.query(
        "SELECT odno FROM sim_orders WHERE kind = 'order'")]
    audit_booked = [r["odno"] for r in sim_state.query(
        "SELECT odno FROM sim_audit WHERE event = 'booked'")]
    counters = sim_state.counters()

    booked_by_ledger = {e.order_no: rid for rid, e in entries.items()
                        if e.state in BOOKED_STATES}
    states = Counter(e.state.value for e in entries.values())
    print(f"\nchaos: {N_ORDERS} orders in {elapsed:.1f}s; server starts {server.starts} "
          f"(SIGKILL x{server.starts - 1})")
    print("  SIGKILL at " + ", ".join(f"{a:.1f}s (back up at {b:.1f}s)" for a, b in restarts))
    print(f"  ledger states: {dict(states)}")
    print(f"  simulator booked {len(sim_orders)} orders (audit {len(audit_booked)}); "
          f"5xx injected {counters.get('fault_5xx', 0)}, responses dropped "
          f"{counters.get('fault_dropped', 0)}, rate-limit refusals "
          f"{counters.get('fault_rate_limited', 0)}")
    print(f"  client: ws sends {client.sent_ws}, http sends {client.sent_http}, "
          f"ws connects {client.reconnects}, re-asks {sum(resubmits.values())}")
    dupes = len(sim_orders) - len(set(sim_orders))
    orphans = sorted(set(sim_orders) - set(booked_by_ledger))
    print(f"  duplicates {dupes + len(orphans)}, lost {N_ORDERS - len(results)}")
    for e in [e for e in entries.values() if e.state.value == "rejected"][:5]:
        print(f"  rejected {e.request.request_id}: {e.message[:110]}")

    assert server.starts == 3
    # None lost: every request has one ledger row, resolved, and the client got that outcome.
    assert set(entries) == {o.request_id for o in orders}
    assert len(results) == N_ORDERS
    assert all(e.state.value in {"accepted", "filled", "reconciled", "rejected", "cancelled"}
               for e in entries.values())
    for rid, out in results.items():
        assert out.order_no == entries[rid].order_no, rid
    # No duplicates: every order the simulator booked belongs to exactly one request, and
    # every request the ledger calls booked is at the simulator.
    assert dupes == 0 and sorted(audit_booked) == sorted(sim_orders)
    assert orphans == []
    assert set(booked_by_ledger) == set(sim_orders)
    # The faults really happened.
    assert counters.get("fault_5xx", 0) > 0 and counters.get("fault_dropped", 0) > 0
    assert client.reconnects > 3
    assert states.get("reconciled", 0) > 0
