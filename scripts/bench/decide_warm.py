"""`quartz decide --dry-run` cold and then warm over the bar store, against the simulator on
loopback at the real account's rate limit (18 requests/s), for N tickers (30 by default;
300 and 2800 are the issue's sizes).

Above the 71 bundled listings, a deterministic synthetic universe of N listings is written
to the home's `universe.csv` (as `quartz select universe` writes the master files' listings)
and the simulator serves a market for each.

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


SEED = """
from quartz_cli.config import load_config
from quartz_cli.domain.candidates import Candidate, CandidatesDocument, ScoreComponents
from quartz_cli.domain.documents import utcnow
from quartz_cli.agents.selection import selection_universe
from quartz_cli.app.runtime import open_store
from quartz_cli.agents.documents import publish
cfg = load_config()
listings = selection_universe(cfg.home).listings[:{n}]
cands = [Candidate(rank=i + 1, code=x.code, name=x.name, market=x.market, tier=x.tier.value,
                   sector=x.sector, score=1 - i / 10000,
                   components=ScoreComponents(market_cap_tier=1, sentiment=0.5,
                                              news_count_norm=0.5, priority=0),
                   news_count=3, top_articles=[]) for i, x in enumerate(listings)]
doc = CandidatesDocument(produced_at=utcnow(), env="local", weights={{}},
                         sentiment_engines=["bench"], window_hours=24, universe_size=len(listings),
                         articles=0, articles_matched=0, duplicates_dropped=0, sources=[],
                         candidates=cands, notes=["benchmark seed"])
publish(open_store(cfg), "candidates", doc)
"""


def write_universe(home: str, tickers: int) -> None:
    """The bundled listings, plus synthetic ones up to `tickers`, as the home's universe."""
    from matcher_reference import listings_at_scale

    from quartz_cli.domain.universe import Universe
    from quartz_cli.kis.master import write_universe_csv

    write_universe_csv(Universe(listings_at_scale(max(tickers, 71))),
                       Path(home) / "universe.csv")


def serve_simulator(home: str, port: int):
    """As `decide.serve_simulator`, with a market for every listing of the home's universe."""
    import threading

    import uvicorn

    from quartz_cli.agents.selection import selection_universe
    from quartz_cli.config import load_config
    from quartz_cli.sim import SimConfig, SimState, Simulator

    cfg = load_config(environ={"QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": base.MARKET_TIME})
    sim = Simulator(SimState(Path(home) / "sim" / "local.db"),
                    SimConfig(rate_limit_per_s=base.LIMIT),
                    clock=lambda: cfg.market_now().timestamp(), cache_dir=Path(home) / "cache",
                    universe=lambda: selection_universe(Path(home)))
    stamps = base.ArrivalStamps(sim.app)
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


def main(tickers: int = 30) -> None:
    with tempfile.TemporaryDirectory() as home:
        port = base.free_port()
        env = {**os.environ, "QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": base.MARKET_TIME,
               "QUARTZ_KIS_BASE_URL": f"http://127.0.0.1:{port}"}
        write_universe(home, tickers)
        sim, stamps, server, thread = serve_simulator(home, port)
        try:
            subprocess.run([base.QUARTZ, "auth", "refresh"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([base.QUARTZ, "macro", "run", "--json"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([sys.executable, "-c", SEED.format(n=tickers)], env=env, check=True)
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
