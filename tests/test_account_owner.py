"""Acceptance of the account owner (issue 12, items 1, 2 and 5), over loopback with the real
CLI and the simulator. Every money-safety check reads the SIMULATOR's final account (its
balance inquiry and its order book), not Quartz's own records:

- orders sent straight to the trading server's WebSocket and HTTP endpoints that would break
  a cap are refused and never booked;
- concurrent manual buys, concurrent decides, decide + rebalance and decide + a manual order
  leave every weight within the cap, the day's turnover within the cap of the start-of-day
  value, cash never negative and no position sold twice;
- halt / reduce-only / resume survive a restart; the daily loss limit trips by itself."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from fakes.server import LoopbackServer
from quartz_cli.app.owner import account_owner, account_states
from quartz_cli.config import load_config
from quartz_cli.domain.pretrade import DayTurnover
from quartz_cli.remote.trading_client import TradingClient
from quartz_cli.servers.trading import create_app
from quartz_cli.sim.state import SimState
from trading_support import FAST, MARKET_TIME, local, seed_calendar, trading_server

TOKEN = "test-internal-token-0123456789-abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}
CAP = Decimal("0.2")
TURNOVER = Decimal("0.3")
DAY = date(2026, 11, 24)


def message(rid: str, **kw) -> dict:
    return {"request_id": rid, "action": "buy", "ticker": "005930", "qty": 1,
            "order_type": "market", "price": 0,
            "timestamp": datetime.now(UTC).isoformat()} | kw


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARTZ_", "HANSEC_"))}
    return env | {"QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME,
                  "COLUMNS": "120"} | extra


def start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "quartz_cli", *args, "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        out.append((p.returncode, stdout, stderr))
    return out


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quartz_cli", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def sim_balance(env: dict[str, str]) -> dict:
    """The simulator's balance inquiry (through the CLI: KIS's inquire-balance)."""
    proc = cli(env, "trade", "balance", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def sim_orders(home: Path) -> list[dict]:
    """Every order the simulator booked today (its own order book)."""
    state = SimState(home / "sim" / "local.db")
    return [dict(r) for r in state.query(
        "SELECT * FROM sim_orders WHERE ord_dt = ? AND kind = 'order'", (DAY.strftime("%Y%m%d"),))]


def start_of_day(home: Path) -> int:
    """The start-of-day value the owner recorded (the reference of the turnover cap)."""
    states = account_states(load_config())
    try:
        return states.start_of_day(DAY, -1, datetime.now(UTC))
    finally:
        states.close()


def check_promises(home: Path, env: dict[str, str], before: dict) -> dict:
    """The promises, from the simulator's final account; returns the final balance."""
    after = sim_balance(env)
    # Trades settle T+2: the D+2 cash is what the account holds once today's trades settle.
    total = after["d2_cash_krw"] + after["securities_value"]
    assert after["d2_cash_krw"] >= 0
    for p in after["positions"]:
        weight = Decimal(p["value"]) / total
        assert weight <= CAP, f"{p['ticker']} at {weight:.2%} of {total:,}"
    orders = sim_orders(home)
    # Turnover: sells count toward it but are never refused for it (they lower exposure),
    # so what the cap bounds is what was bought.
    bought_krw = sum(int(o["filled_amount"]) for o in orders if o["side"] == "02")
    sod = start_of_day(home)
    assert sod > 0 and bought_krw <= TURNOVER * sod, f"bought {bought_krw:,} of {sod:,}"
    held = {p["ticker"]: p["qty"] for p in before["positions"]}
    for ticker in {o["pdno"] for o in orders}:
        bought = sum(int(o["filled_qty"]) for o in orders
                     if o["pdno"] == ticker and o["side"] == "02")
        sold = sum(int(o["qty"]) for o in orders if o["pdno"] == ticker and o["side"] == "01")
        assert sold <= held.get(ticker, 0) + bought, f"{ticker}: sold {sold} twice?"
    return after


@pytest.fixture
def home(quartz_home: Path, calendar_cache: Path) -> Path:
    seed_calendar(quartz_home, calendar_cache)
    return quartz_home


# --- the trading server's own endpoints ---------------------------------------------------


