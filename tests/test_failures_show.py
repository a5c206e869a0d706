"""Failures that show (issue 15): every command's exit code says whether it did its job, one
code per kind of error, a JSON error document with `--json`, a trading agent that is not
there said so within seconds, and the smaller defects each pinned by a test."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.server import free_port
from quartz_cli.domain.orders import OrderRequest, Side
from quartz_cli.errors import (
    BrokerError,
    BrokerUnavailable,
    ConfigError,
    InputError,
    PartialFailure,
    SafetyRefusal,
    TradingAgentUnreachable,
)
from quartz_cli.remote.trading_client import TradingClient
from trading_support import MARKET_TIME, seed_calendar

TOKEN = "t" * 32
PROD_KEYS = {"QUARTZ_ENV": "prod", "HANSEC_INVESTMENT_APP_KEY": "PS" + "k" * 34,
             "HANSEC_INVESTMENT_APP_SECRET_KEY": "s" * 60, "HANSEC_INVESTMENT_CANO": "12345678",
             "QUARTZ_LIVE_TRADING": "true"}


def run_quartz(home: Path, *args: str, stdin: str | None = None, **env: str
               ) -> subprocess.CompletedProcess:
    """`quartz ARGS` in a child process; `local` on the simulated clock unless `env` says
    otherwise (prod runs on the wall clock)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QUARTZ_", "HANSEC_"))}
    full = base | {"QUARTZ_HOME": str(home), "COLUMNS": "120"} | env
    if full.get("QUARTZ_ENV", "local") == "local":
        full.setdefault("QUARTZ_MARKET_TIME", MARKET_TIME)
    return subprocess.run([sys.executable, "-m", "quartz_cli", *args], env=full,
                          capture_output=True, text=True, timeout=120, input=stdin)


@pytest.fixture
def home(quartz_home: Path, calendar_cache: Path) -> Path:
    seed_calendar(quartz_home, calendar_cache)
    return quartz_home


def dead_ws() -> str:
    return f"ws://127.0.0.1:{free_port()}/ws/orders"


# --- one error mapping: a JSON document on stdout for every command ------------------------


@pytest.mark.parametrize("args, error, code", [
    # Fails before the command reads its own --json.
    (("select", "show", "--json"), "InputError", 4),
    (("analyze", "12", "--json"), "InputError", 4),
    # The parser itself fails.
    (("trade", "buy", "--json"), "UsageError", 2),
    (("--json", "--env", "nowhere", "doctor"), "UsageError", 2),
])
def test_every_command_prints_an_error_document_with_json(home: Path, args, error, code) -> None:
    proc = run_quartz(home, *args)

    assert proc.returncode == code, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["error"] == error and doc["exit_code"] == code and doc["message"]
    assert "Traceback" not in proc.stderr


def test_a_failure_after_the_document_adds_no_second_one(home: Path) -> None:
    # The outcome is the one document; the reason (exit 4: not a ticker Quartz trades) on stderr.
    proc = run_quartz(home, "trade", "buy", "999990", "1", "--json")

    assert proc.returncode == 4, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["state"] == "rejected" and doc["code"] == "pretrade:listing"
    assert "error: " in proc.stderr and "999990" in proc.stderr


# --- one exit code per kind of error ---------------------------------------------------------


def test_an_unknown_ticker_is_invalid_input_in_every_command(home: Path) -> None:
    only = run_quartz(home, "analyze", "999990")
    buy = run_quartz(home, "trade", "buy", "999990", "1")

    # The only ticker failed: its own kind (with another analysed, 8: see the chart test).
    assert only.returncode == 4, only.stderr
    assert buy.returncode == 4, buy.stderr
    assert "999990" in only.stderr and "999990" in buy.stderr


def plan(*statuses: str) -> dict:
    return {"executions": [{"side": "BUY", "ticker": f"00593{i}", "status": s,
                            "message": f"message {i}"} for i, s in enumerate(statuses)]}


def test_decide_fails_with_the_kind_of_its_orders_failure() -> None:
    from quartz_cli.cli.plan_render import orders_error

    assert orders_error(plan("filled", "accepted")) is None
    assert orders_error({"executions": []}) is None
    partial = orders_error(plan("filled", "rejected"))
    assert isinstance(partial, PartialFailure) and "1 of 2" in partial.message
    assert type(orders_error(plan("not sent", "not sent"))) is BrokerError
    assert type(orders_error(plan("refused by the owner: listing"))) is InputError
    assert type(orders_error(plan("refused by the owner: cash"))) is SafetyRefusal
    assert "message 0" in orders_error(plan("expired")).message


