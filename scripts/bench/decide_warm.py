"""`quartz decide --dry-run` cold and then warm over the bar store, against the simulator on
loopback at the real account's rate limit (18 requests/s), for the bundled universe's first
N tickers (30 by default; the simulator knows 71).

Cold: a fresh home, so every ticker's daily bars are fetched (the chart pages of ~400 days).
Warm: the same home a few seconds later, so the bars come from the store and each ticker
costs its quote only (on the paper protocol `local` speaks, one `inquire-price` each; on a
real account, 30 tickers a call). For each run it prints the broker requests, requests per
ticker, the wall time, and the ratio of the broker phase to its floor (requests ÷ limit),
measured at the simulator. The floor is the reference: the least time the limit allows for
the same requests.

    .venv/bin/python scripts/bench/decide_warm.py [tickers]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import decide as base


def run_decide(env: dict[str, str], sim, stamps) -> tuple[float, int, int, float, float]:
    """(wall s, requests, EGW00201, broker phase s, peak RSS MB) of one decide."""
    time.sleep(1.1)  # let the limiter's window empty before each measurement
    c0 = sim.state.counters()
    stamps.times.clear()
    t0 = time.perf_counter()
    proc = subprocess.Popen([base.QUARTZ, "decide", "--dry-run", "--json"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("quartz decide failed")
    c1 = sim.state.counters()
    times = list(stamps.times)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return (wall, c1.get("requests", 0) - c0.get("requests", 0),
            c1.get("rate_limited", 0) - c0.get("rate_limited", 0), span,
            usage.ru_maxrss / 1024)


def main(tickers: int = 30) -> None:
    base.TICKERS = tickers
    with tempfile.TemporaryDirectory() as home:
        port = base.free_port()
        env = {**os.environ, "QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": base.MARKET_TIME,
               "QUARTZ_KIS_BASE_URL": f"http://127.0.0.1:{port}"}
        sim, stamps, server, thread = base.serve_simulator(home, port)
        try:
            subprocess.run([base.QUARTZ, "auth", "refresh"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([base.QUARTZ, "macro", "run", "--json"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base.seed_candidates(env)
            cold = run_decide(env, sim, stamps)
            warm = run_decide(env, sim, stamps)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    print(f"tickers: {tickers}, limit {base.LIMIT:g}/s, simulator on loopback")
    for name, (wall, requests, limited, span, rss) in (("cold", cold), ("warm", warm)):
        floor = requests / base.LIMIT
        print(f"{name}: {requests:5d} requests = {requests / tickers:5.2f}/ticker, "
              f"wall {wall:6.2f} s, broker phase {span:6.2f} s = "
              f"{span / floor if floor else float('nan'):4.2f}x its floor ({floor:5.2f} s), "
              f"{limited} EGW00201, peak RSS {rss:5.1f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
