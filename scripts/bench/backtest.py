"""`quartz backtest`'s time per simulated session, as a ratio to one warm
`quartz decide --dry-run` over the same universe, both measured in this run (synthetic
market; the simulator on loopback at the real account's rate limit, real protocol).

For each size (default: 30 tickers, then the whole universe, `all`: the simulator's master
files, 2,800 listings) a fresh home gets the master files (`quartz select universe`), a
macro summary and a candidates document naming N listings (the local account's holdings
among them: decide analyses candidates and holdings, N in all); decide runs cold (fills the
bar store), then warm: the reference. The backtest then steps in-process over `--sessions`
sessions ending the day before the market time, its universe the same N tickers (loading
its bar panel and the KOSPI benchmark is timed apart). The issue's goal is a ratio of at
most 0.1 (a year, 250 sessions, over 30 tickers and over the whole universe).

    .venv/bin/python scripts/bench/backtest.py [--sizes 30,all] [--sessions 250]
    .venv/bin/python scripts/bench/backtest.py --small     # 10 tickers, 5 sessions
"""

from __future__ import annotations

import argparse
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


def universe_size(home: str) -> int:
    from quartz_cli.agents.selection import selection_universe

    return len(selection_universe(Path(home)))


def seeded_codes(home: str, n: int) -> tuple[str, ...]:
    """The N codes the seeded candidates document and the holdings name (as
    `seeding.seed_candidates(..., "master")` names them)."""
    from quartz_cli.agents.selection import selection_universe
    from quartz_cli.sim.exchange import SEED_POSITIONS

    universe = selection_universe(Path(home))
    held = [universe.require(code) for code, _, _ in SEED_POSITIONS]
    return tuple(x.code for x in list(dict.fromkeys(held + list(universe.listings)))[:n])


def backtest_per_session(home: str, codes: tuple[str, ...], sessions: int
                         ) -> tuple[float, float, int]:
    """(panel and benchmark load s, mean s per session, sessions run) of an in-process
    backtest over `codes` ending the session before the market time."""
    os.environ["QUARTZ_HOME"] = home
    os.environ["QUARTZ_MARKET_TIME"] = base.MARKET_TIME
    from quartz_cli.app.backtest import default_settings, open_backtest
    from quartz_cli.calendars import krx_calendar
    from quartz_cli.config import load_config

    cfg = load_config("local")
    end = cfg.market_now().date() - timedelta(days=1)
    known = krx_calendar(Path(home) / "cache").between(end - timedelta(days=sessions * 2), end)
    start = known[-sessions]
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


def one_size(size: str, sessions: int) -> tuple[int, float, float, float, int]:
    """(tickers, warm decide s, backtest load s, backtest s per session, sessions)."""
    with tempfile.TemporaryDirectory() as home:
        port = base.free_port()
        env = {**os.environ, "QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": base.MARKET_TIME,
               "QUARTZ_KIS_BASE_URL": f"http://127.0.0.1:{port}",
               "QUARTZ_SIM_REAL_TR_IDS": "true"}
        sim, stamps, server, thread = base.serve_simulator(home, port, real=True,
                                                           every_listing=True)
        try:
            subprocess.run([base.QUARTZ, "select", "universe"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            n = universe_size(home) if size == "all" else int(size)
            for args in (["auth", "refresh"], ["macro", "run", "--json"]):
                subprocess.run([base.QUARTZ, *args], env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seeding.seed_candidates(env, n, "master")
            warm.run_decide(env, sim, stamps)  # cold: fills the bar store
            decide_s = warm.run_decide(env, sim, stamps).wall
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        load, per_session, ran = backtest_per_session(home, seeded_codes(home, n), sessions)
    return n, decide_s, load, per_session, ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="30,all",
                        help="comma-separated ticker counts, `all` for the whole universe")
    parser.add_argument("--sessions", type=int, default=250, help="sessions (a year: 250)")
    parser.add_argument("--small", action="store_true",
                        help="a quick check: 10 tickers, 5 sessions")
    args = parser.parse_args()
    sizes, sessions = (["10"], 5) if args.small else (args.sizes.split(","), args.sessions)
    missed = []
    for size in sizes:
        n, decide_s, load, per_session, ran = one_size(size.strip(), sessions)
        ratio = per_session / decide_s
        print(f"== {n} tickers, {ran} sessions (synthetic market)")
        print(f"warm decide --dry-run: {decide_s:7.2f} s (console script, the reference)")
        print(f"backtest: load {load:6.2f} s (bar panel, KOSPI benchmark), "
              f"{per_session * 1000:8.1f} ms per session = {ratio:6.3f}x the warm decide "
              "(goal <= 0.1x)")
        if ratio > 0.1:
            missed.append(f"{n} tickers: {ratio:.3f}x")
    print("goals met" if not missed else "goals missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
