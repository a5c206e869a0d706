"""The macro agent: collect ECOS, FRED and World Bank series, compute their statistics in the
native core, have the report written (Gemini or the rule engine), and publish the full report
and the summary under `macro-analysis/`.

Degraded mode: a source that fails is marked failed and its series' values from the last
full report are reused with their age; with nothing usable at all the bias is `uncertain`
(the documents are still published so readers see a fresh `uncertain`, and `usable` is False
so the CLI exits non-zero). Readers call `load_summary`, which flags stale summaries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from quartz_cli.agents.documents import Loaded, publish, read_latest
from quartz_cli.domain.documents import utcnow
from quartz_cli.domain.macro import (
    DEFAULT_MAX_AGE,
    PREFIX,
    SOURCE_TITLES,
    SOURCE_URLS,
    SPECS,
    Bias,
    CitedSource,
    LLMUsage,
    MacroReport,
    MacroSummary,
    Observation,
    SeriesData,
    SourceStatus,
    to_grid,
)
from quartz_cli.domain.macro_stats import compute_stats
from quartz_cli.errors import StoreError
from quartz_cli.metrics import llm_usage
from quartz_cli.ports import (
    Collected,
    Collector,
    LLMResult,
    MacroReporter,
    MacroRules,
    Store,
)

FULL_LATEST = "latest-full"
SUMMARY_LATEST = "latest"
LOOKBACK_YEARS = 8

# (source, event, detail): event is "start", "done" or "failed".
Progress = Callable[[str, str, str], None]


@dataclass(frozen=True)
class MacroRun:
    """What a run published. `usable` is False when no series at all could be used."""

    report: MacroReport
    summary: MacroSummary
    full_key: str
    summary_key: str
    usable: bool


@dataclass(frozen=True)
class MacroOutlook:
    """The latest summary as a reader sees it. `bias` is the summary's hint, or `uncertain`
    when there is no summary or it is older than the reader's `max_age` (`stale`)."""

    summary: MacroSummary | None
    key: str | None
    age: timedelta | None
    stale: bool
    bias: Bias
    note: str | None = None


def load_summary(store: Store, *, max_age: timedelta = DEFAULT_MAX_AGE,
                 now: datetime | None = None) -> MacroOutlook:
    """Read `macro-analysis/latest.json` (the summary) with its age; a missing or stale one
    reads as bias `uncertain` with a note saying why."""
    loaded = read_latest(store, PREFIX, MacroSummary, latest_name=SUMMARY_LATEST, now=now)
    if loaded is None:
        return MacroOutlook(None, None, None, False, "uncertain",
                            "no macro summary has been published yet")
    stale = loaded.is_stale(max_age)
    note = None
    if loaded.from_copy:
        note = ("the shared store is unreachable: the macro summary is this host's last copy, "
                "treated as uncertain")
    elif stale:
        hours = loaded.age.total_seconds() / 3600
        note = (f"the macro summary is {hours:.1f} h old (older than "
                f"{max_age.total_seconds() / 3600:g} h): treated as uncertain")
    return MacroOutlook(loaded.document, loaded.key, loaded.age, stale,
                        "uncertain" if stale else loaded.document.market_bias_hint, note)


def load_report(store: Store, *, now: datetime | None = None) -> Loaded[MacroReport] | None:
    """The latest full report with its age, or None."""
    return read_latest(store, PREFIX, MacroReport, latest_name=FULL_LATEST, now=now)


