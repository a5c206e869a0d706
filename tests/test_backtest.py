"""The backtest over the simulator's synthetic market: no look-ahead (a day's decision input
is byte-identical whether or not later bars exist), the owner's pre-trade stage, a stored
run and `quartz backtest show`."""

from __future__ import annotations

import asyncio
import json
from datetime import date, time
from pathlib import Path

import pytest

from cli import quartz_json
from quartz_cli.agents.backtest import Backtest, BarPanel, Settings
from quartz_cli.calendars import krx_calendar
from quartz_cli.domain.backtest_run import BacktestRun, DataFingerprints
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.universe import bundled_universe
from quartz_cli.errors import InputError
from quartz_cli.llm.decision_rules import RulesDecisionEngine
from quartz_cli.sim.market import SampleMarket
from quartz_cli.store.local import LocalStore
from trading_support import seed_calendar

CODES = ("005930", "000660", "035420", "051910", "005380", "068270")
START, D, LATER = date(2025, 3, 4), date(2025, 3, 14), date(2025, 5, 30)


@pytest.fixture(scope="module")
def market(calendar_cache: Path) -> tuple[BarPanel, KrxCalendar]:
    from datetime import datetime

    from quartz_cli.domain.krx import KST

    calendar = krx_calendar(calendar_cache)
    sample = SampleMarket(bundled_universe(), calendar)
    at = datetime.combine(LATER, time(16), KST)
    bars = {c: sample.bars(c, at) for c in CODES}
    return BarPanel(bars, dict.fromkeys(CODES, "")), calendar


def run(panel: BarPanel, calendar: KrxCalendar, tmp: Path, end: date,
        at: time = time(15, 30)) -> Backtest:
    bt = Backtest(Settings(start=START, end=end, universe=CODES, decision_time=at),
                  panel, calendar, LocalStore(tmp), RulesDecisionEngine, lambda c: c)

    async def drive() -> None:
        for day in bt.remaining():
            await bt.step(day)

    asyncio.run(drive())
    return bt


@pytest.mark.parametrize("at", [time(15, 30), time(8, 50)])
def test_no_look_ahead_a_days_decision_input_ignores_later_bars(market, tmp_path, at):
    panel, calendar = market
    full = run(panel, calendar, tmp_path / "a", D, at)
    cut = run(panel.cut(D), calendar, tmp_path / "b", D, at)
    for a, b in zip(full.days, cut.days, strict=True):
        assert a.decision is not None and b.decision is not None
        assert a.decision.model_dump_json() == b.decision.model_dump_json(), a.day
    # The same day with the future present decided on something: not a vacuous equality.
    last = full.days[-1].decision
    assert last is not None and last.universe and last.portfolio.cash_krw > 0
    assert all(e.technical is not None for e in last.universe)
    # Every order filled at a later session than its decision, at that session's open or
    # better: nothing at the decision bar's close.
    fills = [f for d in full.days for f in d.fills if f.qty]
    assert fills
    for f in fills:
        bar = panel.on(f.ticker, f.day)
        assert bar is not None
        assert (f.price <= bar.open) if f.side.value == "BUY" else (f.price >= bar.open)


def test_orders_pass_the_owners_pretrade_stage(market, tmp_path):
    panel, calendar = market
    bt = Backtest(Settings(start=START, end=D, universe=CODES, cash=30_000_000), panel,
                  calendar, LocalStore(tmp_path), RulesDecisionEngine, lambda c: c)
    # Two sells of a position held once: the second is refused as pretrade:held_qty.
    from quartz_cli.agents.backtest import Holding
    from quartz_cli.domain.orders import Side
    from quartz_cli.domain.plan import PlanOrder

    bt.book.holdings["005930"] = Holding(10, 50_000)
    price = panel.upto("005930", D)[-1].close
    sell = PlanOrder(request_id="r1", ticker="005930", name="", side=Side.SELL, qty=10,
                     limit_price=price, notional_krw=10 * price, est_fees_krw=0, rationale="")
    ok, refused = bt.pretrade([sell, sell.model_copy(update={"request_id": "r2"})],
                              calendar.next(D) or D, bt.book)
    assert [p.order.request_id for p in ok] == ["r1"]
    assert len(refused) == 1 and "pretrade:held_qty" in refused[0]