def test_server_endpoints_refuse_what_breaks_a_cap_and_book_nothing(in_session):
    env = local(in_session)
    owner = account_owner(env.rt, FAST)
    url = None

    async def go(srv_url: str):
        ws = srv_url.replace("http://", "ws://") + "/ws/orders"
        async with httpx.AsyncClient(headers=AUTH) as http:
            by_http = (await http.post(srv_url + "/api/order",
                                       json=message("http-big", qty=1000))).json()
        async with connect(ws, additional_headers=AUTH) as sock:
            await sock.send(json.dumps(message("ws-big", qty=1000)))
            # Two that each fit, sent together on one socket: together they break the cap.
            await sock.send(json.dumps(message("ws-a", qty=150)))
            await sock.send(json.dumps(message("ws-b", qty=150)))
            replies = {}
            while len(replies) < 3:
                reply = json.loads(await sock.recv())
                if reply["type"] == "outcome":
                    replies[reply["request_id"]] = reply["outcome"]
        return by_http, replies

    with LoopbackServer(create_app(owner, TOKEN, ping_interval_s=0.2)) as srv:
        url = srv.url
        by_http, replies = asyncio.run(go(url))
        # The trading-state endpoint is behind the same token.
        anonymous = httpx.post(url + "/api/trading-state", json={"state": "halted"})
        state = httpx.get(url + "/api/trading-state", headers=AUTH).json()
        # The day's turnover as the owner counts it, for a remote decide to plan within.
        day = asyncio.run(remote_day_turnover(url))
        assert httpx.get(url + "/api/day-turnover").status_code == 401
    assert anonymous.status_code == 401 and state["state"] == "active"
    assert day is not None and day.filled + day.in_flight > 0
    assert day.allowed == math.ceil(TURNOVER * start_of_day_in(owner))
    assert day.left == day.allowed - day.filled - day.in_flight
    # The owner's start-of-day values, for the dashboard's P&L in a cluster.
    assert state["start_of_day"] == {DAY.isoformat(): start_of_day_in(owner)}
    big = [by_http["outcome"], replies["ws-big"]]
    assert all(o["state"] == "rejected" and o["code"] == "pretrade:weight_cap" for o in big)
    assert "weight cap: 005930 would be" in big[0]["message"]
    pair = sorted(replies[r]["state"] for r in ("ws-a", "ws-b"))
    assert pair == ["accepted", "rejected"], replies
    booked = env.booked()
    assert len(booked) == 1 and json.loads(booked[0]["detail"])["qty"] == 150
    balance = asyncio.run(owner.balance())
    pos = balance.position("005930")
    assert pos is not None
    assert Decimal(pos.value) / (balance.d2_cash_krw + balance.securities_value) <= CAP


async def remote_day_turnover(http_url: str) -> DayTurnover | None:
    ws = http_url.replace("http://", "ws://") + "/ws/orders"
    async with TradingClient(ws, TOKEN) as client:
        return await client.day_turnover()


def start_of_day_in(owner) -> int:
    return owner.states.start_of_day(DAY, -1, datetime.now(UTC))