# --- the trading agent unreachable -----------------------------------------------------------


def test_trade_buy_says_the_trading_agent_is_unreachable(home: Path) -> None:
    url = dead_ws()

    proc = run_quartz(home, "trade", "buy", "005930", "1", "--json",
                      TRADING_AGENT_WS_URL=url, QUARTZ_INTERNAL_TOKEN=TOKEN)

    assert proc.returncode == 5, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["error"] == "TradingAgentUnreachable"
    assert url in doc["message"] and url.removesuffix("/ws/orders").replace(
        "ws://", "http://") in doc["message"]
    assert "nothing was sent" in doc["message"] and "broker" not in doc["message"]
    assert proc.stderr.count("error:") == 1


@pytest.mark.parametrize("url", ["not a url", "ws://127.0.0.1:99999/ws", "http//x"])
def test_a_malformed_trading_agent_url_is_a_configuration_error(home: Path, url: str) -> None:
    proc = run_quartz(home, "trade", "buy", "005930", "1", TRADING_AGENT_WS_URL=url)

    assert proc.returncode == 3, proc.stderr
    assert url in proc.stderr and "TRADING_AGENT_WS_URL" in proc.stderr
    assert "internal error" not in proc.stderr


def test_a_malformed_url_never_reaches_the_client() -> None:
    with pytest.raises(ConfigError):
        TradingClient("wss:///orders", TOKEN)


def test_an_agent_that_took_the_order_but_never_answered_is_waited_for() -> None:
    """Connected but silent: the order may have arrived, so the client keeps asking (with
    the same request_id) until its deadline and says the outcome is unknown."""

    async def go() -> BrokerUnavailable:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(65536)
            await asyncio.sleep(30)

        server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with TradingClient(f"ws://127.0.0.1:{port}/ws/orders", TOKEN,
                                     use_websocket=False, reply_timeout_s=0.1, deadline_s=0.3,
                                     unreachable_after_s=0.1, backoff_s=(0.05,)) as client:
                with pytest.raises(BrokerUnavailable) as err:
                    await client.submit(order("silent-1"))
                return err.value
        finally:
            server.close()

    err = asyncio.run(go())
    assert not isinstance(err, TradingAgentUnreachable)
    assert err.maybe_sent and "same request_id" in (err.hint or "")


def order(rid: str) -> OrderRequest:
    from datetime import UTC, datetime

    return OrderRequest(request_id=rid, side=Side.BUY, ticker="005930", qty=1,
                        timestamp=datetime.now(UTC))


def test_decide_stops_sending_when_the_trading_agent_is_unreachable() -> None:
    from quartz_cli.agents.portfolio import run_decide
    from quartz_cli.cli.plan_render import orders_error
    from quartz_cli.domain.decision import Proposal
    from quartz_cli.domain.plan import Outcome
    from test_portfolio_agent import Proposes, deps

    url = dead_ws()
    rules = Proposes(Proposal(ticker="005930", side=Side.BUY, target_weight=0.1),
                     Proposal(ticker="000660", side=Side.BUY, target_weight=0.1))

    async def go():
        async with TradingClient(url, TOKEN, unreachable_after_s=0.2,
                                 backoff_s=(0.05,)) as client:
            d = deps(candidates=("005930", "000660"), rules=rules, executor=client)
            return await run_decide(d, dry_run=False), client.sent_http + client.sent_ws

    result, sent = asyncio.run(go())
    assert len(result.orders) == 2 and sent == 0
    assert [e.status for e in result.executions] == ["not sent", "not sent"]
    assert all(url in e.message for e in result.executions)
    assert result.outcome is Outcome.ORDERS_FAILED
    error = orders_error(result.model_dump(mode="json"))
    assert error is not None and error.exit_code == 5 and url in error.message


# --- the smaller defects ---------------------------------------------------------------------


