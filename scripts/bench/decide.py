"""`quartz decide --dry-run` over a 30-ticker universe against the simulator on loopback with
the real account's rate limit (18 requests/s).

Prints the wall time, the broker requests the run made, requests/s as a fraction of the limit
(goal ≥ 0.9, with zero EGW00201), and the decide process's peak RSS (goal < 256 MB). The
request rate is measured where the limit applies, at the simulator: the steady rate from the
first request's arrival to the last (see `arrival_rate`); the process's start-up and rendering
are reported apart. The reference, measured in the same run against the same simulator, is a
bare burst of `inquire-price` calls through the same client and limiter. The candidates document
is seeded (30 tickers); macro is produced beforehand so the timed run's broker work is the
balance, the technical state (daily bars) and the quotes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import seeding

BIN = Path(sys.executable).parent
QUARTZ = str(BIN / "quartz")
LIMIT = 18.0
TICKERS = 30
MARKET_TIME = "2026-11-24T10:00:00+09:00"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_candidates(env: dict[str, str]) -> list[str]:
    """Publish a candidates document naming TICKERS codes of the bundled universe."""
    return seeding.seed_candidates(env, TICKERS, "bundled")


def arrival_rate(times: list[float]) -> float:
    """The sustained request rate at the simulator: the least-squares slope of arrival count
    over arrival time, which neither a first burst nor an even pacing can flatter."""
    if len(times) <= LIMIT or times[-1] <= times[0]:
        return 0.0
    t = np.asarray(times) - times[0]
    n = np.arange(len(t), dtype=float)
    return float(np.polyfit(t, n, 1)[0])


def reference_burst(env: dict[str, str], tickers: list[str], calls: int) -> None:
    """A bare burst of inquire-price calls through the same client and limiter."""
    code = f"""
import asyncio
from quartz_cli.config import load_config
from quartz_cli.kis.quotations import inquire_price
from quartz_cli.app.runtime import open_runtime
tickers = {tickers!r}
async def main():
    async with open_runtime(load_config()) as rt:
        await rt.tokens.token()
        sem = asyncio.Semaphore(8)
        async def one(i):
            async with sem:
                await inquire_price(rt.kis, tickers[i % len(tickers)])
        await asyncio.gather(*(one(i) for i in range({calls})))
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"reference failed: {out.stderr[-1500:]}")


class ArrivalStamps:
    """ASGI wrapper that notes when each /uapi request reaches the simulator."""

    def __init__(self, app) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/uapi"):
            self.times.append(time.monotonic())
        await self.app(scope, receive, send)


def serve_simulator(home: str, port: int, *, real: bool = False, every_listing: bool = False):
    """The simulator on loopback in a thread of this process (so arrivals can be stamped),
    with the real account's limit and the benchmark's market clock; on the real account's
    protocol when `real`, with a market for every listing of its master files when
    `every_listing`."""
    import threading

    import uvicorn

    from quartz_cli.config import load_config
    from quartz_cli.sim import SimConfig, SimState, Simulator

    cfg = load_config(environ={"QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": MARKET_TIME})
    extra = {}
    if every_listing:
        from quartz_cli.agents.selection import selection_universe

        extra["universe"] = lambda: selection_universe(Path(home))
    sim = Simulator(SimState(Path(home) / "sim" / "local.db"),
                    SimConfig(rate_limit_per_s=LIMIT, real_tr_ids=real),
                    clock=lambda: cfg.market_now().timestamp(), cache_dir=Path(home) / "cache",
                    **extra)
    stamps = ArrivalStamps(sim.app)
    server = uvicorn.Server(uvicorn.Config(stamps, host="127.0.0.1", port=port,
                                          log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the simulator did not start")
        time.sleep(0.05)
    return sim, stamps, server, thread


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        env = {**os.environ, "QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": MARKET_TIME,
               "QUARTZ_KIS_BASE_URL": f"http://127.0.0.1:{port}"}
        sim, stamps, server, thread = serve_simulator(home, port)
        try:
            subprocess.run([QUARTZ, "auth", "refresh"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([QUARTZ, "macro", "run", "--json"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            tickers = seed_candidates(env)
            time.sleep(1.1)  # let the limiter's window empty before each measurement
            c0 = sim.state.counters()
            stamps.times.clear()
            t0 = time.perf_counter()
            proc = subprocess.Popen([QUARTZ, "decide", "--dry-run", "--json"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            out = proc.stdout.read() if proc.stdout else b""
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit("quartz decide failed")
            c1 = sim.state.counters()
            arrivals = list(stamps.times)
            time.sleep(1.1)
            # After decide, so both see a warm simulator (its sample market caches paths);
            # measured the same way, from arrivals at the simulator.
            stamps.times.clear()
            reference_burst(env, tickers, 90)
            ref = arrival_rate(stamps.times)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    plan = json.loads(out)
    requests = c1.get("requests", 0) - c0.get("requests", 0)
    limited = c1.get("rate_limited", 0) - c0.get("rate_limited", 0)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
    rate = arrival_rate(arrivals)
    rss = usage.ru_maxrss / 1024
    print(f"universe                 : {len(plan['inputs']['candidates'])} candidates, "
          f"{len(plan['orders'])} orders planned")
    print(f"reference burst          : {ref:6.2f} req/s = {ref / LIMIT:.2f} of the {LIMIT:g}/s "
          "limit (90 inquire-price calls through the same client and limiter)")
    print(f"decide --dry-run         : {wall:6.2f} s wall (process start to exit), "
          f"{requests} broker requests")
    print(f"broker phase             : {span:6.2f} s from the first to the last request")
    print(f"decide request rate      : {rate:6.2f} req/s = {rate / LIMIT:.2f} of the limit "
          f"(goal >= 0.9), {rate / ref:.2f} of the reference")
    print(f"over the whole process   : {requests / wall:6.2f} req/s = "
          f"{requests / wall / LIMIT:.2f} of the limit (start-up and rendering included)")
    print(f"EGW00201 (rate limited)  : {limited} (goal 0)")
    print(f"peak RSS                 : {rss:6.1f} MB (goal < 256 MB)")


if __name__ == "__main__":
    main()