def test_copies_of_one_request_sent_together_get_one_outcome(in_session):
    """Three producers sending the same request_id at once (and a broker failing most
    calls, so some checks refuse for want of a quote): every copy of a request gets the
    same answer, none an error, and the simulator books at most one order per request_id.
    A copy is never checked on its own while the first is on its way: its refusal would
    reject the claim the first was about to send."""
    from quartz_cli.domain.orders import OrderRequest
    from quartz_cli.domain.universe import bundled_universe
    from quartz_cli.errors import BrokerUnavailable

    env = local(in_session, error_5xx_rate=0.5, fault_seed=7)
    owner = account_owner(env.rt, FAST)
    # One ticker per request: each request's copies read its quote afresh, and one copy's
    # read can fail where the other's succeeds.
    requests = [OrderRequest.model_validate(message(f"twin-{i:02d}", ticker=code))
                for i, code in enumerate(bundled_universe().codes()[:20])]

    async def go() -> list[object]:
        copies = [owner.submit(r) for r in requests for _ in range(3)]
        return await asyncio.gather(*copies, return_exceptions=True)

    answers = asyncio.run(go())
    by_request: dict[str, set[tuple[str, str | None]]] = {}
    for i, answer in enumerate(answers):
        rid = requests[i // 3].request_id
        if isinstance(answer, BrokerUnavailable):
            continue        # "ask again with the same request_id": not an answer
        assert not isinstance(answer, BaseException), (rid, answer)
        by_request.setdefault(rid, set()).add((answer.state.value, answer.order_no))
    assert by_request, "every copy failed to read the account"
    assert all(len(seen) == 1 for seen in by_request.values()), by_request
    booked = env.booked()
    assert len({b["odno"] for b in booked}) == len(booked)
    accepted = {next(iter(seen))[1] for seen in by_request.values()
                if next(iter(seen))[0] == "accepted"}
    assert accepted <= {b["odno"] for b in booked}
    assert len(booked) <= len(requests)


# --- concurrent runs through the real CLI -------------------------------------------------


def test_four_concurrent_manual_buys_stay_within_the_weight_cap(home: Path):
    env = env_for(home)
    before = sim_balance(env)
    results = finish([start(env, "trade", "buy", "005930", "190") for _ in range(4)])
    outcomes = [json.loads(out) for _, out, _ in results]
    accepted = [o for o in outcomes if o["state"] in ("accepted", "filled")]
    refused = [o for o in outcomes if o["state"] == "rejected"]
    assert len(accepted) + len(refused) == 4 and accepted and refused, results
    assert all(o["code"].startswith("pretrade:") for o in refused)
    assert all(code == 9 for code, _, _ in results if code) and all(
        "refused by the owner" in err for code, _, err in results if code)
    check_promises(home, env, before)
    assert len(sim_orders(home)) == len(accepted)


@pytest.mark.slow
@pytest.mark.parametrize("second", [
    ("decide",),
    ("rebalance",),
    ("trade", "buy", "005930", "190"),
], ids=["two-decides", "decide-and-rebalance", "decide-and-manual"])
def test_concurrent_runs_keep_every_promise(home: Path, second: tuple[str, ...]):
    # Tight exit thresholds make rebalance sell what it can; the inputs are produced first
    # so the runs overlap in their read-plan-send.
    env = env_for(home, QUARTZ_STOP_LOSS_PCT="-0.01", QUARTZ_TAKE_PROFIT_PCT="0.01")
    produced = cli(env, "decide", "--dry-run", "--json")
    assert produced.returncode == 0, produced.stderr[-2000:]
    before = sim_balance(env)
    results = finish([start(env, "decide"), start(env, *second)])
    for code, out, err in results:
        # 8: the owner refused some of a run's orders (9: all of them, or the manual one).
        assert code in (0, 8, 9), err[-2000:]
        doc = json.loads(out)
        if "executions" in doc:
            assert "trading state: active" in doc["notes"][0]
            # Whatever the owner refused is shown as such in the plan.
            for e in doc["executions"]:
                assert e["status"] in ("accepted", "filled") or \
                    e["status"].startswith("refused by the owner"), e
    check_promises(home, env, before)


# --- trading state ------------------------------------------------------------------------


def test_halt_reduce_only_resume_survive_a_server_restart(home: Path):
    env = env_for(home)
    with trading_server(env, home / "serve-1.log") as ws_url:
        remote = env | {"TRADING_AGENT_WS_URL": ws_url}
        assert cli(remote, "trade", "halt", "--reason", "drill").returncode == 0
    with trading_server(env, home / "serve-2.log") as ws_url:
        remote = env | {"TRADING_AGENT_WS_URL": ws_url}
        state = json.loads(cli(remote, "trade", "state", "--json").stdout)
        assert state["state"] == "halted" and state["reason"] == "drill"
        sell = cli(remote, "trade", "sell", "005930", "1", "--json")
        assert sell.returncode == 9 and "halted" in sell.stderr
        assert json.loads(sell.stdout)["trading_state"] == "halted"
        assert cli(remote, "trade", "reduce-only").returncode == 0
    # The in-process path reads the same state (no server).
    buy = cli(env, "trade", "buy", "005930", "1", "--json")
    assert buy.returncode == 9 and "reduce-only" in buy.stderr
    sold = cli(env, "trade", "sell", "005930", "1", "--json")
    assert sold.returncode == 0, sold.stderr
    assert json.loads(sold.stdout)["trading_state"] == "reduce_only"
    with trading_server(env, home / "serve-3.log") as ws_url:
        remote = env | {"TRADING_AGENT_WS_URL": ws_url}
        assert json.loads(cli(remote, "trade", "state", "--json").stdout)["state"] == \
            "reduce_only"
        assert cli(remote, "trade", "resume").returncode == 0
        bought = cli(remote, "trade", "buy", "005930", "1", "--json")
        assert bought.returncode == 0, bought.stderr
    booked = sim_orders(home)
    assert sorted(o["side"] for o in booked) == ["01", "02"]   # the sell, then the buy


def test_the_daily_loss_limit_moves_the_account_to_reduce_only(home: Path):
    env = env_for(home)
    # The account was worth far more this morning: as if it had since lost 10 %.
    value = sim_balance(env)
    total = value["d2_cash_krw"] + value["securities_value"]
    states = account_states(load_config())
    states.start_of_day(DAY, total * 10 // 9, datetime.now(UTC))
    states.close()
    buy = cli(env, "trade", "buy", "005930", "1", "--json")
    assert buy.returncode == 9 and "reduce-only" in buy.stderr
    state = json.loads(cli(env, "trade", "state", "--json").stdout)
    assert state["state"] == "reduce_only" and "daily loss limit" in state["reason"]
    assert cli(env, "trade", "sell", "005930", "1").returncode == 0
    # A resume by hand holds for the rest of the day: the limit trips once a day.
    assert cli(env, "trade", "resume").returncode == 0
    again = cli(env, "trade", "buy", "005930", "1", "--json")
    assert again.returncode == 0, again.stderr
    assert sorted(o["side"] for o in sim_orders(home)) == ["01", "02"]


def test_a_decide_after_the_days_buys_plans_within_the_turnover_left(home: Path):
    env = env_for(home)
    produced = cli(env, "decide", "--dry-run", "--json")
    assert produced.returncode == 0, produced.stderr[-2000:]
    before = sim_balance(env)
    # Manual buys use most of the day's turnover before the run.
    for ticker, qty in (("005930", "190"), ("000660", "60")):
        bought = cli(env, "trade", "buy", ticker, qty, "--json")
        assert bought.returncode == 0, bought.stderr[-2000:]
    proc = cli(env, "decide", "--json")
    # Planned within what the owner lets through: nothing refused, so exit 0.
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = json.loads(proc.stdout)
    assert any(n.startswith("the account's turnover today:") for n in plan["notes"])
    assert all(e["status"] in ("accepted", "filled") for e in plan["executions"])
    assert any(g["rule"] == "day_turnover" for g in plan["gate"]), plan["gate"]
    check_promises(home, env, before)
