"""`quartz trade` as a user runs it: separate processes, one server, loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from quartz_cli.domain.orders import OrderRequest, OrderState
from quartz_cli.sim import SimState
from quartz_cli.store.order_ledger import SqliteOrderLedger
from trading_support import MARKET_TIME, seed_calendar, trading_server


def quartz_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARTZ_", "HANSEC_"))}
    return env | {"QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME} | extra


def quartz(env: dict[str, str], *args: str, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "quartz_cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, input=stdin)


@pytest.fixture
def home(quartz_home: Path, calendar_cache: Path) -> Path:
    seed_calendar(quartz_home, calendar_cache)
    return quartz_home


def test_serve_buy_through_it_and_list_the_fill(home: Path):
    env = quartz_env(home)
    with trading_server(env, home / "serve.log") as ws_url:
        client_env = env | {"TRADING_AGENT_WS_URL": ws_url}
        bought = quartz(client_env, "trade", "buy", "005930", "1", "--json")
        listed = quartz(client_env, "trade", "orders", "--json")
        # The token was created for local by `serve`, private to the user.
        token_file = home / "trading" / "internal-token"
        mode = token_file.stat().st_mode & 0o777
    assert bought.returncode == 0, bought.stderr
    outcome = json.loads(bought.stdout)
    assert outcome["state"] in ("accepted", "filled") and outcome["order_no"]
    assert listed.returncode == 0, listed.stderr
    orders = json.loads(listed.stdout)["orders"]
    mine = next(o for o in orders if o["request_id"] == outcome["request_id"])
    assert mine["state"] == "filled" and mine["filled_qty"] == 1 and mine["avg_fill_price"] > 0
    assert mode == 0o600
    assert token_file.read_text() not in bought.stdout + listed.stdout


def test_in_process_orders_repeat_and_cancel(home: Path):
    env = quartz_env(home)
    first = quartz(env, "trade", "buy", "005930", "2", "--request-id", "manual-1", "--json")
    again = quartz(env, "trade", "buy", "005930", "2", "--request-id", "manual-1", "--json")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert json.loads(first.stdout)["order_no"] == json.loads(again.stdout)["order_no"]
    resting = quartz(env, "trade", "buy", "005930", "1", "--limit", "55000", "--json")
    order_no = json.loads(resting.stdout)["order_no"]
    open_ = json.loads(quartz(env, "trade", "orders", "--open", "--json").stdout)["orders"]
    assert [o["order_no"] for o in open_] == [order_no]
    cancelled = quartz(env, "trade", "cancel", order_no, "--json")
    assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["state"] == "cancelled"
    balance = json.loads(quartz(env, "trade", "balance", "--json").stdout)
    assert next(p for p in balance["positions"] if p["ticker"] == "005930")["qty"] == 122


@pytest.mark.parametrize("args,code,text", [
    (("buy", "5930X", "1"), 4, "KRX stock code"),
    (("buy", "005930", "0"), 4, "at least 1"),
    (("buy", "005930", "1", "--limit", "70001"), 4, "tick"),
    (("sell", "005930", "100000"), 9, "held"),
    (("cancel", "12a"), 4, "order_no"),
])
def test_bad_orders_fail_clearly(home: Path, args, code, text):
    result = quartz(quartz_env(home), "trade", *args)
    assert result.returncode == code
    assert text in result.stderr + result.stdout


def test_orders_outside_the_session_are_refused_before_the_broker(home: Path):
    """The account owner's pre-trade stage refuses first and records why; the simulator's own
    session rejection is covered in test_sim_exchange."""
    env = quartz_env(home, QUARTZ_MARKET_TIME="2026-11-24T20:00:00+09:00")
    result = quartz(env, "trade", "buy", "005930", "1", "--json")
    assert result.returncode == 9 and "market closed" in result.stderr
    assert json.loads(result.stdout)["code"] == "pretrade:order_window"
    [refused] = json.loads(quartz(env, "trade", "orders", "--json").stdout)["orders"]
    assert refused["state"] == "rejected" and refused["order_no"] is None


def test_prod_needs_the_live_opt_in_and_a_confirmation(home: Path):
    env = quartz_env(home, QUARTZ_ENV="prod", HANSEC_INVESTMENT_APP_KEY="PS" + "k" * 34,
                     HANSEC_INVESTMENT_APP_SECRET_KEY="s" * 60,
                     HANSEC_INVESTMENT_CANO="12345678")
    env.pop("QUARTZ_MARKET_TIME")
    declined = quartz({**env, "QUARTZ_LIVE_TRADING": "true"}, "trade", "buy", "005930", "1",
                      stdin="n\n")
    # Asked on stderr, and only when the market is open (prod runs on the wall clock).
    assert declined.returncode == 9 and "REAL MONEY" not in declined.stdout
    assert ("REAL MONEY" in declined.stderr) != ("market closed" in declined.stderr)
    refused = quartz(env, "trade", "buy", "005930", "1", "--yes")
    assert refused.returncode == 9 and "QUARTZ_LIVE_TRADING" in refused.stderr
    assert "12345678" not in refused.stdout + refused.stderr


def test_orders_reconciles_an_interrupted_send_and_never_sends_it(home: Path):
    """A process died after marking an order sent; `quartz trade orders` asks the broker
    about it (never sends it) and, once its session is over, closes it as not booked."""
    ledger = SqliteOrderLedger(home / "trading" / "local-ledger.db")
    at = datetime.fromisoformat(MARKET_TIME)
    ledger.claim(OrderRequest(request_id="died-1", action="buy", ticker="005930", qty=3,
                              timestamp=datetime.now(UTC)), "local", at)
    ledger.move("died-1", OrderState.RECEIVED, OrderState.SENT, at, attempts=1,
                order_date="20261124")
    during = quartz(quartz_env(home, QUARTZ_MARKET_TIME="2026-11-24T10:05:00+09:00"),
                    "trade", "orders", "--json")
    after = quartz(quartz_env(home, QUARTZ_MARKET_TIME="2026-11-24T17:00:00+09:00"),
                   "trade", "orders", "--json")
    assert during.returncode == 0 and after.returncode == 0, during.stderr + after.stderr
    [mid] = json.loads(during.stdout)["orders"]
    [end] = json.loads(after.stdout)["orders"]
    assert mid["state"] == "unknown" and mid["attempts"] == 1
    assert end["state"] == "expired" and end["order_no"] is None
    assert "not booked: the 2026-11-24 session is over" in end["message"]
    assert "2 order inquiries without a match (KST 10:05:0" in end["message"]
    sim = SimState(home / "sim" / "local.db")
    assert sim.query("SELECT COUNT(*) AS n FROM sim_orders")[0]["n"] == 0
