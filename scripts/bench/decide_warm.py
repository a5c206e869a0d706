"""`quartz decide --dry-run` at scale: cold, then warm over the bar store, against the
simulator on loopback at the real account's rate limit (18 requests/s), over 30, 300 and
2,800 tickers (the issue's sizes; any list can be given).

The run speaks the real account's protocol (QUARTZ_SIM_REAL_TR_IDS: real TR_IDs, so quotes
go 30 tickers a call through `intstock-multprice`), unless `--paper` (one `inquire-price` per
ticker). Each size starts from a fresh home whose universe is the simulator's master files,
downloaded as KIS serves them (`quartz select universe`: 2,800 listings); the candidates
document names N listings, the local account's holdings among them (decide analyses
candidates and holdings: N tickers in all).

Cold: every ticker's daily bars are fetched (the chart pages of ~400 days). Warm: the same
home a few seconds later: the bars come from the store, so each ticker costs its share of a
quote call. For each run it prints the broker requests (requests per ticker, chart pages and
quote calls as served by the simulator), the wall time and the broker phase with their ratio
to the floor (requests ÷ limit: the least time the limit allows for the same requests, the
reference), EGW00201 answers and the decide process's peak RSS, then the goals:
warm 2,800 ≤ 120 requests and ≤ 1.5× floor; cold ≤ 1.05 × (needed chart pages + quote
calls + 2 account calls); 0 EGW00201; peak RSS at 2,800 ≤ 250 MiB; warm 30 ≤ 3 requests.

    .venv/bin/python scripts/bench/decide_warm.py [N ...] [--paper]   (default: 30)
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import decide as base
import seeding

CHART_TR = "FHKST03010100"
QUOTE_TR = "FHKST01010100"
MULTI_TR = "FHKST11300006"
BATCH = 30
CHART_ROWS = 100
DEPTH_DAYS = 400  # the bar store's history depth (store/bars.py)


@dataclass
class Run:
    """One decide as the simulator and the OS saw it."""

    wall: float
    requests: int
    limited: int
    span: float
    rss_mib: float
    charts: int
    quotes: int

    @property
    def floor(self) -> float:
        return self.requests / base.LIMIT


def run_decide(env: dict[str, str], sim, stamps) -> Run:
    time.sleep(1.1)  # let the limiter's window empty before each measurement
    c0 = sim.state.counters()
    stamps.times.clear()
    t0 = time.perf_counter()
    proc = subprocess.Popen([base.QUARTZ, "decide", "--dry-run", "--json"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"quartz decide failed: {err.decode()[-1500:]}")
    c1 = sim.state.counters()

    def delta(name: str) -> int:
        return c1.get(name, 0) - c0.get(name, 0)

    times = list(stamps.times)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    quotes = delta(f"served:{QUOTE_TR}") + delta(f"served:{MULTI_TR}")
    return Run(wall, delta("requests"), delta("rate_limited"), span,
               usage.ru_maxrss / 1024, delta(f"served:{CHART_TR}"), quotes)


def pages_needed(home: str) -> int:
    """Chart pages one ticker's history needs at least: the sessions of the bar store's
    depth, 100 rows a page."""
    from quartz_cli.calendars import krx_calendar
    from quartz_cli.config import load_config

    cfg = load_config(environ={"QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": base.MARKET_TIME})
    today = cfg.market_now().date()
    sessions = krx_calendar(Path(home) / "cache").between(today - timedelta(days=DEPTH_DAYS),
                                                          today)
    return math.ceil(len(sessions) / CHART_ROWS)


def one_size(tickers: int, real: bool) -> tuple[Run, Run, int]:
    with tempfile.TemporaryDirectory() as home:
        port = base.free_port()
        env = {**os.environ, "QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": base.MARKET_TIME,
               "QUARTZ_KIS_BASE_URL": f"http://127.0.0.1:{port}",
               "QUARTZ_SIM_REAL_TR_IDS": "true" if real else "false"}
        sim, stamps, server, thread = base.serve_simulator(home, port, real=real,
                                                           every_listing=True)
        try:
            subprocess.run([base.QUARTZ, "select", "universe"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([base.QUARTZ, "auth", "refresh"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([base.QUARTZ, "macro", "run", "--json"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seeding.seed_candidates(env, tickers, "master")
            cold = run_decide(env, sim, stamps)
            warm = run_decide(env, sim, stamps)
            pages = pages_needed(home)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    return cold, warm, pages


def report(tickers: int, real: bool, cold: Run, warm: Run, pages: int) -> list[str]:
    """Print both runs; return the goals missed."""
    per_call = BATCH if real else 1
    print(f"== {tickers} tickers, {'real' if real else 'paper'} protocol, limit "
          f"{base.LIMIT:g}/s, simulator on loopback")
    for name, r in (("cold", cold), ("warm", warm)):
        print(f"{name}: {r.requests:6d} requests = {r.requests / tickers:5.2f}/ticker "
              f"({r.charts} chart pages, {r.quotes} quote calls), wall {r.wall:7.2f} s = "
              f"{r.wall / r.floor:4.2f}x floor, broker phase {r.span:7.2f} s = "
              f"{r.span / r.floor:4.2f}x floor (floor {r.floor:6.2f} s), {r.limited} EGW00201, "
              f"peak RSS {r.rss_mib:5.1f} MiB")
    quote_calls = math.ceil(tickers / per_call)
    need = tickers * pages + quote_calls + 2
    print(f"cold requests / needed ({pages} chart pages per ticker + {quote_calls} quote "
          f"calls + 2 account calls = {need}): {cold.requests / need:4.2f} (goal <= 1.05)")
    missed = []
    if cold.requests > 1.05 * need:
        missed.append(f"{tickers} cold: {cold.requests} requests > 1.05 x {need}")
    for name, r in (("cold", cold), ("warm", warm)):
        if r.limited:
            missed.append(f"{tickers} {name}: {r.limited} EGW00201")
    if tickers >= 2800:
        if warm.requests > 120 or warm.wall > 1.5 * warm.floor:
            missed.append(f"{tickers} warm: {warm.requests} requests, "
                          f"{warm.wall / warm.floor:.2f}x floor (goal <= 120, <= 1.5x)")
        if max(cold.rss_mib, warm.rss_mib) > 250:
            missed.append(f"{tickers}: peak RSS {max(cold.rss_mib, warm.rss_mib):.0f} MiB "
                          "(goal <= 250)")
    if tickers <= 30 and warm.requests > 3:
        missed.append(f"{tickers} warm: {warm.requests} requests (goal <= 3)")
    return missed


def main(argv: list[str]) -> None:
    real = "--paper" not in argv
    sizes = [int(a) for a in argv if not a.startswith("--")] or [30]
    missed = []
    for n in sizes:
        cold, warm, pages = one_size(n, real)
        missed += report(n, real, cold, warm, pages)
    print("goals: " + ("all met" if not missed else "missed: " + "; ".join(missed)))


if __name__ == "__main__":
    main(sys.argv[1:])
