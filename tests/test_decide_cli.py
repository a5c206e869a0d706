"""`quartz decide` and `quartz rebalance` end to end in `local`: the real console script, the
in-process simulator, the other agents producing their documents first on a fresh home."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources

import jsonschema
import pytest

from cli import quartz
from quartz_cli.domain.krx import is_on_tick
from trading_support import seed_calendar, trading_server

# A Tuesday inside the regular session, and a Saturday.
IN_SESSION = "2026-11-24T10:00:00+09:00"
WEEKEND = "2026-11-28T10:00:00+09:00"


@pytest.fixture
def home(quartz_home, calendar_cache):
    """A fresh QUARTZ_HOME with the KRX calendar already cached (saves ~2 s per process)."""
    seed_calendar(quartz_home, calendar_cache)
    return quartz_home


def schema():
    text = (resources.files("quartz_cli.schemas") / "decision-plan.schema.json").read_text("utf-8")
    return json.loads(text)


def run_json(*args: str, env: dict[str, str], code: int = 0) -> dict:
    proc = quartz(*args, "--json", env=env, timeout=240)
    assert proc.returncode == code, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, schema())
    return doc


def check_orders(plan: dict) -> None:
    """Every order of a plan satisfies the gate's constraints."""
    total = plan["inputs"]["total_value_krw"]
    cash = plan["inputs"]["cash_krw"]
    held = {h["ticker"]: h for h in plan["inputs"]["holdings"]}
    buys = [o for o in plan["orders"] if o["side"] == "BUY"]
    assert len(buys) <= 3
    assert sum(o["notional_krw"] + o["est_fees_krw"] for o in buys) <= cash
    assert sum(o["notional_krw"] for o in plan["orders"]) <= Decimal("0.3") * total
    for o in plan["orders"]:
        assert is_on_tick(o["limit_price"]) and o["qty"] > 0
        if o["side"] == "BUY":
            qty = held.get(o["ticker"], {}).get("qty", 0) + o["qty"]
            assert qty * o["limit_price"] <= Decimal("0.2") * total
            assert o["notional_krw"] >= 100_000
        else:
            assert o["qty"] <= held[o["ticker"]]["sellable_qty"]


@pytest.mark.slow
def test_fresh_home_dry_run_then_real_run_then_rebalance(home):
    env = {"QUARTZ_MARKET_TIME": IN_SESSION}
    plan = run_json("decide", "--dry-run", env=env)
    assert plan["dry_run"] and plan["outcome"] in ("orders_planned", "nothing_to_do")
    assert plan["engine"]["is_rules"] and plan["engine"]["fallback"] == "configured"
    assert set(plan["inputs"]["produced"]) >= {"macro", "candidates", "technical"}
    notes = " ".join(plan["inputs"]["data_notes"])
    assert "SAMPLE DATA" in notes and "SYNTHETIC" in notes and "synthetic sample market" in notes
    assert plan["inputs"]["candidates"] and plan["decisions"]
    assert plan["session"]["accepts_orders"] is True
    check_orders(plan)
    assert plan["orders"], "the demo account starts in cash: the rules should buy something"
    store = home / "store" / "local"
    assert not (store / "decisions").exists(), "a dry run stores nothing"

    # Human rendering of the same run.
    proc = quartz("decide", "--dry-run", env=env)
    assert proc.returncode == 0, proc.stderr
    for heading in ("Inputs", "decisions", "orders", "weights", "orders planned",
                    "data: macro: SAMPLE DATA"):
        assert heading in proc.stdout

    before = json.loads(quartz("trade", "balance", "--json", env=env).stdout)
    real = run_json("decide", env=env)
    assert not real["dry_run"] and real["outcome"] == "orders_sent", real["executions"]
    check_orders(real)
    after = json.loads(quartz("trade", "balance", "--json", env=env).stdout)
    held_before = {p["ticker"]: p["qty"] for p in before["positions"]}
    held_after = {p["ticker"]: p["qty"] for p in after["positions"]}
    expected = dict(held_before)
    for o in real["orders"]:
        expected[o["ticker"]] = expected.get(o["ticker"], 0) + (
            o["qty"] if o["side"] == "BUY" else -o["qty"])
    assert {t: q for t, q in expected.items() if q} == held_after
    # Trades settle T+2: the D+2 cash shows them, commission and tax included.
    spent = before["d2_cash_krw"] - after["d2_cash_krw"]
    assert 0 < spent <= sum(o["notional_krw"] + o["est_fees_krw"] for o in real["orders"]
                            if o["side"] == "BUY")
    latest = json.loads((store / "decisions" / "latest.json").read_text())
    stored = json.loads((store / latest["key"]).read_text())
    assert stored["run_id"] == real["run_id"] and stored["orders"] == real["orders"]

    # A macro summary older than QUARTZ_MACRO_MAX_AGE_H reads as `uncertain`.
    stale = run_json("decide", "--dry-run", env={**env, "QUARTZ_MACRO_MAX_AGE_H": "0.0001"})
    assert stale["inputs"]["macro"]["stale"] and stale["inputs"]["macro"]["bias"] == "uncertain"
    assert any("stale" in n for n in stale["notes"])
    assert "macro" not in stale["inputs"]["produced"]

    # Tight thresholds make any move an exit; the interval is the seed's 5–10 minutes. The
    # next trading day: the decide above used the day's turnover cap.
    tight = {**env, "QUARTZ_MARKET_TIME": "2026-11-25T13:00:00+09:00",
             "QUARTZ_STOP_LOSS_PCT": "-0.01", "QUARTZ_TAKE_PROFIT_PCT": "0.01"}
    reb = run_json("rebalance", "--dry-run", env=tight)
    assert 5 <= reb["next_check_minutes"] <= 10
    sells = {d["ticker"] for d in reb["decisions"] if d["action"] == "SELL"}
    assert sells and all("stop-loss" in d["rationale"] or "take-profit" in d["rationale"]
                         for d in reb["decisions"] if d["action"] == "SELL")
    assert {o["ticker"] for o in reb["orders"]} <= sells
    sold = run_json("rebalance", env=tight)
    assert sold["outcome"] == "orders_sent" and sold["orders"], sold["gate"]
    balance = json.loads(quartz("trade", "balance", "--json", env=tight).stdout)
    left = {p["ticker"]: p["qty"] for p in balance["positions"]}
    for o in sold["orders"]:
        assert left.get(o["ticker"], 0) == held_after[o["ticker"]] - o["qty"]

    # The account's event log tells the day: each real run's decision, the exits that
    # triggered, and every order's lifecycle under its request_id (issue 16).
    from quartz_cli.store.event_log import SqliteEventLog

    events = SqliteEventLog(home / "trading" / "local-ledger.db", "test").since(0, limit=5000)
    decisions = {e.run_id: e.data for e in events if e.type == "decision.made"}
    assert decisions[real["run_id"]]["orders_planned"] == len(real["orders"])
    assert decisions[sold["run_id"]]["kind"] == "rebalance"
    exits = {e.data["ticker"] for e in events if e.type.startswith("exit.")
             and e.run_id == sold["run_id"]}
    assert {o["ticker"] for o in sold["orders"]} <= exits
    for o in real["orders"] + sold["orders"]:
        kinds = [e.type for e in events if e.request_id == o["request_id"]]
        assert kinds[:2] == ["order.requested", "order.sent"], kinds
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_broker_failure_is_exit_5_with_a_message(home):
    env = {"QUARTZ_MARKET_TIME": IN_SESSION, "QUARTZ_SIM_ERROR_5XX_RATE": "1"}
    proc = quartz("decide", "--dry-run", "--json", env=env)
    assert proc.returncode == 5
    assert json.loads(proc.stdout)["error"] == "BrokerError"
    assert "error:" in proc.stderr and "503" in proc.stderr


