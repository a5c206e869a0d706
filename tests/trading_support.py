"""Helpers shared by the trading tests: a market time inside a KRX session, seeding a
QUARTZ_HOME with the cached KRX calendar, and a simulator + runtime wired like `local`.
The fixtures built on them (`calendar_cache`, `in_session`) live in conftest.py."""

from __future__ import annotations

import os
import shutil
import signal
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
FAST = RetryPolicy(retry_delay_s=0.01, reconcile_delays_s=(0.0, 0.01, 0.02), backoff_s=0.05,
                   backoff_max_s=0.2)


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


class ServerProcess:
    """`quartz trade serve` as a child process on `port` that a test can SIGKILL and restart
    (each start may change its environment, e.g. the market time)."""

    def __init__(self, home: Path, port: int, token: str, env: dict[str, str],
                 args: tuple[str, ...] = ("--retry-delay", "0.2")) -> None:
        self.home = home
        self.port = port
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.env = {**{k: v for k, v in os.environ.items()
                       if not k.startswith(("QUARTZ_", "HANSEC_"))},
                    "QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME,
                    "QUARTZ_INTERNAL_TOKEN": token, "QUARTZ_RATE_LIMIT_PER_S": "1000", **env}

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/orders"

    def start(self, **env: str) -> None:
        self.env.update(env)
        # The child keeps its own copy of the log's descriptor; ours can close at once.
        with open(self.home / f"server-{self.starts}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "quartz_cli", "trade", "serve", "--port", str(self.port),
                 *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health/live", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not come up")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