@pytest.mark.slow  # three starts of the console script (~3 s each on the CI machine)
def test_cli_run_is_stored_and_shown(quartz_home, calendar_cache):
    seed_calendar(quartz_home, calendar_cache)
    doc = quartz_json("backtest", "--from", "2025-03-03", "--to", "2025-03-21",
                      "--universe", ",".join(CODES[:4]), "--cash", "20000000")
    assert doc["status"] == "complete" and doc["sessions_done"] == 14  # 3 March 2025 was a holiday
    assert doc["performance"]["start_value"] == 20_000_000
    assert doc["days"][-1]["value_krw"] == doc["performance"]["end_value"]
    assert "SYNTHETIC" in doc["source"]
    assert doc["benchmark"]["name"].startswith("SYNTHETIC KOSPI")
    assert doc["benchmark"]["performance"]["end_value"] == doc["days"][-1]["benchmark_krw"]
    assert set(doc["data"]["fingerprints"]) == set(CODES[:4])
    shown = quartz_json("backtest", "show", doc["id"])
    assert shown["performance"] == doc["performance"]
    compared = quartz_json("backtest", "compare", doc["id"], doc["id"])
    assert compared["difference"]["total_return"] == 0
    stored = quartz_home / "store" / "local" / "backtests" / doc["id"]
    assert (stored / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((stored / "run.json").read_text())["id"] == doc["id"]


@pytest.mark.slow  # a whole local decide (macro and selection produced first), ~6 s
def test_a_backtest_day_plans_the_orders_of_decide_dry_run(quartz_home, calendar_cache,
                                                          monkeypatch):
    """Parity: after the close of 2026-11-20, `decide --dry-run` in local and the backtest's
    day over the same bars, account and macro/candidates documents plan the same orders."""
    from quartz_cli.agents.backtest import Holding
    from quartz_cli.agents.portfolio import run_decide, run_rebalance
    from quartz_cli.app.backtest import load_panel
    from quartz_cli.app.portfolio import name_of, open_portfolio
    from quartz_cli.config import load_config

    seed_calendar(quartz_home, calendar_cache)
    monkeypatch.setenv("QUARTZ_MARKET_TIME", "2026-11-20T16:00:00+09:00")
    monkeypatch.setenv("QUARTZ_SIM_RATE_LIMIT_PER_S", "0")
    config = load_config("local")

    async def live():
        async with open_portfolio(config, dry_run=True) as deps:
            return (await run_decide(deps, dry_run=True),
                    await run_rebalance(deps, dry_run=True), await deps.account.portfolio(),
                    deps.inputs, deps.store)

    plan, exits, pf, documents, store = asyncio.run(live())
    assert plan.orders, "the live plan should trade for the comparison to mean something"
    day = date(2026, 11, 20)
    universe = tuple(dict.fromkeys([*(c.ticker for c in plan.inputs.candidates),
                                    *(p.ticker for p in pf.positions)]))
    settings = Settings(start=day, end=day, universe=universe, decision_time=time(16),
                        cash=pf.cash_krw, constraints=config.constraints(),
                        exit_rules=config.exit_rules())
    panel, _ = load_panel(config, store, settings)
    bt = Backtest(settings, panel, krx_calendar(calendar_cache), store, RulesDecisionEngine,
                  name_of, documents=documents)
    for p in pf.positions:
        bt.book.holdings[p.ticker] = Holding(p.qty, p.avg_price)
        bt.book.prices[p.ticker] = p.price
    got = asyncio.run(bt.decide(day, bt.book))

    def key(orders):
        return [(o.ticker, o.side, o.qty, o.limit_price, o.rationale) for o in orders]

    assert key(got.decided) == key(plan.orders)
    assert key(got.exits) == key(exits.orders)
    assert got.engine == plan.engine.name


def test_a_run_stopped_and_resumed_ends_as_one_run_through(market, tmp_path):
    from datetime import UTC, datetime

    from quartz_cli.agents.backtest import report_document

    panel, calendar = market
    whole = run(panel, calendar, tmp_path / "a", D)
    first = Backtest(Settings(start=START, end=D, universe=CODES), panel, calendar,
                     LocalStore(tmp_path / "b"), RulesDecisionEngine, lambda c: c)

    async def some() -> None:
        for day in first.remaining()[:4]:
            await first.step(day)

    asyncio.run(some())
    now = datetime(2026, 11, 29, tzinfo=UTC)
    stored = report_document(first, run="bt-x", produced_at=now, interrupted=True)
    partial = BacktestRun.model_validate_json(stored.model_dump_json())
    assert partial.status.startswith("interrupted after 2025-03-07 (4 of 9 sessions)")
    second = Backtest(Settings.of(partial.settings), panel, calendar,
                      LocalStore(tmp_path / "b"), RulesDecisionEngine, lambda c: c)
    second.restore(partial)

    async def rest() -> None:
        for day in second.remaining():
            await second.step(day)

    asyncio.run(rest())
    a = report_document(whole, run="bt-x", produced_at=now, interrupted=False)
    b = report_document(second, run="bt-x", produced_at=now, interrupted=False)
    assert b.status == "complete"
    assert b.performance == a.performance and b.days == a.days
    assert a.performance is not None and a.performance.trades > 0
    changed = partial.model_copy(update={"data": DataFingerprints(fingerprints={})})
    with pytest.raises(InputError, match="bars differ"):
        second.restore(changed)


def test_recorded_llm_answers_replay_to_the_same_plan_and_a_missing_one_falls_back(
        market, tmp_path):
    from fakes.openai import FakeOpenAI
    from fakes.server import LoopbackServer
    from quartz_cli.llm.decision_openai import OpenAIDecisionEngine
    from quartz_cli.llm.openai import OpenAIClient
    from quartz_cli.llm.records import RecordingClient, ReplayClient

    panel, calendar = market
    store = LocalStore(tmp_path / "store")
    fake = FakeOpenAI()
    fake.reply({"decisions": [
        {"ticker": "005930", "action": "BUY", "target_weight": 0.15, "confidence": 0.8,
         "rationale": "uptrend"},
        {"ticker": "000660", "action": "HOLD", "target_weight": 0.0, "confidence": 0.5,
         "rationale": "flat"}]})

    def one_day(llm, where):
        bt = Backtest(Settings(start=D, end=D, universe=CODES,
                               engine="llm-replay"), panel, calendar, where,
                      RulesDecisionEngine, lambda c: c, llm=llm)
        return asyncio.run(bt.decide(D, bt.book))

    with LoopbackServer(fake.app) as srv:
        client = OpenAIClient("sk-test-key-0001", "gpt-4o-mini", base_url=f"{srv.url}/v1",
                              max_retries=0)
        live = one_day(OpenAIDecisionEngine(RecordingClient(client, store)), store)
        replayed = one_day(OpenAIDecisionEngine(ReplayClient(store, "gpt-4o-mini")), store)
        missing = one_day(OpenAIDecisionEngine(ReplayClient(LocalStore(tmp_path / "empty"),
                                                            "gpt-4o-mini")), store)
    assert len(fake.requests) == 1  # replay called no model
    assert live.engine == replayed.engine == "openai:gpt-4o-mini"
    assert [o.ticker for o in live.decided] == ["005930"]
    # The same plan (request ids carry a random run id).
    assert ([o.model_dump(exclude={"request_id"}) for o in replayed.decided]
            == [o.model_dump(exclude={"request_id"}) for o in live.decided])
    assert missing.engine.startswith("rules:") and "no recorded gpt-4o-mini answer" in \
        missing.engine
    assert len(store.list("llm-records/")) == 1


def test_a_delisted_ticker_stays_in_its_past(market, tmp_path):
    """A ticker whose bars end mid-run (delisted) is a candidate while it trades, never
    after; a position in it keeps its last close and nothing fills in it (no session)."""

    panel, calendar = market
    gone = date(2025, 3, 10)
    bars = dict(panel.bars)
    bars["005930"] = panel.upto("005930", gone)
    delisted = BarPanel(bars, dict(panel.names))
    bt = Backtest(Settings(start=START, end=D, universe=CODES), delisted, calendar,
                  LocalStore(tmp_path), RulesDecisionEngine, lambda c: c)

    async def drive() -> None:
        for day in bt.remaining():
            await bt.step(day)

    asyncio.run(drive())
    for rec in bt.days:
        assert rec.decision is not None
        offered = {e.ticker for e in rec.decision.universe if e.allowed.sides}
        if rec.day > gone:
            assert "005930" not in {e.ticker for e in rec.decision.universe
                                    if e.fundamental and e.fundamental.candidate}
            assert not [f for f in rec.fills if f.ticker == "005930" and f.qty]
        else:
            assert "005930" in {e.ticker for e in rec.decision.universe}
        assert offered
    held = [r for r in bt.days if r.day <= gone and any(
        f.ticker == "005930" and f.qty for f in r.fills)]
    assert held, "the run should trade the ticker before it goes, for this to test anything"
    if "005930" in bt.book.holdings:
        assert bt.book.prices["005930"] == bars["005930"][-1].close


def test_stored_runs_are_typed_listed_and_compared_in_80_columns(market, tmp_path):
    """Two runs stored through the store: read back as the same typed documents (the JSON
    keys the dashboard reads stay), listed oldest first, compared side by side."""
    import io
    from datetime import UTC, datetime

    from rich.console import Console

    from quartz_cli.agents.backtest import read_run, report_document, run_ids, store_run
    from quartz_cli.cli.backtest import comparison, render, render_compare, render_list
    from quartz_cli.domain.backtest_run import RunSummary

    panel, calendar = market
    store = LocalStore(tmp_path / "store")
    now = datetime(2026, 11, 29, tzinfo=UTC)
    runs = []
    for i, cash in enumerate((50_000_000, 20_000_000)):
        bt = Backtest(Settings(start=START, end=D, universe=CODES, cash=cash), panel,
                      calendar, store, RulesDecisionEngine, lambda c: c)
        asyncio.run(_drive(bt))
        doc = report_document(bt, run=f"bt-2026112{i}T000000-x", produced_at=now,
                              interrupted=False, source="SYNTHETIC test")
        store_run(store, doc, None)
        runs.append(doc)
    raw = json.loads(store.get(f"backtests/{runs[0].id}/run.json") or b"{}")
    assert raw["settings"]["from"] == START.isoformat() and raw["kind"] == "backtest"
    assert {"value_krw", "benchmark_krw", "fills"} <= set(raw["days"][0])
    assert raw["performance"]["end_value"] == raw["days"][-1]["value_krw"]
    a, b = (read_run(store, r.id) for r in runs)
    assert a == runs[0] and b.performance == runs[1].performance
    assert run_ids(store) == [runs[0].id, runs[1].id]
    summaries = [RunSummary.of(r) for r in (a, b)]
    assert summaries[1].model_dump(mode="json")["from"] == START.isoformat()
    assert a.performance and b.performance
    diff = comparison(a, b)["difference"]
    assert diff["start_value"] == 20_000_000 - 50_000_000
    assert diff["total_return"] == b.performance.total_return - a.performance.total_return
    for draw in (lambda out: render_compare(a, b, out), lambda out: render(a, out)):
        buf = io.StringIO()
        draw(Console(file=buf, width=80, color_system=None))
        text = buf.getvalue()
        table = [ln for ln in text.splitlines() if ln.startswith(("┃", "│", "┏", "└"))]
        assert table and all(len(ln) <= 80 for ln in table), text
    buf = io.StringIO()
    render_list(summaries, Console(file=buf, width=80, color_system=None))
    lines = buf.getvalue().splitlines()
    # Every line fits, and each id is whole on its row (what `show ID` takes).
    assert lines and all(len(ln) <= 80 for ln in lines), lines
    assert all(any(ln.startswith(r.id) for ln in lines) for r in (a, b)), lines
    buf = io.StringIO()
    render_compare(a, b, Console(file=buf, width=80, color_system=None))
    assert "50,000,000" not in buf.getvalue()  # end values, not the cash, are compared
    assert f"{a.performance.end_value:,}" in buf.getvalue()
    assert f"{b.performance.end_value:,}" in buf.getvalue()
    with pytest.raises(InputError, match="no stored backtest"):
        read_run(store, "bt-nope")


async def _drive(bt: Backtest) -> None:
    for day in bt.remaining():
        await bt.step(day)


def _macro_series(last: date):
    """Monthly series from 2019 through `last`'s month, with enough history for yoy votes."""
    from datetime import UTC, datetime

    from quartz_cli.domain.macro import Observation, SeriesData

    def monthly(sid, source, start, growth):
        obs, v, y, m = [], start, 2019, 1
        while date(y, m, 1) <= last:
            obs.append(Observation(date=date(y, m, 1), value=round(v, 3)))
            v *= 1 + growth
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return SeriesData(id=sid, source=source, observations=obs,
                          fetched_at=datetime(2026, 11, 1, tzinfo=UTC))

    return (monthly("kr.cpi", "ecos", 100.0, 0.004), monthly("kr.core_cpi", "ecos", 100, 0.001),
            monthly("kr.exports", "ecos", 50_000, 0.01), monthly("us.fed_funds", "fred", 2.4,
                                                                    -0.01),
            monthly("us.cpi", "fred", 250.0, 0.0015), monthly("us.core_cpi", "fred", 260, 0.0035))


def _publish_inputs(store, moments):
    """A macro summary (bias by moment) and a two-ticker candidates document at each moment."""
    from quartz_cli.agents.documents import publish
    from quartz_cli.domain.candidates import Candidate, CandidatesDocument, ScoreComponents
    from quartz_cli.domain.macro import MacroSummary

    for at, bias in moments:
        publish(store, "macro-analysis", MacroSummary(
            produced_at=at, env="local", sample_data=False, engine="rules:macro-v1",
            market_bias_hint=bias, positive_summary=f"{bias} +", negative_summary="-",
            summary=["s"], sources=[], missing_sources=[], cited_sources=[]),
            name="summary")
        comp = ScoreComponents(market_cap_tier=1, sentiment=0.5, news_count_norm=1, priority=1)
        publish(store, "candidates", CandidatesDocument(
            produced_at=at, env="local", weights={}, sentiment_engines=["lexicon"],
            window_hours=24, universe_size=6, articles=2, articles_matched=2,
            duplicates_dropped=0, sources=[], candidates=[
                Candidate(rank=i + 1, code=c, name=c, market="KOSPI", tier="LARGE", sector="",
                          score=0.9 - i / 10, components=comp, news_count=2, top_articles=[])
                for i, c in enumerate(("000660", "035420"))]))


@pytest.mark.parametrize("at", [time(15, 30), time(8, 50)])
def test_replayed_and_recomputed_inputs_see_nothing_after_the_day(market, tmp_path, at):
    """Day D's decision inputs are byte-identical whether or not the bars, the dated macro
    and candidates documents and the macro series' observations after D exist; the days
    that had a document read it (replayed), the others were recomputed, and each day says
    which."""
    from datetime import datetime, timedelta

    from quartz_cli.agents.backtest_inputs import (
        DatedHistory,
        DayInputSource,
        MacroRecompute,
        MacroSeries,
    )
    from quartz_cli.domain.krx import KST
    from quartz_cli.llm.macro_rules import rule_view

    panel, calendar = market
    decided = datetime.combine(D, at, KST)
    moments = [(datetime(2025, 3, 10, 20, tzinfo=KST), "bullish"),    # read on the 11th
               (decided + timedelta(hours=2), "bearish"),              # after D's decision
               (datetime(2025, 4, 1, 7, tzinfo=KST), "bearish")]       # weeks after D
    full_store, cut_store = LocalStore(tmp_path / "full"), LocalStore(tmp_path / "cut")
    _publish_inputs(full_store, moments)
    _publish_inputs(cut_store, [m for m in moments if m[0] <= decided])
    hours = timedelta(hours=24)

    def run_with(p, store, series):
        dated = DayInputSource(DatedHistory(store, macro_max_age=hours, candidates_max_age=hours),
                               MacroRecompute(MacroSeries(series), rule_view))
        bt = Backtest(Settings(start=START, end=D, universe=CODES, decision_time=at), p,
                      calendar, store, RulesDecisionEngine, lambda c: c, dated=dated)
        asyncio.run(_drive(bt))
        return bt

    full = run_with(panel, full_store, _macro_series(date(2025, 7, 1)))
    cut = run_with(panel.cut(D), cut_store, _macro_series(D))
    for a, b in zip(full.days, cut.days, strict=True):
        assert a.decision is not None and b.decision is not None
        assert a.decision.model_dump_json() == b.decision.model_dump_json(), a.day
        assert a.inputs == b.inputs
    by_day = {d.day: d for d in full.days}
    replay_day = date(2025, 3, 11)
    replayed = by_day[replay_day]
    assert replayed.inputs.macro == "replayed" and replayed.inputs.candidates == "replayed"
    assert replayed.inputs.macro_key and "2025/03/10/110000" in replayed.inputs.macro_key
    assert replayed.decision is not None
    assert replayed.decision.macro.market_bias_hint.value == "bullish"
    assert {"000660", "035420"} <= {e.ticker for e in replayed.decision.universe}
    recomputed = [d for d in full.days if d.inputs.macro == "recomputed"]
    assert recomputed and all(d.inputs.candidates == "recomputed" for d in recomputed)
    for d in recomputed:
        assert d.decision is not None and "rule engine" not in d.decision.macro.positive_summary
        assert d.decision.macro.positive_summary.startswith(tuple("0123456789"))
    # Nothing after D's decision was ever read, with or without it in the store.
    assert all(d.inputs.macro_key is None or d.inputs.macro_key.startswith(
        "macro-analysis/2025/03/10/") for d in full.days)
    from quartz_cli.agents.backtest import inputs_used
    used = inputs_used(full.days)
    assert any(r.startswith("macro (") for r in used.replayed)
    assert any(r.startswith("candidates (") for r in used.recomputed)


def test_the_universe_as_listed_each_day_keeps_a_delisted_ticker_in_its_past(calendar_cache,
                                                                             tmp_path):
    """One of the simulator's synthetic delisted listings (gone on 2023-11-16) in a run over
    its last weeks: in the universe and a candidate while listed, then out of both; its bars
    stop; the run records it as delisted."""
    from datetime import datetime

    from quartz_cli.domain.krx import KST
    from quartz_cli.domain.universe import Universe
    from quartz_cli.sim.master_files import delisted_listings
    from quartz_cli.sim.simulator import MARKET_SEED

    gone = next(x for x in delisted_listings(MARKET_SEED) if x.code == "911850")
    assert gone.delisted == date(2023, 11, 16)
    calendar = krx_calendar(calendar_cache)
    codes = (*CODES[:3], gone.code)
    sample = SampleMarket(Universe([*bundled_universe().listings, gone]), calendar)
    at = datetime.combine(date(2023, 12, 29), time(16), KST)
    panel = BarPanel({c: sample.bars(c, at) for c in codes}, dict.fromkeys(codes, ""))
    assert panel.bars[gone.code][-1].day == date(2023, 11, 15)  # its last session
    assert panel.bars[gone.code][0].day >= gone.listed
    bt = Backtest(Settings(start=date(2023, 11, 9), end=date(2023, 11, 22), universe=codes),
                  panel, calendar, LocalStore(tmp_path), RulesDecisionEngine, lambda c: c,
                  listings={gone.code: gone})
    asyncio.run(_drive(bt))
    before = [d for d in bt.days if d.day < gone.delisted]
    after = [d for d in bt.days if d.day >= gone.delisted]
    assert before and after
    for d in before:
        assert d.universe_size == 4 and d.decision is not None
        assert gone.code in {e.ticker for e in d.decision.universe}
    for d in after:
        assert d.universe_size == 3 and d.decision is not None
        assert gone.code not in {e.ticker for e in d.decision.universe
                                 if e.fundamental and e.fundamental.candidate}
        assert not [f for f in d.fills if f.ticker == gone.code and f.qty]
    from datetime import UTC

    from quartz_cli.agents.backtest import report_document

    doc = report_document(bt, run="bt-x", produced_at=datetime(2026, 11, 29, tzinfo=UTC),
                          interrupted=False)
    assert doc.data.delisted == {gone.code: gone.delisted}
    assert gone.code in doc.settings.universe


def test_a_refresh_keeps_the_listings_it_no_longer_sees_as_delisted(quartz_home, monkeypatch):
    """`quartz select universe` moves a code the new master files lack to delisted.csv
    (delisted on the market date), and `--universe all` of a local backtest names it and
    the simulator's synthetic delisted listings; the master's listing date is read."""
    from quartz_cli.agents.selection import UNIVERSE_FILE
    from quartz_cli.app.backtest import known_listings
    from quartz_cli.app.universe import delisted_universe, keep_delistings
    from quartz_cli.config import load_config
    from quartz_cli.domain.universe import Universe
    from quartz_cli.kis.master import parse_master, write_universe_csv
    from quartz_cli.sim.master_files import delisted_listings, master_zip
    from quartz_cli.sim.simulator import MARKET_SEED

    monkeypatch.setenv("QUARTZ_MARKET_TIME", "2026-11-20T16:00:00+09:00")
    config = load_config("local")
    records = parse_master(master_zip("KOSPI", 120, MARKET_SEED), "KOSPI", "sim")
    assert {r.listed for r in records} == {date(2010, 1, 4)}
    bundled = bundled_universe()
    config.home.mkdir(parents=True, exist_ok=True)
    write_universe_csv(bundled, config.home / UNIVERSE_FILE)
    dropped = bundled.listings[1]
    current = Universe([x for x in bundled.listings if x.code != dropped.code])
    assert keep_delistings(config, current) == 1
    write_universe_csv(current, config.home / UNIVERSE_FILE)
    assert keep_delistings(config, current) == 1  # known once, kept
    kept = delisted_universe(config.home).get(dropped.code)
    assert kept is not None and kept.delisted == date(2026, 11, 20) and kept.name == dropped.name
    known = known_listings(config)
    assert dropped.code in known
    assert all(x.code in known for x in delisted_listings(MARKET_SEED))
    assert known.get(dropped.code).listed_on(date(2026, 11, 19))
    assert not known.get(dropped.code).listed_on(date(2026, 11, 20))


def test_a_day_with_no_macro_document_nor_series_says_its_macro_was_uncertain(market, tmp_path):
    panel, calendar = market
    bt = Backtest(Settings(start=D, end=D, universe=CODES), panel, calendar,
                  LocalStore(tmp_path), RulesDecisionEngine, lambda c: c)
    asyncio.run(_drive(bt))
    (day,) = bt.days
    assert day.inputs.macro == "uncertain" and day.inputs.candidates == "recomputed"
    assert day.decision is not None and day.decision.macro.market_bias_hint.value == "uncertain"
    from quartz_cli.agents.backtest import inputs_used

    assert any("uncertain" in r for r in inputs_used(bt.days).recomputed)
