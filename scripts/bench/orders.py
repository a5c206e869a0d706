"""Benchmark: orders through the trading WebSocket server against the simulator.

Runs `quartz trade serve` (simulator in-process, SYNTHETIC market) in a child process and
sends market orders over the WebSocket with `TradingClient`:

1. rate limit off: orders/s and p50/p99 latency, with the ratio to a reference measured in
   the same run (the same orders sent straight to the simulator through `KisClient`, no
   server, no ledger);
2. the real account's limit on (simulator 18 calls/s, client throttle 18/s): orders/s as a
   fraction of the limit, and how many EGW00201 refusals the simulator handed out (goal:
   >= 0.9 of the limit with zero). Every order passes the account owner's pre-trade stage;
3. the latency that stage adds: the same kind of orders in-process, through the account owner
   and straight to its trading agent (same simulator, same run, rate limit off), p50/p99 of
   each and of the difference;
4. with `--events`: what the event log, metrics and notification fan-out cost per order: the
   same orders in-process through the trading agent with the ledger's events and the
   metrics on, and with both off, after one untimed order per ticker, in rounds whose arms
   alternate which goes first (p50/p99 of each and the p99 growth; goal <= 5 %), and the
   notifier's time per order to fan the events out to three in-memory channels (it reads
   the log from its own cursor, off the order path: beside the trading agent in production).

    .venv/bin/python scripts/bench/orders.py [--orders 400] [--limited-orders 180] [--events]
    .venv/bin/python scripts/bench/orders.py --events --only-events --orders 40   # smoke
    .venv/bin/python scripts/bench/orders.py --events --only-events --orders 200 --rounds 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

MARKET_TIME = "2026-11-24T10:00:00+09:00"
TOKEN = "bench-internal-token-0123456789-abcdef"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(home: Path, port: int, extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("QUARTZ_", "HANSEC_"))},
           "QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME,
           "QUARTZ_INTERNAL_TOKEN": TOKEN, "QUARTZ_SIM_STARTING_CASH": "100000000000", **extra}
    proc = subprocess.Popen([sys.executable, "-m", "quartz_cli", "trade", "serve",
                             "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).is_success:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the trading server did not start")


def requests(n: int, tag: str) -> list:
    from quartz_cli.domain.orders import OrderRequest
    from quartz_cli.domain.universe import bundled_universe

    codes = bundled_universe().codes()
    return [OrderRequest(request_id=f"bench-{tag}-{i}", action="buy",
                         ticker=codes[i % len(codes)], qty=1, timestamp=datetime.now(UTC))
            for i in range(n)]


async def through_server(port: int, n: int, tag: str,
                         concurrency: int) -> tuple[float, list[float]]:
    from quartz_cli.remote.trading_client import TradingClient

    orders = requests(n, tag)
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with TradingClient(f"ws://127.0.0.1:{port}/ws/orders", TOKEN) as client:
        # One untimed order per ticker first: the owner then holds each ticker's quote (for
        # `QUOTE_MAX_AGE_S`), so the timed orders measure its steady state.
        await asyncio.gather(*(client.submit(r) for r in requests(71, f"{tag}-warm")))

        async def one(req) -> None:
            async with gate:
                t0 = time.perf_counter()
                out = await client.submit(req)
                latencies.append(time.perf_counter() - t0)
                if not out.booked:
                    raise SystemExit(f"{req.request_id}: {out.state.value} {out.message}")

        start = time.perf_counter()
        await asyncio.gather(*(one(r) for r in orders))
        return time.perf_counter() - start, latencies


async def direct(home: Path, n: int, concurrency: int) -> float:
    """Reference: the same orders straight to an in-process simulator (no server/ledger)."""
    os.environ.update({"QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME,
                       "QUARTZ_RATE_LIMIT_PER_S": "100000", "QUARTZ_SIM_RATE_LIMIT_PER_S": "0",
                       "QUARTZ_SIM_STARTING_CASH": "100000000000"})
    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.config import load_config
    from quartz_cli.kis.orders import place_cash_order

    config = load_config()
    gate = asyncio.Semaphore(concurrency)
    async with open_runtime(config) as rt:
        account = config.account()
        orders = requests(n + 1, "direct")
        await place_cash_order(rt.kis, account, orders[0].side, orders[0].ticker, 1,
                               orders[0].order_type)

        async def one(req) -> None:
            async with gate:
                await place_cash_order(rt.kis, account, req.side, req.ticker, 1,
                                       req.order_type)

        start = time.perf_counter()
        await asyncio.gather(*(one(r) for r in orders[1:]))
        return time.perf_counter() - start


async def owner_vs_agent(home: Path, n: int, concurrency: int
                         ) -> tuple[list[float], list[float]]:
    """Latencies of `n` orders through the account owner and of `n` straight to its trading
    agent, interleaved in rounds so both see the same simulator and ledger sizes."""
    os.environ.update({"QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME,
                       "QUARTZ_RATE_LIMIT_PER_S": "100000", "QUARTZ_SIM_RATE_LIMIT_PER_S": "0",
                       "QUARTZ_SIM_STARTING_CASH": "100000000000"})
    from quartz_cli.app.owner import account_owner
    from quartz_cli.app.runtime import open_runtime, trading_agent
    from quartz_cli.config import load_config

    config = load_config()
    owned: list[float] = []
    bare: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with open_runtime(config) as rt:
        agent = trading_agent(rt)
        owner = account_owner(rt, agent=agent)
        await asyncio.gather(*(owner.submit(r) for r in requests(71, "warm-owner")))
        await agent.submit(requests(1, "warm-agent")[0])

        async def one(executor, req, into: list[float]) -> None:
            async with gate:
                t0 = time.perf_counter()
                out = await executor.submit(req)
                into.append(time.perf_counter() - t0)
                if not out.booked:
                    raise SystemExit(f"{req.request_id}: {out.state.value} {out.message}")

        rounds = 4
        for r in range(rounds):
            size = n // rounds
            await asyncio.gather(*(one(owner, q, owned) for q in requests(size, f"o{r}")))
            await asyncio.gather(*(one(agent, q, bare) for q in requests(size, f"a{r}")))
    return owned, bare


class _MemoryChannel:
    """A notification channel that keeps its messages: the fan-out without the network."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[str] = []

    async def send(self, text: str, event: object) -> None:
        self.messages.append(text)

    async def aclose(self) -> None:
        pass


