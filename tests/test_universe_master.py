"""The whole KRX universe in `local`: the simulator's master files (served as KIS's download
host serves them, read by Quartz's own parser), a market for every listing, and the universe
setting (QUARTZ_UNIVERSE) that decide and `quartz data pull` follow."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from quartz_cli.agents.portfolio import run_decide
from quartz_cli.app.portfolio import watched
from quartz_cli.app.runtime import open_runtime
from quartz_cli.cli.main import app
from quartz_cli.config import load_config
from quartz_cli.domain.decision import DecisionInput
from quartz_cli.domain.engine import EngineAnswer
from quartz_cli.domain.universe import (
    INDEXES,
    bundled_universe,
    chosen_codes,
    load_universe_csv,
    universe_choice,
)
from quartz_cli.errors import ConfigError, InputError
from quartz_cli.kis.master import parse_master
from quartz_cli.sim.master_files import master_entries, master_zip
from quartz_cli.sim.simulator import MARKET_SEED
from quartz_cli.sim.state import SimState
from test_portfolio_agent import Proposes, deps, run
from trading_support import seed_calendar

LISTINGS = 700  # KOSPI holds 238 of them: every index is full


def quartz(*args: str) -> tuple[int, dict | None, BaseException | None]:
    result = CliRunner().invoke(app, list(args))
    data = json.loads(result.stdout) if "--json" in args and result.exit_code == 0 else None
    return result.exit_code, data, result.exception


def test_the_parser_reads_every_field_the_simulator_writes() -> None:
    entries = {e.code: e for e in master_entries(LISTINGS, MARKET_SEED)}
    records = (parse_master(master_zip("KOSPI", LISTINGS, MARKET_SEED), "KOSPI", "kospi")
               + parse_master(master_zip("KOSDAQ", LISTINGS, MARKET_SEED), "KOSDAQ", "kosdaq"))
    assert len(records) == len(entries)
    for r in records:
        e = entries[r.code]
        assert (r.name, r.market, r.base_price, r.market_cap_eok) == (
            e.name, e.market, e.base_price, e.market_cap_eok)
        assert (r.group, r.preferred, r.halted, r.administrative) == (
            e.group, e.preferred, e.halted, e.administrative)
        assert r.indexes == e.indexes and r.isin.startswith(f"KR7{r.code}")
    tradable = [r for r in records if r.is_common_stock and not r.halted and not r.administrative]
    assert len(tradable) == LISTINGS
    assert {r.code for r in tradable} >= set(bundled_universe().codes())
    # Korean names beyond the bundled ones, and the filter's exclusions are present.
    assert sum(1 for r in tradable if "가" <= r.name[0] <= "힣") > LISTINGS // 2
    assert any(r.group == "EF" for r in records) and any(r.preferred for r in records)


def test_select_universe_downloads_the_simulators_master_files(
        quartz_home, calendar_cache, monkeypatch) -> None:
    seed_calendar(quartz_home, calendar_cache)
    monkeypatch.setenv("QUARTZ_SIM_LISTINGS", str(LISTINGS))
    code, data, exc = quartz("select", "universe", "--json")
    assert code == 0, exc
    assert data is not None and data["listings"] == LISTINGS
    assert data["indexes"] == {"KOSPI200": 200, "KOSPI100": 100, "KOSPI50": 50,
                               "KOSDAQ150": 150}
    first = (quartz_home / "universe.csv").read_bytes()
    assert quartz("select", "universe", "--json")[0] == 0
    # Deterministic: the same seed is the same file.
    assert (quartz_home / "universe.csv").read_bytes() == first
    assert SimState(quartz_home / "sim" / "local.db").counter("master_downloads") == 4
    universe = load_universe_csv(quartz_home / "universe.csv")
    samsung = universe.require("005930")
    assert samsung.aliases and "KOSPI200" in samsung.indexes
    assert len(universe.members("KOSPI50")) == 50


def test_the_simulator_quotes_and_charts_every_master_listing(
        quartz_home, calendar_cache, monkeypatch) -> None:
    """Without a universe.csv: the simulator's market knows its master's listings."""
    seed_calendar(quartz_home, calendar_cache)
    monkeypatch.setenv("QUARTZ_MARKET_TIME", "2026-11-24T10:00:00+09:00")
    monkeypatch.setenv("QUARTZ_SIM_RATE_LIMIT_PER_S", "0")
    monkeypatch.setenv("QUARTZ_SIM_LISTINGS", str(LISTINGS))
    bundled = set(bundled_universe().codes())
    synthetic = [e.code for e in master_entries(LISTINGS, MARKET_SEED)
                 if e.tradable and e.code not in bundled][:3]

    async def go():
        async with open_runtime(load_config()) as rt:
            return await rt.market.quotes(synthetic)

    quotes, failed = asyncio.run(go())
    assert failed == {} and set(quotes) == set(synthetic)
    assert all(q.price > 0 and q.lower < q.price < q.upper for q in quotes.values())


def test_the_universe_setting_names_codes() -> None:
    uni = bundled_universe()
    tagged = replace(uni.listings[0], indexes=("KOSPI200", "KOSPI50"))
    from quartz_cli.domain.universe import Universe

    small = Universe([tagged, *uni.listings[1:5]])
    assert chosen_codes("candidates", small) is None
    assert chosen_codes("all", small) == small.codes()
    assert chosen_codes("kospi 200", small) == [tagged.code]
    assert chosen_codes("KOSDAQ150", small) == []
    assert universe_choice("kospi_50") == "KOSPI50" and set(INDEXES) >= {"KOSPI50"}
    with pytest.raises(InputError, match="unknown universe"):
        universe_choice("nasdaq")


def test_an_unknown_universe_setting_is_a_configuration_error(monkeypatch) -> None:
    monkeypatch.setenv("QUARTZ_UNIVERSE", "nasdaq100")
    with pytest.raises(ConfigError, match="QUARTZ_UNIVERSE"):
        watched(load_config())


def test_data_pull_follows_the_universe_setting(
        quartz_home, calendar_cache, monkeypatch) -> None:
    seed_calendar(quartz_home, calendar_cache)
    monkeypatch.setenv("QUARTZ_MARKET_TIME", "2026-11-24T16:00:00+09:00")
    monkeypatch.setenv("QUARTZ_SIM_RATE_LIMIT_PER_S", "0")
    monkeypatch.setenv("QUARTZ_RATE_LIMIT_PER_S", "1000")
    monkeypatch.setenv("QUARTZ_SIM_LISTINGS", str(LISTINGS))
    assert quartz("select", "universe", "--json")[0] == 0
    monkeypatch.setenv("QUARTZ_UNIVERSE", "KOSPI50")
    watch, names = watched(load_config())
    members = load_universe_csv(quartz_home / "universe.csv").members("KOSPI50")
    assert watch == members and names(members[-1]) != members[-1]
    code, data, exc = quartz("data", "pull", "--json")
    assert code == 0, exc
    assert data is not None and data["tickers"] == 50 and data["failed"] == {}
    # An index named on the command line is the same listings.
    code, again, exc = quartz("data", "pull", "--universe", "KOSPI 50", "--json")
    assert code == 0, exc
    assert again is not None and again["tickers"] == 50 and again["counts"] != data["counts"]


class Records(Proposes):
    """Proposes nothing and keeps the decision input it saw."""

    seen: DecisionInput | None = None

    def decide_now(self, request: DecisionInput) -> EngineAnswer:
        self.seen = request
        return super().decide_now(request)


def test_decide_analyses_and_quotes_the_watched_listings() -> None:
    rules = Records()
    d = deps(candidates=("005930",), rules=rules)
    watch = ["000660", "035420"]
    d.market._quotes.update({t: d.market._quotes["005930"].model_copy(update={"ticker": t})
                             for t in watch})  # type: ignore[attr-defined]
    d.watch = watch
    plan = run(run_decide(d, dry_run=True))
    assert rules.seen is not None
    entries = {e.ticker: e for e in rules.seen.universe}
    assert set(entries) == {"005930", *watch}
    assert entries["000660"].name == "name-000660" and entries["000660"].technical is not None
    assert {f"technical/{t}" for t in watch} <= set(plan.inputs.sources)


def test_local_speaks_the_real_protocol_when_its_simulator_does(
        quartz_home, calendar_cache, monkeypatch) -> None:
    """QUARTZ_SIM_REAL_TR_IDS: real TR_IDs, so quotes go 30 to a call (batch quotes)."""
    seed_calendar(quartz_home, calendar_cache)
    monkeypatch.setenv("QUARTZ_MARKET_TIME", "2026-11-24T10:00:00+09:00")
    monkeypatch.setenv("QUARTZ_SIM_RATE_LIMIT_PER_S", "0")
    monkeypatch.setenv("QUARTZ_SIM_REAL_TR_IDS", "true")
    codes = bundled_universe().codes()[:45]

    async def go():
        async with open_runtime(load_config()) as rt:
            await rt.tokens.token()
            before = rt.sim.state.counter("requests")
            quotes, failed = await rt.market.quotes(codes)
            return (rt.endpoint.real_tr_ids, rt.sim.state.counter("requests") - before, quotes,
                    failed)

    real, requests, quotes, failed = asyncio.run(go())
    assert real and set(quotes) == set(codes) and failed == {}
    assert requests == 2
