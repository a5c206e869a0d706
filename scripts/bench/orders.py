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
4. with `--events`: what the event log, metrics and notification fan-out cost per order:
   the ledger's moves of an order alone with events and metrics on and off (CPU per order)
   and the relay of its outbox into the log (per event); the same orders in-process through
   the trading agent with the ledger's events and the metrics on, and with both off, after
   one untimed order per ticker, in rounds whose arms alternate which goes first (p50/p99 of
   each and the p99 growth, goal <= 5 %; the median of each round's p99 ratio; CPU per
   order), and the notifier's time per order to relay the events and fan them out to three
   in-memory channels and the store's archive of the log, as the trading agent's notifier
   does (it reads the log from its own cursors, off the order path).

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
                           ) -> tuple[list[float], list[float], dict[bool, float], list[float],
                                      float, int]:
    """Latencies of `n` orders through the trading agent with the event log and metrics on
    and of `n` with both off, in `rounds` rounds whose arms alternate which goes first (on,
    off; off, on; ...), so neither always follows the warm-up or the other's bookkeeping;
    the process's CPU seconds in each arm (every thread: the ledger's workers and the
    simulator's loop included; far less sensitive than latency to other load on the
    machine); each round's p99 on / p99 off (two arms next to each other in time: a drift in
    the machine's load cancels out); the notifier's seconds to fan out the events of the
    `on` orders (fills included) to three channels and the store's archive; how many
    notifications went out."""
    os.environ.update({"QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME,
                       "QUARTZ_RATE_LIMIT_PER_S": "100000", "QUARTZ_SIM_RATE_LIMIT_PER_S": "0",
                       "QUARTZ_SIM_STARTING_CASH": "100000000000"})
    from quartz_cli.agents.notifier import Notifier, Route
    from quartz_cli.app.events import event_log
    from quartz_cli.app.runtime import open_runtime, trading_agent
    from quartz_cli.config import load_config
    from quartz_cli.domain.universe import bundled_universe
    from quartz_cli.notify.channels import StoreArchive

    config = load_config()
    on: list[float] = []
    off: list[float] = []
    cpu_s = {True: 0.0, False: 0.0}
    by_round: dict[bool, list[float]] = {True: [], False: []}
    gate = asyncio.Semaphore(concurrency)
    log = event_log(config)
    channels = [_MemoryChannel(name) for name in ("a", "b", "c")]
    notifier = Notifier(log, [Route(c, frozenset({"order.*"}), "en") for c in channels],
                        backlog_limit=1_000_000)
    saved: dict[str, object] = {}
    async with open_runtime(config) as rt:
        agent = trading_agent(rt)
        notifier.routes.append(Route(StoreArchive(rt.store, log.account), frozenset(),
                                     archive=True))
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
            agent.ledger.record_events = events
            _metrics_on(events, saved)
            cpu0 = time.process_time()
            into = on if events else off
            start = len(into)
            await asyncio.gather(*(one(q, into) for q in requests(n // rounds, tag)))
            cpu_s[events] += time.process_time() - cpu0
            by_round[events].append(pct(into[start:], 0.99))
            await agent.refresh()  # untimed, after either arm: the fills

        for r in range(rounds):
            for events in ((True, False) if r % 2 == 0 else (False, True)):
                await arm(events, f"{'on' if events else 'off'}{r}")
        # After the rounds, so that its writes never fall between two arms: the fan-out of
        # every `on` order's events, fills included.
        agent.ledger.record_events = True
        _metrics_on(True, saved)
        t0 = time.perf_counter()
        await notifier.deliver()
        fan_out_s = time.perf_counter() - t0
    log.close()
    paired = [a / b for a, b in zip(by_round[True], by_round[False], strict=True)]
    return on, off, cpu_s, paired, fan_out_s, sum(len(c.messages) for c in channels)


def append_cost(root: Path, n: int, rounds: int) -> tuple[float, float, float]:
    """The event log's own cost, without the broker: this thread's CPU seconds per order for
    the ledger's moves of an order (claimed, sent, accepted) with events and metrics on and
    with both off (arms alternating as in `events_on_vs_off`), and per event for relaying
    the outbox into the log (off the order path: done by the log's readers)."""
    from quartz_cli.domain.orders import OrderState as S
    from quartz_cli.store.event_log import SqliteEventLog
    from quartz_cli.store.order_ledger import SqliteOrderLedger

    ledger = SqliteOrderLedger(root / "append-cost.db")
    log = SqliteEventLog(root / "append-cost.db", "bench")
    cpu_s = {True: 0.0, False: 0.0}
    relay_s, relayed, saved = 0.0, 0, {}
    moves = ((S.RECEIVED, S.SENT, {"attempts": 1}), (S.SENT, S.ACCEPTED, {}))
    for r in range(rounds):
        for events in ((True, False) if r % 2 == 0 else (False, True)):
            ledger.record_events = events
            _metrics_on(events, saved)
            t0 = time.thread_time()
            for i, req in enumerate(requests(n // rounds, f"cost-{events}-{r}")):
                now = datetime.now(UTC)
                ledger.claim(req, "local", now)
                for expected, to, fields in moves:
                    ledger.move(req.request_id, expected, to, now, **fields,
                                **({"order_no": f"{r}{int(events)}{i:08d}"} if to is S.ACCEPTED
                                   else {}))
            cpu_s[events] += time.thread_time() - t0
            if events:
                t0 = time.thread_time()
                relayed += log.relay()
                relay_s += time.thread_time() - t0
    _metrics_on(True, saved)
    ledger.close()
    log.close()
    count = n // rounds * rounds
    return cpu_s[True] / count, cpu_s[False] / count, relay_s / max(1, relayed)


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

    ledger_on, ledger_off, relay = append_cost(root, args.orders, args.rounds)
    print(f"  event append on the order path (the ledger's 3 moves of an order, no broker, "
          f"{args.orders} orders each): CPU per order events+metrics on "
          f"{ledger_on * 1e6:.0f} us, off {ledger_off * 1e6:.0f} us "
          f"({(ledger_on - ledger_off) * 1e6:+.0f} us); relaying the outbox into the log "
          f"(off the order path) {relay * 1e6:.0f} us per event")

    krx_calendar(root / "events" / "cache")
    on, off, cpu_s, paired, fan_out_s, sent = asyncio.run(events_on_vs_off(
        root / "events", args.orders, args.concurrency, args.rounds))
    p99_on, p99_off = pct(on, 0.99) * 1000, pct(off, 0.99) * 1000
    p50_on, p50_off = statistics.median(on) * 1000, statistics.median(off) * 1000
    print(f"  event log, in-process through the trading agent, {len(on)} orders each, "
          f"concurrency {args.concurrency}, {args.rounds} rounds: events+metrics on p50 "
          f"{p50_on:.1f} ms, p99 {p99_on:.1f} ms; off p50 {p50_off:.1f} ms, p99 {p99_off:.1f} ms; "
          f"p50 growth {(p50_on / p50_off - 1) * 100:+.1f} %, p99 growth "
          f"{(p99_on / p99_off - 1) * 100:+.1f} % (goal <= 5 %)")
    print(f"  paired by round (the arms of one round run back to back): median of p99 on / "
          f"p99 off {(statistics.median(paired) - 1) * 100:+.1f} % over {len(paired)} rounds")
    cpu_on, cpu_off = cpu_s[True] / len(on) * 1000, cpu_s[False] / len(off) * 1000
    print(f"  process CPU per order: events+metrics on {cpu_on:.2f} ms, off {cpu_off:.2f} ms "
          f"({(cpu_on / cpu_off - 1) * 100:+.1f} %)")
    print(f"  notification fan-out: {fan_out_s / len(on) * 1000:.2f} ms of notifier time per "
          f"order ({sent} messages to 3 in-memory channels, every event to the store's "
          "archive)")


if __name__ == "__main__":
    main()