class _NoMetric:
    """A metric that records nothing: the `off` arm runs with metrics off as well."""

    def labels(self, *values: str) -> _NoMetric:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, value: float) -> None:
        pass

    def set(self, value: float) -> None:
        pass


def _metrics_on(on: bool, saved: dict[str, object]) -> None:
    """Swap the process's metric objects for `_NoMetric`s (off) or put them back (on). The
    instrumented code reaches every metric through `metrics()`, so this turns all of them off
    without touching it."""
    from quartz_cli.metrics import metrics

    m = metrics()
    if not saved:
        saved.update(vars(m))
    for name, value in saved.items():
        if name != "registry":
            setattr(m, name, value if on else _NoMetric())


async def events_on_vs_off(home: Path, n: int, concurrency: int, rounds: int
                           ) -> tuple[list[float], list[float], dict[bool, float], float, int]:
    """Latencies of `n` orders through the trading agent with the event log and metrics on
    and of `n` with both off, in `rounds` rounds whose arms alternate which goes first (on,
    off; off, on; ...), so neither always follows the warm-up or the other's bookkeeping;
    the process's CPU seconds in each arm (every thread: the ledger's workers and the
    simulator's loop included; far less sensitive than latency to other load on the
    machine); the notifier's seconds to fan out the events of the `on` orders (fills
    included) to three channels; how many notifications went out."""
    os.environ.update({"QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME,
                       "QUARTZ_RATE_LIMIT_PER_S": "100000", "QUARTZ_SIM_RATE_LIMIT_PER_S": "0",
                       "QUARTZ_SIM_STARTING_CASH": "100000000000"})
    from quartz_cli.agents.notifier import Notifier, Route
    from quartz_cli.app.events import event_log
    from quartz_cli.app.runtime import open_runtime, trading_agent
    from quartz_cli.config import load_config
    from quartz_cli.domain.universe import bundled_universe

    config = load_config()
    on: list[float] = []
    off: list[float] = []
    fan_out_s = 0.0
    cpu_s = {True: 0.0, False: 0.0}
    gate = asyncio.Semaphore(concurrency)
    log = event_log(config)
    channels = [_MemoryChannel(name) for name in ("a", "b", "c")]
    notifier = Notifier(log, [Route(c, frozenset({"order.*"}), "en") for c in channels],
                        backlog_limit=1_000_000)
    saved: dict[str, object] = {}
    async with open_runtime(config) as rt:
        agent = trading_agent(rt)
        await notifier.deliver()  # first start: cursors at the end of the log
        # One untimed order per ticker first (the simulator builds a ticker's price path on
        # its first order): without it the first timed arm pays for every ticker.
        warm = requests(len(bundled_universe().codes()), "warm-events")
        await asyncio.gather(*(agent.submit(r) for r in warm))
        await agent.refresh()
        await notifier.deliver()

        async def one(req, into: list[float]) -> None:
            async with gate:
                t0 = time.perf_counter()
                out = await agent.submit(req)
                into.append(time.perf_counter() - t0)
                if not out.booked:
                    raise SystemExit(f"{req.request_id}: {out.state.value} {out.message}")

        async def arm(events: bool, tag: str) -> None:
            nonlocal fan_out_s
            agent.ledger.record_events = events
            _metrics_on(events, saved)
            cpu0 = time.process_time()
            await asyncio.gather(*(one(q, on if events else off)
                                   for q in requests(n // rounds, tag)))
            cpu_s[events] += time.process_time() - cpu0
            await agent.refresh()  # untimed, after either arm: the fills
            if events:
                t0 = time.perf_counter()
                await notifier.deliver()
                fan_out_s += time.perf_counter() - t0

        for r in range(rounds):
            for events in ((True, False) if r % 2 == 0 else (False, True)):
                await arm(events, f"{'on' if events else 'off'}{r}")
    agent.ledger.record_events = True
    _metrics_on(True, saved)
    log.close()
    return on, off, cpu_s, fan_out_s, sum(len(c.messages) for c in channels)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=400)
    ap.add_argument("--limited-orders", type=int, default=180)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--events", action="store_true",
                    help="also measure the event log and notification fan-out per order")
    ap.add_argument("--only-events", action="store_true",
                    help="with --events: skip the other measurements")
    ap.add_argument("--rounds", type=int, default=4,
                    help="with --events: rounds of on/off arms (even: each arm first as often)")
    args = ap.parse_args()
    if args.only_events:
        with tempfile.TemporaryDirectory(prefix="quartz-bench-") as tmp:
            report_events(Path(tmp), args)
        return

    with tempfile.TemporaryDirectory(prefix="quartz-bench-") as tmp:
        root = Path(tmp)
        from quartz_cli.calendars import krx_calendar

        krx_calendar(root / "shared-cache")
        homes = {}
        for name in ("direct", "open", "limited"):
            homes[name] = root / name
            (homes[name] / "cache").mkdir(parents=True)
            for f in (root / "shared-cache").glob("xkrx-*.json"):
                (homes[name] / "cache" / f.name).write_bytes(f.read_bytes())

        ref_s = asyncio.run(direct(homes["direct"], args.orders, args.concurrency))
        ref_rate = args.orders / ref_s

        port = free_port()
        proc = serve(homes["open"], port, {"QUARTZ_SIM_RATE_LIMIT_PER_S": "0",
                                           "QUARTZ_RATE_LIMIT_PER_S": "100000"})
        try:
            took, lat = asyncio.run(through_server(port, args.orders, "open", args.concurrency))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        rate = args.orders / took

        port = free_port()
        proc = serve(homes["limited"], port, {"QUARTZ_SIM_RATE_LIMIT_PER_S": "18",
                                              "QUARTZ_RATE_LIMIT_PER_S": "18"})
        try:
            took_l, lat_l = asyncio.run(through_server(port, args.limited_orders, "limited",
                                                       args.concurrency))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        from quartz_cli.sim import SimState

        counters = SimState(homes["limited"] / "sim" / "local.db").counters()
        rate_l = args.limited_orders / took_l
        (root / "owner" / "cache").mkdir(parents=True)
        for f in (root / "shared-cache").glob("xkrx-*.json"):
            (root / "owner" / "cache" / f.name).write_bytes(f.read_bytes())
        owned, bare = asyncio.run(owner_vs_agent(root / "owner", args.orders,
                                                 args.concurrency))

    print("orders through the trading WebSocket server (simulator, SYNTHETIC market)")
    print(f"  reference: straight to the simulator, no server/ledger: {ref_rate:8.1f} orders/s")
    print(f"  rate limit off: {args.orders} orders, concurrency {args.concurrency}: "
          f"{rate:8.1f} orders/s ({rate / ref_rate:.2f} x reference), "
          f"p50 {statistics.median(lat) * 1000:.1f} ms, p99 {pct(lat, 0.99) * 1000:.1f} ms")
    print(f"  real-account limit 18/s: {args.limited_orders} orders: {rate_l:.2f} orders/s = "
          f"{rate_l / 18:.2f} of the limit, EGW00201 refusals {counters.get('rate_limited', 0)}, "
          f"p50 {statistics.median(lat_l) * 1000:.0f} ms, p99 {pct(lat_l, 0.99) * 1000:.0f} ms")
    served = {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("served:")}
    print(f"    broker calls served during that run, by TR_ID: {served}")
    p50o, p99o = statistics.median(owned) * 1000, pct(owned, 0.99) * 1000
    p50a, p99a = statistics.median(bare) * 1000, pct(bare, 0.99) * 1000
    print(f"  pre-trade stage, in-process, {len(owned)} orders each, concurrency "
          f"{args.concurrency}: through the owner p50 {p50o:.1f} ms, p99 {p99o:.1f} ms; "
          f"straight to the trading agent p50 {p50a:.1f} ms, p99 {p99a:.1f} ms; "
          f"the stage adds p50 {p50o - p50a:+.1f} ms, p99 {p99o - p99a:+.1f} ms")
    if args.events:
        with tempfile.TemporaryDirectory(prefix="quartz-bench-") as tmp:
            report_events(Path(tmp), args)


def report_events(root: Path, args: argparse.Namespace) -> None:
    """Measure and print the event log's cost per order (`--events`)."""
    from quartz_cli.calendars import krx_calendar

    krx_calendar(root / "events" / "cache")
    on, off, cpu_s, fan_out_s, sent = asyncio.run(events_on_vs_off(root / "events", args.orders,
                                                             args.concurrency, args.rounds))
    p99_on, p99_off = pct(on, 0.99) * 1000, pct(off, 0.99) * 1000
    p50_on, p50_off = statistics.median(on) * 1000, statistics.median(off) * 1000
    print(f"  event log, in-process through the trading agent, {len(on)} orders each, "
          f"concurrency {args.concurrency}, {args.rounds} rounds: events+metrics on p50 "
          f"{p50_on:.1f} ms, p99 {p99_on:.1f} ms; off p50 {p50_off:.1f} ms, p99 {p99_off:.1f} ms; "
          f"p50 growth {(p50_on / p50_off - 1) * 100:+.1f} %, p99 growth "
          f"{(p99_on / p99_off - 1) * 100:+.1f} % (goal <= 5 %)")
    cpu_on, cpu_off = cpu_s[True] / len(on) * 1000, cpu_s[False] / len(off) * 1000
    print(f"  process CPU per order: events+metrics on {cpu_on:.2f} ms, off {cpu_off:.2f} ms "
          f"({(cpu_on / cpu_off - 1) * 100:+.1f} %)")
    print(f"  notification fan-out: {fan_out_s / len(on) * 1000:.2f} ms of notifier time per "
          f"order ({sent} messages to 3 in-memory channels)")


if __name__ == "__main__":
    main()