def test_cancel_refuses_a_negative_quantity_and_cancels_nothing(home: Path) -> None:
    # A limit at the day's lower limit: booked, never filled.
    from datetime import datetime

    from quartz_cli.sim import SimConfig, SimState, Simulator

    sim = Simulator(SimState(), SimConfig(), cache_dir=home / "cache")
    lower = sim.market.quote("005930", datetime.fromisoformat(MARKET_TIME)).limits.lower
    placed = run_quartz(home, "trade", "buy", "005930", "1", "--limit", str(lower), "--json")
    assert placed.returncode == 0, placed.stderr
    order_no = json.loads(placed.stdout)["order_no"]

    refused = run_quartz(home, "trade", "cancel", order_no, "--qty", "-3", "--json")
    still = run_quartz(home, "trade", "orders", "--open", "--json")

    assert refused.returncode == 4
    assert json.loads(refused.stdout)["error"] == "InputError" and "--qty -3" in refused.stderr
    assert [(o["order_no"], o["cancelable_qty"]) for o in json.loads(still.stdout)["orders"]] \
        == [(order_no, 1)]


@pytest.mark.parametrize("width", [60, 80])
def test_the_order_number_is_never_cut(width: int) -> None:
    from rich.console import Console

    from quartz_cli.cli.trade import _render_orders

    number = "0000123456789"
    recent = {"open": False, "orders": [{
        "request_id": "cli-" + "a" * 32, "state": "accepted", "action": "buy",
        "order_type": "limit", "ticker": "005930", "qty": 1000, "order_no": number,
        "filled_qty": 0, "avg_fill_price": None}]}
    open_ = {"open": True, "orders": [{
        "order_no": number, "ticker": "005930", "name": "삼성전자우선주식회사", "side": "buy",
        "qty": 1000, "price": 1_234_000, "filled_qty": 0, "cancelable_qty": 1000,
        "ordered_at": "2026-11-24T10:00:00+09:00"}]}
    for data in (recent, open_):
        con = Console(width=width, record=True, file=io.StringIO())
        _render_orders(data)(con)
        assert number in con.export_text(), data["open"]


def test_declining_the_prod_prompt_is_exit_9_and_sends_nothing(home: Path) -> None:
    proc = run_quartz(home, "trade", "cancel", "0000000001", stdin="n\n", **PROD_KEYS)

    assert proc.returncode == 9, proc.stderr
    assert proc.stdout == ""
    assert "REAL MONEY (prod): cancel order 0000000001. Send? [y/N]" in proc.stderr
    assert "not confirmed: cancel order 0000000001 was not sent" in proc.stderr
    assert "Aborted" not in proc.stderr


def test_no_answer_at_the_prompt_is_a_refusal_too(home: Path) -> None:
    proc = run_quartz(home, "--json", "trade", "cancel", "0000000001", stdin="", **PROD_KEYS)

    assert proc.returncode == 9, proc.stderr
    assert json.loads(proc.stdout)["error"] == "Declined"


def test_decide_help_says_what_a_dry_run_stores(home: Path) -> None:
    text = " ".join(run_quartz(home, "decide", "--help").stdout.split())

    assert "store nothing" not in text
    assert "store no decision" in text and "produced and stored" in text


def test_a_second_auth_refresh_within_a_minute_keeps_the_token(home: Path) -> None:
    first = run_quartz(home, "auth", "refresh", "--json")
    second = run_quartz(home, "auth", "refresh", "--json")

    assert first.returncode == 0 and second.returncode == 0, second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert b["reused"] is True and b["issued_at"] == a["issued_at"]
    assert "one token a minute" in b["note"] and b["next_issue_at"] > a["issued_at"]
    assert "waiting" not in second.stderr


def test_a_chart_names_every_ticker_it_leaves_out() -> None:
    from quartz_cli.cli.technical_chart import MAX_TICKERS, chart_plan
    from quartz_cli.domain.technical import TechnicalResult

    codes = [f"{100000 + i:06d}" for i in range(MAX_TICKERS + 2)]
    results = [TechnicalResult(code="999990", ok=False, error="unknown", exit_code=4)]
    results += [TechnicalResult(code=c, ok=True) for c in codes]
    # The last ticker has daily bars but no weekly ones.
    charts = {(c, p): object() for c in codes for p in ("D", "W")} | {("200000", "D"): object()}
    results.append(TechnicalResult(code="200000", ok=True))

    drawn, left_out = chart_plan(results, charts, ["D", "W"])

    assert [r.code for r in drawn] == codes[:MAX_TICKERS]
    assert left_out == {"999990": "analysis failed", "200000": "no bars to draw",
                        codes[-2]: f"at most {MAX_TICKERS} tickers per chart",
                        codes[-1]: f"at most {MAX_TICKERS} tickers per chart"}
