"""Composition root, backtest: the bar panel (the bar store's daily bars; in `local`, the
simulator's synthetic market for tickers the store lacks), the KRX calendar, the rule
engine and the store a run is kept in."""

from __future__ import annotations

from datetime import datetime, timedelta

from quartz_cli.agents.backtest import (
    Backtest,
    BarPanel,
    IndexBenchmark,
    Settings,
    read_chart,
    read_run,
    run_ids,
)
from quartz_cli.agents.backtest_inputs import DayInputSource
from quartz_cli.app.portfolio import name_of
from quartz_cli.app.runtime import open_store
from quartz_cli.calendars import krx_calendar
from quartz_cli.config import Config, Env
from quartz_cli.domain.backtest_run import BacktestRun, RunSummary
from quartz_cli.domain.bars import Bar, Period
from quartz_cli.domain.krx import KST, REGULAR_CLOSE
from quartz_cli.domain.technical import HISTORY_DAYS
from quartz_cli.domain.universe import Universe
from quartz_cli.errors import InputError
from quartz_cli.llm.decision_rules import RulesDecisionEngine
from quartz_cli.ports import Store
from quartz_cli.store.bars import StoredBars


def load_panel(config: Config, store: Store, settings: Settings) -> tuple[BarPanel, str]:
    """Every ticker's bars from the history window before `--from` through `--to`, and
    where they came from."""
    from quartz_cli.domain.calendar import KrxCalendar

    calendar: KrxCalendar = krx_calendar(config.home / "cache")
    stored = StoredBars(store, clock=config.market_now, calendar=lambda: calendar)
    first = settings.start - timedelta(days=HISTORY_DAYS[Period.DAY])
    bars: dict[str, list[Bar]] = {}
    names: dict[str, str] = {}
    synthetic: list[str] = []
    sample = None
    for code in settings.universe:
        series = stored.read(code)
        if series is not None and series.last is not None and series.last >= settings.end:
            bars[code] = [b for b in series.bars if first <= b.day <= settings.end]
            names[code] = series.name or name_of(code)
            continue
        if config.env is not Env.LOCAL:
            raise InputError(f"{code}: the bar store has no bars through {settings.end}",
                             hint="run `quartz data pull` first")
        if sample is None:
            from quartz_cli.sim.market import SampleMarket

            sample = SampleMarket(known_listings(config), calendar)
        if sample.listing(code) is None:
            raise InputError(f"{code} is not a listing the synthetic market knows")
        at = datetime.combine(settings.end, REGULAR_CLOSE, KST)
        bars[code] = [b for b in sample.bars(code, at) if first <= b.day <= settings.end]
        names[code] = name_of(code)
        synthetic.append(code)
    source = "bar store"
    if synthetic:
        source = (f"SYNTHETIC simulator market for {len(synthetic)} ticker(s) (not real "
                  "prices)" + (", bar store for the rest" if len(synthetic) < len(bars) else ""))
    return BarPanel(bars, names), source


def open_backtest(config: Config, settings: Settings, *, store: Store | None = None
                  ) -> tuple[Backtest, str, Store]:
    """A run ready to step, the data's source, and the store it is kept in."""
    store = store if store is not None else open_store(config)
    panel, source = load_panel(config, store, settings)
    calendar = krx_calendar(config.home / "cache")
    llm = None
    if settings.engine == "llm-replay":
        from quartz_cli.llm.decision_openai import OpenAIDecisionEngine
        from quartz_cli.llm.records import ReplayClient

        llm = OpenAIDecisionEngine(ReplayClient(store, config.settings.llm.openai_model))
    known = known_listings(config)
    listings = {c: x for c in settings.universe if (x := known.get(c)) is not None}
    index, note = None, ""
    if settings.benchmark == "kospi":
        index, note = kospi_benchmark(config, settings)
    bt = Backtest(settings, panel, calendar, store, RulesDecisionEngine, name_of, llm=llm,
                  dated=day_inputs(config, store), listings=listings, index=index,
                  index_note=note)
    return bt, source, store


