"""Benchmark: how soon a fill reaches the trading agent's ledger, on loopback.

The simulator (REST and its `/tryitout` WebSocket) runs in a thread on a loopback port; the
trading agent sends market orders one at a time, each filled by the simulator as it books it.

1. real-time: the fill-notice listener is running; latency = from the simulator booking the
   fill (its audit row's time) to the ledger holding it (goal: p99 within 100 ms);
2. reference, same run: notices off, the agent asks the order inquiry (`refresh()`) right
   after each order's answer; latency = from the booking to the ledger holding the fill.

Both clocks are the one market clock of this process, so the figures are comparable.

    .venv/bin/python scripts/bench/fill_notices.py [--orders 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

MARKET_TIME = "2026-11-24T10:00:00+09:00"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_in_thread(app: object, port: int) -> object:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", ws_ping_interval=None))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the simulator did not start")
        time.sleep(0.01)
    return server


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(n: int) -> tuple[list[float], list[float]]:
    from quartz_cli.app.notices import fill_notices
    from quartz_cli.app.runtime import open_runtime, trading_agent
    from quartz_cli.config import load_config
    from quartz_cli.domain.orders import OrderRequest, OrderState
    from quartz_cli.domain.universe import bundled_universe
    from quartz_cli.sim import SimConfig, SimState, Simulator
    from quartz_cli.sim.exchange import exchange_for

    config = load_config()
    sim = Simulator(SimState(config.home / "sim" / "bench.db"),
                    SimConfig(rate_limit_per_s=0, starting_cash=1e12),
                    clock=lambda: config.market_now().timestamp(), cache_dir=config.home / "cache")
    port = free_port()
    server = serve_in_thread(sim.app, port)
    os.environ["QUARTZ_KIS_BASE_URL"] = f"http://127.0.0.1:{port}"
    os.environ["QUARTZ_KIS_WS_URL"] = f"ws://127.0.0.1:{port}"
    config = load_config()
    codes = bundled_universe().codes()
    offset = config.market_now().timestamp() - time.monotonic()
    exchange = exchange_for(sim)

    def fill_at(order_no: str) -> float:
        row = next(a for a in exchange.audit() if a["event"] == "filled" and a["odno"] == order_no)
        return float(row["at"])

    def request(tag: str, i: int) -> OrderRequest:
        return OrderRequest(request_id=f"bench-{tag}-{i}", action="buy",
                            ticker=codes[i % len(codes)], qty=1, timestamp=datetime.now(UTC))

    realtime: list[float] = []
    rt = open_runtime(config)
    agent = trading_agent(rt)
    notices = fill_notices(rt, agent)
    assert notices is not None
    listener = asyncio.create_task(notices.run())
    for _ in range(3000):
        if notices.counts.reconciliations >= 1:
            break
        await asyncio.sleep(0.01)
    for i in range(n):
        out = await agent.submit(request("rt", i))
        assert out.order_no, out.message
        while True:
            entry = await asyncio.to_thread(agent.ledger.get, out.request_id)
            if entry is not None and entry.state is OrderState.FILLED:
                break
            await asyncio.sleep(0.001)
        rid, _, applied = notices.applied[-1]
        assert rid == out.request_id
        realtime.append(applied + offset - fill_at(out.order_no))
    listener.cancel()
    await asyncio.gather(listener, return_exceptions=True)

    polled: list[float] = []
    for i in range(n):
        out = await agent.submit(request("poll", i))
        assert out.order_no, out.message
        await agent.refresh()
        entry = await asyncio.to_thread(agent.ledger.get, out.request_id)
        assert entry is not None and entry.state is OrderState.FILLED
        polled.append(config.market_now().timestamp() - fill_at(out.order_no))
    await rt.aclose()
    server.should_exit = True  # type: ignore[attr-defined]
    return realtime, polled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        for key in [k for k in os.environ if k.startswith(("QUARTZ_", "HANSEC_"))]:
            del os.environ[key]
        os.environ.update({"QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": MARKET_TIME,
                           "QUARTZ_RATE_LIMIT_PER_S": "100000"})
        Path(home, "sim").mkdir()
        realtime, polled = asyncio.run(run(args.orders))
    ms = 1000.0
    print(f"fill → ledger over {args.orders} orders each way (loopback, simulator booking to "
          "ledger write)")
    print(f"  real-time notice   p50 {pct(realtime, .5) * ms:7.2f} ms   "
          f"p99 {pct(realtime, .99) * ms:7.2f} ms   mean {statistics.mean(realtime) * ms:.2f} ms")
    print(f"  inquiry right away p50 {pct(polled, .5) * ms:7.2f} ms   "
          f"p99 {pct(polled, .99) * ms:7.2f} ms   (reference: a refresh after each answer)")
    print(f"  ratio real-time/reference p50 {pct(realtime, .5) / pct(polled, .5):.2f}")
    goal = pct(realtime, .99) <= 0.100
    print(f"  goal p99 <= 100 ms: {'met' if goal else 'MISSED'}")
    sys.exit(0 if goal else 1)


if __name__ == "__main__":
    main()
