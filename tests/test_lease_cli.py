"""One owner per account on one host, as a user meets it: real `quartz` processes, loopback.

A second trading server refuses to start naming the first; the CLI's in-process path sends
through the server that owns the account, or refuses naming the holder. Bookings are counted
in the simulator's own state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fakes.server import free_port
from quartz_cli.config import LOCAL_CANO
from quartz_cli.ports import LeaseHolder, LeaseKind
from quartz_cli.sim import SimState
from quartz_cli.store.lease import HostLease
from trading_support import MARKET_TIME, seed_calendar, trading_server


def quartz_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARTZ_", "HANSEC_"))}
    env.pop("TRADING_AGENT_WS_URL", None)
    return env | {"QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME} | extra


def quartz(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "quartz_cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def home(quartz_home: Path, calendar_cache: Path) -> Path:
    seed_calendar(quartz_home, calendar_cache)
    return quartz_home


def holder_record(home: Path) -> dict:
    [record] = list((home / "trading").glob("*.json"))
    return json.loads(record.read_text())


def booked_at_the_simulator(home: Path) -> list[str]:
    db = home / "sim" / "local.db"
    if not db.exists():
        return []       # refused before the simulator was ever opened: nothing booked
    state = SimState(db)
    if not state.query("SELECT name FROM sqlite_master WHERE name = 'sim_audit'"):
        return []       # opened, but its exchange never started: nothing booked
    return [r["odno"] for r in state.query("SELECT odno FROM sim_audit WHERE event = 'booked'")]


def test_a_second_trading_server_refuses_to_start_and_names_the_owner(home: Path):
    env = quartz_env(home)
    with trading_server(env, home / "first.log") as ws_url:
        record = holder_record(home)
        second = quartz(env, "trade", "serve", "--port", str(free_port()))
    assert record["kind"] == "server" and record["url"] == ws_url and record["epoch"] == 1
    assert second.returncode == 9, second.stderr
    err = second.stderr
    assert "owned by a trading server" in err and f"pid {record['pid']}" in err
    assert record["host"] in err and "since " + record["started_at"][:19] in err
    assert ws_url in err
    # Account numbers never name files or records.
    names = " ".join(p.name for p in (home / "trading").iterdir())
    assert LOCAL_CANO not in names and LOCAL_CANO not in json.dumps(record)


def test_in_process_cli_goes_through_the_server_that_owns_the_account(home: Path):
    """A server and an in-process `trade buy` with the same request_id: one booking."""
    env = quartz_env(home)
    with trading_server(env, home / "serve.log") as ws_url:
        with ThreadPoolExecutor(2) as pool:
            via_server, in_process = pool.map(lambda e: quartz(e, "trade", "buy", "005930", "1",
                                                               "--request-id", "same-1",
                                                               "--json"),
                                              [env | {"TRADING_AGENT_WS_URL": ws_url}, env])
        listed = quartz(env, "trade", "orders", "--json")
    assert via_server.returncode == 0, via_server.stderr
    assert in_process.returncode == 0, in_process.stderr
    a, b = json.loads(via_server.stdout), json.loads(in_process.stdout)
    assert a["order_no"] and a["order_no"] == b["order_no"]
    assert listed.returncode == 0, listed.stderr
    assert [o["request_id"] for o in json.loads(listed.stdout)["orders"]] == ["same-1"]
    assert booked_at_the_simulator(home) == [a["order_no"]]
    # The server is gone: this process owns the account now, at the next epoch.
    again = quartz(env, "trade", "buy", "005930", "1", "--request-id", "same-1", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["order_no"] == a["order_no"]
    assert holder_record(home)["kind"] == "cli" and holder_record(home)["epoch"] == 2
    assert booked_at_the_simulator(home) == [a["order_no"]]


@pytest.mark.parametrize("kind,url,text", [
    (LeaseKind.SERVER, "dead", "the server does not answer"),
    (LeaseKind.CLI, None, "wait until it finishes"),
])
def test_in_process_cli_refuses_naming_a_holder_it_cannot_go_through(home: Path, kind, url,
                                                                     text):
    from quartz_cli.app.ownership import account_name
    from quartz_cli.config import load_config

    env = quartz_env(home, QUARTZ_INTERNAL_TOKEN="lease-cli-internal-token-0123456789-abcdef")
    if url == "dead":
        url = f"ws://127.0.0.1:{free_port()}/ws/orders"
    config = load_config(environ=env)
    lease = HostLease(home / "trading", account_name(config))
    lease.acquire(LeaseHolder(kind=kind, pid=31337, host="other-host",
                              started_at=datetime.now(UTC), url=url))
    try:
        refused = quartz(env, "trade", "buy", "005930", "1")
    finally:
        lease.release()
    assert refused.returncode == 9, refused.stderr
    assert "pid 31337 on other-host" in refused.stderr and text in refused.stderr
    assert booked_at_the_simulator(home) == []
