"""Helpers shared by the trading tests: a market time inside a KRX session, seeding a
QUARTZ_HOME with the cached KRX calendar, and a simulator + runtime wired like `local`.
The fixtures built on them (`calendar_cache`, `in_session`) live in conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from fakes.server import free_port
from quartz_cli.agents.trading import RetryPolicy, TradingAgent
from quartz_cli.app.runtime import Runtime, open_runtime, trading_agent
from quartz_cli.config import Config, load_config
from quartz_cli.sim import SimConfig, SimState, Simulator
from quartz_cli.sim.exchange import Exchange, exchange_for

# A Tuesday, 10:00 KST: inside the regular session.
MARKET_TIME = "2026-11-24T10:00:00+09:00"
FAST = RetryPolicy(retry_delay_s=0.01, reconcile_delays_s=(0.0, 0.01, 0.02))


def seed_calendar(home: Path, cache: Path) -> None:
    """Copy the cached KRX calendar into a QUARTZ_HOME so processes skip rebuilding it."""
    target = home / "cache"
    target.mkdir(parents=True, exist_ok=True)
    for f in cache.glob("xkrx-*.json"):
        shutil.copy(f, target / f.name)


@dataclass
class Local:
    config: Config
    sim: Simulator
    rt: Runtime
    agent: TradingAgent

    @property
    def exchange(self) -> Exchange:
        return exchange_for(self.sim)

    def booked(self) -> list[dict]:
        """The simulator's audit of bookings (one row per order it booked)."""
        return [a for a in self.exchange.audit() if a["event"] == "booked"]


def local(home: Path, policy: RetryPolicy = FAST, clock: Callable[[], float] | None = None,
          **sim_config: float) -> Local:
    """A `local` runtime over a simulator with the given SimConfig fields (and clock)."""
    config = load_config()
    sim = Simulator(SimState(home / "sim" / "local.db"),
                    SimConfig(rate_limit_per_s=0, **sim_config),
                    clock=clock or (lambda: config.market_now().timestamp()),
                    cache_dir=home / "cache")
    rt = open_runtime(config, sim=sim)
    return Local(config, sim, rt, trading_agent(rt, policy))


@contextmanager
def trading_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`quartz trade serve` in a child process on a free loopback port, ready when yielded;
    yields its WebSocket URL and stops it afterwards."""
    port = free_port()
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "quartz_cli", "trade", "serve",
                                   "--port", str(port)], env={**os.environ, **env},
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health/ready",
                                 timeout=2).is_success:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, "server not up"
                time.sleep(0.2)
            yield f"ws://127.0.0.1:{port}/ws/orders"
        finally:
            server.terminate()
            server.wait(timeout=10)