def test_real_run_outside_the_session_says_market_closed_and_exits_0(home):
    env = {"QUARTZ_MARKET_TIME": WEEKEND}
    proc = quartz("decide", env=env)
    assert proc.returncode == 0 and "market closed" in proc.stdout
    assert not (home / "store" / "local" / "decisions").exists()
    doc = run_json("decide", "--detailed-exit-codes", env=env, code=12)
    assert doc["outcome"] == "market_closed" and doc["session"]["refusal"] == "krx_holiday"
    assert doc["inputs"] is None


@pytest.mark.slow
def test_openai_engine_through_the_cli_with_fallback_and_budget(home):
    from fakes.openai import FakeOpenAI
    from fakes.server import LoopbackServer

    fake = FakeOpenAI()
    with LoopbackServer(fake.app) as srv:
        env = {"QUARTZ_MARKET_TIME": IN_SESSION, "QUARTZ_DECISION_ENGINE": "openai",
               "GPT_API_KEY": "sk-fake-0123456789", "QUARTZ_OPENAI_BASE_URL": f"{srv.url}/v1",
               "QUARTZ_LLM_TIMEOUT_S": "5"}
        # The first run produces the inputs; the fake has no reply → HTTP 500 → rules.
        plan = run_json("decide", "--dry-run", "--detailed-exit-codes", env=env, code=13)
        assert plan["engine"]["fallback"] == "llm_failed" and plan["engine"]["is_rules"]
        allowed = next(d["ticker"] for d in plan["decisions"] if d["action"] == "BUY")
        fake.reply({"decisions": [{"ticker": allowed, "action": "BUY", "target_weight": 0.9,
                                   "confidence": 0.9, "rationale": "scripted"}]})
        plan = run_json("decide", "--dry-run", "--detailed-exit-codes", env=env, code=10)
        eng = plan["engine"]
        assert eng["name"] == "openai:gpt-4o-mini" and eng["fallback"] is None
        assert eng["usage"][0]["prompt_tokens"] == 900 and eng["usage"][0]["cost_usd"] > 0
        assert [d["rationale"] for d in plan["decisions"]] == ["scripted"]
        gate = {(n["ticker"], n["rule"]) for n in plan["gate"]}
        assert (allowed, "max_single_ticker_weight") in gate
        assert [o["ticker"] for o in plan["orders"]] == [allowed]
        assert "sk-fake-0123456789" not in json.dumps(plan)
        fake.reply('{"decisions": [')
        plan = run_json("decide", "--dry-run", "--detailed-exit-codes", env=env, code=13)
        assert plan["engine"]["fallback"] == "llm_bad_answer"
        plan = run_json("decide", "--dry-run", "--detailed-exit-codes",
                        env={**env, "QUARTZ_LLM_BUDGET_DAY_USD": "0"}, code=14)
        assert plan["engine"]["fallback"] == "budget_exhausted"
        assert len(fake.requests) == 3


@pytest.mark.slow
def test_orders_go_through_the_trading_server_when_its_url_is_set(home):
    env = {"QUARTZ_MARKET_TIME": IN_SESSION}
    with trading_server(env, home / "serve.log") as ws_url:
        remote = {**env, "TRADING_AGENT_WS_URL": ws_url}
        plan = run_json("decide", env=remote)
        listed = quartz("trade", "orders", "--json", env=remote)
    assert plan["orders"] and plan["outcome"] == "orders_sent", plan["executions"]
    assert all(e["status"] in ("accepted", "filled") and e["order_no"]
               for e in plan["executions"])
    served = {o["request_id"] for o in json.loads(listed.stdout)["orders"]}
    assert {o["request_id"] for o in plan["orders"]} <= served

