"""Decision engines: the rule strategy, and the real openai client against a fake endpoint
(good answers, malformed JSON, unknown tickers, weights above the cap, negative weights,
weights summing above 1, HTTP errors, a timeout) with fallback and budget."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from fakes.openai import Delay, FakeOpenAI
from fakes.server import LoopbackServer
from quartz_cli.agents.decision_engine import (
    Fallback,
    StoreUsageLedger,
    decide_with_fallback,
)
from quartz_cli.domain.budget import LLMBudget
from quartz_cli.domain.decision import (
    Constraints,
    FundamentalView,
    MacroBias,
    MacroSummaryView,
    PortfolioView,
    Position,
    Quote,
    TechnicalView,
)
from quartz_cli.domain.decision_input import build_decision_input
from quartz_cli.domain.krx import price_limits
from quartz_cli.domain.orders import Side
from quartz_cli.domain.risk import NoteKind, Rule, run_gate
from quartz_cli.domain.usage import Usage
from quartz_cli.llm.decision_openai import OpenAIDecisionEngine
from quartz_cli.llm.decision_rules import RulesDecisionEngine
from quartz_cli.llm.openai import OpenAIClient
from quartz_cli.store.local import LocalStore

TODAY = date(2026, 11, 24)
BULL = TechnicalView(close=71_000, rsi14=45, macd_hist=120.0, bb_percent_b=0.6,
                     sma5=70_500, sma20=68_000, ma_alignment="bullish")
BEAR = TechnicalView(close=180_000, rsi14=78, macd_hist=-300.0, bb_percent_b=1.2,
                     sma5=175_000, sma20=181_000)


def q(ticker: str, price: int) -> Quote:
    lim = price_limits(price)
    return Quote(ticker=ticker, price=price, base=price, upper=lim.upper, lower=lim.lower)


QUOTES = {"005930": q("005930", 71_000), "000660": q("000660", 182_000),
          "035420": q("035420", 215_500)}


def decision_input(bias: MacroBias = MacroBias.NEUTRAL):
    pf = PortfolioView(cash_krw=20_000_000, positions=(
        Position(ticker="000660", name="SK하이닉스", qty=20, sellable_qty=20,
                 avg_price=170_000, price=182_000),))
    return build_decision_input(
        now_utc=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
        macro=MacroSummaryView(positive_summary="exports up", negative_summary="rates high",
                        market_bias_hint=bias, stale=False),
        portfolio=pf,
        tickers=[("005930", "삼성전자"), ("035420", "NAVER"), ("000660", "SK하이닉스")],
        technical={"005930": BULL, "000660": BEAR},
        fundamentals={"005930": FundamentalView(sentiment=0.5, candidate=True),
                      "035420": FundamentalView(sentiment=0.9, candidate=True)},
        quotes=QUOTES,
        constraints=Constraints(),
    )


def test_allowances_are_computed_before_asking():
    req = decision_input()
    by = {e.ticker: e for e in req.universe}
    assert Side.BUY in by["005930"].allowed.sides
    # No technical data: not bought, whatever the news says (only a hold is allowed).
    assert by["035420"].allowed.sides == ()
    assert "no technical data" in by["035420"].allowed.reason
    assert Side.SELL in by["000660"].allowed.sides and by["000660"].allowed.max_sell_qty == 20
    # 20 % of 23,640,000 at 71,000 → 66 shares.
    assert by["005930"].allowed.max_buy_qty == 66


def test_rules_engine_is_deterministic_and_says_so():
    req = decision_input()
    a = RulesDecisionEngine().decide_now(req)
    b = RulesDecisionEngine().decide_now(req)
    assert a == b and a.is_rules and a.engine.startswith("rules:")
    by = {p.ticker: p for p in a.proposals}
    assert by["005930"].side is Side.BUY and 0 < by["005930"].target_weight <= 0.2
    assert by["000660"].side is Side.SELL and by["000660"].target_weight == 0
    assert by["035420"].side is None
    assert all(p.rationale.startswith("rules:") for p in a.proposals)


def test_rules_engine_is_more_cautious_under_a_bearish_macro_bias():
    pos = RulesDecisionEngine().decide_now(decision_input(MacroBias.BULLISH))
    neg = RulesDecisionEngine().decide_now(decision_input(MacroBias.BEARISH))
    w = {p.ticker: p.target_weight for p in pos.proposals}
    wn = {p.ticker: p.target_weight for p in neg.proposals if p.side is Side.BUY}
    assert wn.get("005930", 0) < w["005930"]


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI()
    with LoopbackServer(fake.app) as srv:
        yield fake, f"{srv.url}/v1"


def engine(base_url: str, timeout_s: float = 5.0) -> OpenAIDecisionEngine:
    return OpenAIDecisionEngine(OpenAIClient("sk-test-key-0001", "gpt-4o-mini", base_url=base_url,
                                             timeout_s=timeout_s, max_retries=0))


def run(req, llm, ledger, budget=LLMBudget()):
    return asyncio.run(decide_with_fallback(req, llm=llm, rules=RulesDecisionEngine,
                                            configured_reason="", budget=budget,
                                            ledger=ledger, run_id="run1", today=TODAY))


def good(decisions):
    return {"decisions": [dict(zip(("ticker", "action", "target_weight", "confidence",
                                    "rationale"), d, strict=True)) for d in decisions]}


def test_openai_answer_is_used_with_usage_and_cost_recorded(fake_openai, tmp_path):
    fake, url = fake_openai
    fake.reply(good([("005930", "BUY", 0.15, 0.8, "uptrend"),
                     ("000660", "SELL", 0.0, 0.7, "overbought"),
                     ("035420", "HOLD", 0.0, 0.3, "no data")]))
    ledger = StoreUsageLedger(LocalStore(tmp_path / "store"))
    out = run(decision_input(), engine(url), ledger)
    assert out.fallback is None and out.answer.engine == "openai:gpt-4o-mini"
    assert out.usage[0] == Usage("gpt-4o-mini", 900, 300,
                                       (900 * 0.15 + 300 * 0.60) / 1_000_000)
    assert ledger.spent_on(TODAY) == pytest.approx(out.usage[0].cost_usd)
    sent = fake.requests[0]["body"]
    assert sent["model"] == "gpt-4o-mini"
    fmt = sent["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    item = fmt["json_schema"]["schema"]["properties"]["decisions"]["items"]
    assert item["properties"]["ticker"]["enum"] == ["005930", "035420", "000660"]
    assert fake.requests[0]["authorization"] == "Bearer sk-test-key-0001"


@pytest.mark.parametrize("reply,kind", [
    ('{"decisions": [{"ticker": "005930", "action": "BUY"', Fallback.BAD_ANSWER),
    ({"decisions": [{"ticker": "005930", "action": "MAYBE", "target_weight": 0.1,
                     "confidence": 0.5, "rationale": "x"}]}, Fallback.BAD_ANSWER),
    (good([("005930", "BUY", -0.1, 0.5, "short it")]), Fallback.BAD_ANSWER),
    (good([("005930", "BUY", 0.7, 0.5, "a"), ("000660", "HOLD", 0.5, 0.5, "b")]),
     Fallback.BAD_ANSWER),
    (500, Fallback.LLM_FAILED),
    (429, Fallback.LLM_FAILED),
])
def test_bad_answers_fall_back_to_rules(fake_openai, tmp_path, reply, kind):
    fake, url = fake_openai
    fake.reply(reply)
    ledger = StoreUsageLedger(LocalStore(tmp_path / "store"))
    out = run(decision_input(), engine(url), ledger)
    assert out.fallback is kind
    assert out.answer.is_rules and "rule engine decided instead" in out.detail
    assert out.answer.notes and "rule engine" in out.answer.notes[0]
    if kind is Fallback.BAD_ANSWER:
        # The tokens were spent, so they count against the budget.
        assert ledger.spent_on(TODAY) > 0


def test_timeout_falls_back(fake_openai, tmp_path):
    fake, url = fake_openai
    fake.reply(Delay(3.0, good([("005930", "BUY", 0.1, 0.5, "late")])))
    out = run(decision_input(), engine(url, timeout_s=0.3), StoreUsageLedger(LocalStore(tmp_path)))
    assert out.fallback is Fallback.LLM_FAILED and "timed out" in out.detail


def test_unknown_tickers_and_weights_above_cap_reach_the_gate(fake_openai, tmp_path):
    fake, url = fake_openai
    fake.reply(good([("005930", "BUY", 0.5, 0.9, "strong"), ("999999", "BUY", 0.1, 0.9, "ghost"),
                     ("035420", "BUY", 0.1, 0.9, "news")]))
    req = decision_input()
    out = run(req, engine(url), StoreUsageLedger(LocalStore(tmp_path)))
    assert out.fallback is None and "999999" in out.answer.notes[0]
    allowances = {e.ticker: e.allowed for e in req.universe}
    gate = run_gate(out.answer.proposals, req.portfolio, QUOTES, req.constraints,
                    {e.ticker for e in req.universe}, allowances=allowances)
    notes = {(n.ticker, n.kind, n.rule) for n in gate.notes}
    assert ("999999", NoteKind.DROPPED, Rule.NOT_IN_UNIVERSE) in notes
    assert ("005930", NoteKind.CUT, Rule.MAX_SINGLE_TICKER_WEIGHT) in notes
    assert ("035420", NoteKind.DROPPED, Rule.ACTION_NOT_ALLOWED) in notes
    order = {o.ticker: o for o in gate.orders}["005930"]
    assert order.notional <= Decimal("0.2") * req.portfolio.total_value


def test_budget_exhausted_skips_the_call(fake_openai, tmp_path):
    fake, url = fake_openai
    ledger = StoreUsageLedger(LocalStore(tmp_path))
    ledger.record(TODAY, Usage("gpt-4o-mini", 0, 0, 0.999), "earlier")
    out = run(decision_input(), engine(url), ledger, LLMBudget(per_run_usd=0.05, per_day_usd=1.0))
    assert out.fallback is Fallback.BUDGET and "day budget" in out.detail
    assert fake.requests == []
    out = run(decision_input(), engine(url), StoreUsageLedger(LocalStore(tmp_path / "b")),
              LLMBudget(per_run_usd=0.000001, per_day_usd=1.0))
    assert out.fallback is Fallback.BUDGET and "run budget" in out.detail


def test_an_empty_universe_is_not_sent_to_the_llm(fake_openai, tmp_path):
    fake, url = fake_openai
    empty = decision_input().model_copy(update={"universe": ()})
    out = run(empty, engine(url), StoreUsageLedger(LocalStore(tmp_path)))
    assert out.answer.proposals == () and "not asked" in out.detail
    assert fake.requests == []
