"""What a slow store costs `quartz decide --dry-run` over a 30-ticker universe.

The decide run goes in-process through the composition root (`app.portfolio.open_portfolio`),
against the simulator on loopback with the real account's rate limit (18 requests/s), twice per
repetition: over the local-folder store as is, and over the same store wrapped in `SlowStore`,
which blocks the calling thread DELAY_MS per call, as a synchronous S3 client does on every
request. Each run starts from the same state: macro and candidates published beforehand (as in
decide.py), no technical documents (so every run analyses the 30 tickers and publishes them).

Prints both wall times (min and median over the repetitions), the store calls per run, and the
cost of the latency: the extra seconds, how much slower, and how much of the latency the run
hid behind its broker calls (the calls x DELAY_MS it would cost if each call held up the run).

    .venv/bin/python scripts/bench/decide_store_latency.py [--delay-ms 30] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter

from decide import MARKET_TIME, QUARTZ, free_port, seed_candidates, serve_simulator

from quartz_cli.agents.portfolio import run_decide
from quartz_cli.app.portfolio import open_portfolio
from quartz_cli.app.runtime import open_store
from quartz_cli.config import load_config
from quartz_cli.ports import Store


class SlowStore:
    """A `Store` that blocks the calling thread `delay_s` before each call to `inner`, and
    counts the calls."""

    def __init__(self, inner: Store, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.description = f"{inner.description} (+{delay_s * 1000:g} ms per call)"
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _call(self, name: str, *args):
        with self._lock:
            self.calls[name] += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return getattr(self.inner, name)(*args)

    def get(self, key: str) -> bytes | None:
        return self._call("get", key)

    def put(self, key: str, data: bytes) -> None:
        self._call("put", key, data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self._call("put_if_absent", key, data)

    def delete(self, key: str) -> None:
        self._call("delete", key)

    def list(self, prefix: str) -> list[str]:
        return self._call("list", prefix)

    def ping(self) -> None:
        self._call("ping")


def clear_technical(store: Store) -> None:
    """Drop every technical document, so the next decide analyses every ticker again."""
    for key in store.list("technical/"):
        store.delete(key)


def decide_once(environ: dict[str, str], delay_s: float) -> tuple[float, Counter[str], int]:
    """One `decide --dry-run` in-process: (wall seconds, store calls, candidates)."""
    config = load_config(environ=environ)
    store = SlowStore(open_store(config), delay_s)
    clear_technical(store.inner)
    time.sleep(1.1)  # let the simulator's rate-limit window empty before each measurement

    async def run():
        async with open_portfolio(config, dry_run=True, store=store) as deps:
            return await run_decide(deps, dry_run=True)

    t0 = time.perf_counter()
    plan = asyncio.run(run())
    wall = time.perf_counter() - t0
    assert plan.inputs is not None
    return wall, store.calls, len(plan.inputs.candidates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=30.0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    delay_s = args.delay_ms / 1000
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        environ = {"QUARTZ_HOME": home, "QUARTZ_MARKET_TIME": MARKET_TIME,
                   "QUARTZ_KIS_BASE_URL": f"http://127.0.0.1:{port}",
                   "PATH": os.environ.get("PATH", "")}
        env = {**os.environ, **environ}
        _sim, _stamps, server, thread = serve_simulator(home, port)
        try:
            subprocess.run([QUARTZ, "auth", "refresh"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([QUARTZ, "macro", "run", "--json"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seed_candidates(env)
            decide_once(environ, 0.0)  # warm-up: the KRX calendar cache, imports, the sim
            walls: dict[str, list[float]] = {"plain": [], "slow": []}
            calls: Counter[str] = Counter()
            universe = 0
            for rep in range(args.reps):
                # Alternate which goes first, so drift in the machine's load hits both.
                order = ("plain", "slow") if rep % 2 == 0 else ("slow", "plain")
                for variant in order:
                    wall, c, universe = decide_once(environ, delay_s if variant == "slow" else 0)
                    walls[variant].append(wall)
                    calls = c
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    n_calls = sum(calls.values())
    plain, slow = statistics.median(walls["plain"]), statistics.median(walls["slow"])
    extra = slow - plain
    serial = n_calls * delay_s
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    print(f"universe                 : {universe} candidates, {args.reps} repetition(s), "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"store calls per run      : {n_calls} ({by_kind})")
    print(f"decide, plain store      : median {plain:6.2f} s, min {min(walls['plain']):6.2f} s "
          f"({' '.join(f'{w:.2f}' for w in walls['plain'])})")
    print(f"decide, +{args.delay_ms:g} ms per call  : median {slow:6.2f} s, "
          f"min {min(walls['slow']):6.2f} s ({' '.join(f'{w:.2f}' for w in walls['slow'])})")
    print(f"cost of the latency      : {extra:+6.2f} s = {extra / plain * 100:+.0f}% "
          f"(min vs min {min(walls['slow']) - min(walls['plain']):+.2f} s)")
    print(f"latency hidden           : {(1 - extra / serial) * 100 if serial else 0:.0f}% of "
          f"{serial:.2f} s ({n_calls} calls x {args.delay_ms:g} ms, were each to hold up "
          "the run)")


if __name__ == "__main__":
    main()