def day_inputs(config: Config, store: Store) -> DayInputSource:
    """Each day's macro and candidates: the store's dated documents a live run would have
    read then, else recomputed (macro by the rule engine over the series of the newest
    stored full macro report, cut to what was known that day)."""
    from quartz_cli.agents.backtest_inputs import DatedHistory, MacroRecompute, MacroSeries
    from quartz_cli.agents.macro import load_report
    from quartz_cli.llm.macro_rules import rule_view

    history = DatedHistory(store, macro_max_age=timedelta(hours=config.settings.macro.max_age_h),
                           candidates_max_age=timedelta(
                               hours=config.settings.store.input_max_age_h))
    report = load_report(store)
    series = MacroSeries(tuple(report.document.series), report.document.sample_data) \
        if report is not None else MacroSeries(())
    return DayInputSource(history, MacroRecompute(series, rule_view))


def default_settings(config: Config, **kwargs: object) -> Settings:
    """Settings with the configured constraints and exit rules."""
    return Settings(constraints=config.constraints(), exit_rules=config.exit_rules(),
                    **kwargs)  # type: ignore[arg-type]


def load_run(config: Config, run: str, *, store: Store | None = None) -> BacktestRun:
    """A stored run (InputError naming the stored ids when there is none). Blocking."""
    return read_run(store if store is not None else open_store(config), run)


def stored_runs(config: Config, *, store: Store | None = None) -> list[RunSummary]:
    """A summary of every stored run, oldest first. Blocking."""
    store = store if store is not None else open_store(config)
    return [RunSummary.of(read_run(store, r)) for r in run_ids(store)]


def run_chart(config: Config, run: str, *, store: Store | None = None) -> bytes | None:
    """A stored run's PNG chart (equity and drawdown against the benchmark), or None."""
    return read_chart(store if store is not None else open_store(config), run)


def known_listings(config: Config) -> Universe:
    """Every listing Quartz knows, with its dates: today's (`$QUARTZ_HOME/universe.csv`, else
    the bundled ones), those a refresh found delisted (`delisted.csv`) and, in `local`, the
    simulator's synthetic delisted listings."""
    from quartz_cli.agents.selection import selection_universe
    from quartz_cli.app.universe import delisted_universe

    gone = list(delisted_universe(config.home).listings)
    if config.env is Env.LOCAL:
        from quartz_cli.sim.master_files import delisted_listings
        from quartz_cli.sim.simulator import MARKET_SEED

        gone += delisted_listings(MARKET_SEED)
    current = selection_universe(config.home)
    extra = {x.code: x for x in gone if x.code not in current}
    return Universe([*current.listings, *extra.values()])



def kospi_benchmark(config: Config, settings: Settings) -> tuple[IndexBenchmark | None, str]:
    """The KOSPI index over the run's range from KIS's index chart (the simulator's
    synthetic index in `local`), or None and why not (the run then compares against the
    equal-weight buy-and-hold of its universe)."""
    import asyncio

    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.domain.market_index import INDEXES
    from quartz_cli.errors import QuartzError
    from quartz_cli.kis.index_chart import daily_index_chart

    code, name = INDEXES["kospi"]

    async def fetch() -> IndexBenchmark:
        async with open_runtime(config) as rt:
            # A few days before --from: the first session's open has a session to fall
            # back on when the index has no bar that day.
            chart = await daily_index_chart(rt.kis, code, settings.start - timedelta(days=10),
                                            settings.end)
        if not chart.bars:
            raise InputError(f"KIS has no {name} bars from {settings.start}")
        label = (f"SYNTHETIC {name} (the simulator's index, not the real one)"
                 if chart.data_note else f"{name} (KIS index chart, {code})")
        return IndexBenchmark(f"{label}, price index, before costs", tuple(chart.bars))

    try:
        return asyncio.run(fetch()), ""
    except QuartzError as exc:
        return None, f"{name} unavailable: {exc.message}"
