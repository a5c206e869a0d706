"""`quartz backtest`'s time per simulated session, as a ratio to one warm
`quartz decide --dry-run` over the same universe, both measured in this run (synthetic market,
simulator on loopback at the real account's rate limit).

The backtest is stepped in-process over `sessions` sessions (the bar panel is loaded first
and timed apart); the decide is the console script, warm (its bars already in the store).
The issue's goal is a ratio of at most 0.1 (a year over 30 tickers and over the whole
universe).

    .venv/bin/python scripts/bench/backtest.py [tickers] [sessions]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import decide as base
import decide_warm as warm
import seeding


def backtest_per_session(home: str, tickers: int, sessions: int) -> tuple[float, float, int]:
    """(panel load s, mean s per session, sessions run) of an in-process backtest ending
    the session before the benchmark's market time."""
    os.environ["QUARTZ_HOME"] = home
    os.environ["QUARTZ_MARKET_TIME"] = base.MARKET_TIME
    from quartz_cli.agents.selection import selection_universe
    from quartz_cli.app.backtest import default_settings, open_backtest
    from quartz_cli.config import load_config

    cfg = load_config("local")
    codes = tuple(selection_universe(Path(home)).codes()[:tickers])
    end = cfg.market_now().date() - timedelta(days=1)
    start = end - timedelta(days=int(sessions * 7 / 5))
    t0 = time.perf_counter()
    bt, _, _ = open_backtest(cfg, default_settings(cfg, start=start, end=end, universe=codes))
    load = time.perf_counter() - t0
    days = bt.remaining()

    async def drive() -> None:
        for d in days:
            await bt.step(d)

    t0 = time.perf_counter()
    asyncio.run(drive())
    return load, (time.perf_counter() - t0) / max(len(days), 1), len(days)


def main(tickers: int = 30, sessions: int = 250) -> None:
    with tempfile.TemporaryDirectory() as home:
        port = base.free_port()
        env = {**os.environ, "QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": base.MARKET_TIME,
               "QUARTZ_KIS_BASE_URL": f"http://127.0.0.1:{port}"}
        warm.write_universe(home, tickers)
        sim, stamps, server, thread = warm.serve_simulator(home, port)
        try:
            subprocess.run([base.QUARTZ, "auth", "refresh"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([base.QUARTZ, "macro", "run", "--json"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seeding.seed_candidates(env, tickers, "master")
            warm.run_decide(env, sim, stamps)  # cold: fills the bar store
            decide_s = warm.run_decide(env, sim, stamps)[0]
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        load, per_session, ran = backtest_per_session(home, tickers, sessions)
    print(f"tickers: {tickers}, sessions: {ran} (synthetic market)")
    print(f"warm decide --dry-run: {decide_s:6.2f} s (console script, reference)")
    print(f"backtest: panel load {load:6.2f} s, {per_session * 1000:7.1f} ms per session = "
          f"{per_session / decide_s:5.3f}x the warm decide (goal <= 0.1x)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