class MacroAgent:
    """One macro run over the given collectors and report writer (`reporter` None → the
    deterministic `rules`, with `no_llm_reason` recorded)."""

    def __init__(self, store: Store, collectors: list[Collector], *, env: str, sample_data: bool,
                 reporter: MacroReporter | None, rules: MacroRules, no_llm_reason: str = "",
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._collectors = collectors
        self._env = env
        self._sample = sample_data
        self._reporter = reporter
        self._rules = rules
        self._no_llm_reason = no_llm_reason or "no LLM is configured"
        self._clock = clock

    async def _collect(self, collector: Collector, start: date, end: date,
                       progress: Progress | None) -> Collected:
        if progress:
            progress(collector.source, "start", "")
        result = await collector.collect(start, end)
        if progress:
            n_ok, n_all = len(result.series), len(collector.series_ids())
            event = "done" if not result.errors else "failed"
            progress(collector.source, event, f"{n_ok}/{n_all} series")
        return result

    async def run(self, progress: Progress | None = None) -> MacroRun:
        """Collect, analyse, write and publish; never raises for a failing source."""
        now = self._clock()
        start, end = date(now.year - LOOKBACK_YEARS, 1, 1), now.date()
        notes: list[str] = []
        previous = None
        try:
            previous = await asyncio.to_thread(load_report, self._store, now=now)
        except StoreError as exc:
            notes.append(f"earlier report unreadable, nothing reused ({exc.message})")
        earlier = {s.id: s for s in previous.document.series} if previous else {}
        results = await asyncio.gather(*(self._collect(c, start, end, progress)
                                         for c in self._collectors))

        statuses: list[SourceStatus] = []
        series: list[SeriesData] = []
        for collector, got in zip(self._collectors, results, strict=True):
            status, used = _source_status(collector, got, earlier, now)
            statuses.append(status)
            series.extend(used)

        grids = [(SPECS[s.id], to_grid(SPECS[s.id], s.observations), s.fetched_at < now)
                 for s in series]
        stats = compute_stats(grids, now.date())
        for status in statuses:
            ages = [s.data_age_days for s in stats if s.source == status.source]
            status.data_age_days = min(ages) if ages else None
        usable = bool(stats)
        if not usable:
            result: LLMResult = self._rules(stats, statuses, sample_data=self._sample,
                                            reason="no source returned usable data")
        elif self._reporter is None:
            result = self._rules(stats, statuses, sample_data=self._sample,
                                 reason=self._no_llm_reason)
        else:
            result = await self._reporter.report(stats, statuses, sample_data=self._sample)
        engine_notes = notes + list(result.notes)
        if self._sample:
            engine_notes.insert(0, "SAMPLE DATA: the local fake endpoints serve a bundled "
                                   "synthetic snapshot, not real statistics")

        cited = [CitedSource(title=SOURCE_TITLES[st.source], uri=SOURCE_URLS[st.source],
                             kind="data")
                 for st in statuses if st.series or st.reused_series]
        cited += [CitedSource(title=src.title, uri=src.uri, kind="web") for src in result.sources]
        view = result.value
        usage = None
        if result.usage is not None:
            u = result.usage
            llm_usage("macro", u.prompt_tokens, u.output_tokens, u.cost_usd)
            usage = LLMUsage(model=u.model, prompt_tokens=u.prompt_tokens,
                             output_tokens=u.output_tokens, cost_usd=round(u.cost_usd, 6))
        report = MacroReport(produced_at=now, env=self._env, sample_data=self._sample,
                             engine=result.engine, engine_notes=engine_notes, llm_usage=usage,
                             view=view,
                             cited_sources=cited, sources=statuses, stats=stats, series=series)
        full_key = await asyncio.to_thread(publish, self._store, PREFIX, report, name="full",
                                           latest_name=FULL_LATEST)
        summary = MacroSummary(
            produced_at=now, env=self._env, sample_data=self._sample, engine=result.engine,
            engine_notes=engine_notes, market_bias_hint=view.market_bias_hint,
            positive_summary=view.positive_summary, negative_summary=view.negative_summary,
            summary=view.summary, sources=statuses,
            missing_sources=[st.source for st in statuses if st.state == "failed"],
            cited_sources=cited, full_report_key=full_key)
        summary_key = await asyncio.to_thread(publish, self._store, PREFIX, summary,
                                              name="summary", latest_name=SUMMARY_LATEST)
        return MacroRun(report, summary, full_key, summary_key, usable)


def _source_status(collector: Collector, got: Collected, earlier: dict[str, SeriesData],
                   now: datetime) -> tuple[SourceStatus, list[SeriesData]]:
    """The source's status and the series to use: fresh ones, else earlier values."""
    used: list[SeriesData] = []
    fresh, reused, missing = [], [], []
    reused_from: datetime | None = None
    latest: date | None = None
    for sid in collector.series_ids():
        obs: list[Observation] | None = got.series.get(sid)
        if obs:
            used.append(SeriesData(id=sid, source=SPECS[sid].source, observations=obs,
                                   fetched_at=now))
            fresh.append(sid)
        elif sid in earlier and earlier[sid].observations:
            used.append(earlier[sid])
            reused.append(sid)
            t = earlier[sid].fetched_at
            reused_from = t if reused_from is None else min(reused_from, t)
        else:
            missing.append(sid)
            continue
        last = used[-1].observations[-1].date
        latest = last if latest is None else max(latest, last)
    errors = sorted({e.message for e in got.errors.values()})
    state = "fresh" if not got.errors else ("partial" if fresh else "failed")
    status = SourceStatus(
        source=collector.source, state=state, series=fresh, reused_series=reused,
        missing_series=missing,
        error=(errors[0] + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))
        if errors else None,
        fetched_at=now if fresh else None, reused_from=reused_from,
        age_hours=round((now - reused_from).total_seconds() / 3600, 2) if reused_from else None,
        latest_period=latest)
    return status, used
