"""A backtest day's macro view and candidates: replayed from the store's dated history when
a document that a live run would have read at the decision time exists, else recomputed
from what was known that day.

Replayed: the newest dated document produced at or before the decision time and no older
than the live reader's limit (the macro agent's `QUARTZ_MACRO_MAX_AGE_H`, the portfolio's
input max age): what `quartz decide` read then. Recomputed: the macro rule engine over the
macro series' observations whose period had ended before that day; the candidates are the
universe listed that day, unscored (past news is not kept, so the selection's news scores
cannot be recomputed).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from quartz_cli.agents.documents import read_key
from quartz_cli.agents.portfolio import CandidateInfo, CandidatesRead, MacroRead
from quartz_cli.domain.backtest_run import DayInputs
from quartz_cli.domain.candidates import PREFIX as CANDIDATES_PREFIX
from quartz_cli.domain.candidates import CandidatesDocument
from quartz_cli.domain.decision import MacroBias, MacroSummaryView
from quartz_cli.domain.macro import PREFIX as MACRO_PREFIX
from quartz_cli.domain.macro import (
    SPECS,
    MacroSummary,
    Observation,
    SeriesData,
    SourceStatus,
    period_end,
    to_grid,
)
from quartz_cli.ports import MacroRules, Store

_DATED = re.compile(r"^(?P<prefix>[\w-]+)/(?P<y>\d{4})/(?P<m>\d\d)/(?P<d>\d\d)/"
                    r"(?P<hms>\d{6})\.(?P<us>\d{6})Z(?:-(?P<name>[\w-]+))?\.json$")


@dataclass(frozen=True)
class Dated:
    """One dated copy in the store: its key and when it was produced (UTC)."""

    key: str
    at: datetime


def dated_copies(keys: Sequence[str], prefix: str, name: str | None) -> list[Dated]:
    """The dated copies among `keys` under `prefix` with that name suffix (None: none),
    oldest first (`agents.documents.dated_key`'s layout)."""
    out = []
    for key in keys:
        m = _DATED.match(key)
        if m is None or m["prefix"] != prefix or m["name"] != name:
            continue
        hms, us = m["hms"], m["us"]
        at = datetime(int(m["y"]), int(m["m"]), int(m["d"]), int(hms[:2]), int(hms[2:4]),
                      int(hms[4:]), int(us), tzinfo=UTC)
        out.append(Dated(key, at))
    return sorted(out, key=lambda d: d.at)


def newest_before(copies: Sequence[Dated], now: datetime, max_age: timedelta) -> Dated | None:
    """The newest copy produced at or before `now` and no older than `max_age` then."""
    i = bisect.bisect_right([c.at for c in copies], now)
    if i == 0:
        return None
    found = copies[i - 1]
    return found if now - found.at <= max_age else None


class DatedHistory:
    """The store's dated macro summaries and candidates, listed once for a run."""

    def __init__(self, store: Store, *, macro_max_age: timedelta,
                 candidates_max_age: timedelta) -> None:
        self.store = store
        self.macro_max_age = macro_max_age
        self.candidates_max_age = candidates_max_age
        self.macro = dated_copies(store.list(f"{MACRO_PREFIX}/"), MACRO_PREFIX, "summary")
        self.candidates = dated_copies(store.list(f"{CANDIDATES_PREFIX}/"),
                                       CANDIDATES_PREFIX, None)
        self._summaries: dict[str, MacroSummary | None] = {}
        self._candidates: dict[str, CandidatesDocument | None] = {}

    def macro_at(self, now: datetime) -> tuple[Dated, MacroSummary] | None:
        """The macro summary a live run would have read at `now`, if any."""
        found = newest_before(self.macro, now, self.macro_max_age)
        if found is None:
            return None
        if found.key not in self._summaries:
            self._summaries[found.key] = read_key(self.store, found.key, MacroSummary)
        doc = self._summaries[found.key]
        return (found, doc) if doc is not None else None

    def candidates_at(self, now: datetime) -> tuple[Dated, CandidatesDocument] | None:
        """The candidates a live run would have read at `now`, if any."""
        found = newest_before(self.candidates, now, self.candidates_max_age)
        if found is None:
            return None
        if found.key not in self._candidates:
            self._candidates[found.key] = read_key(self.store, found.key, CandidatesDocument)
        doc = self._candidates[found.key]
        return (found, doc) if doc is not None else None


def available(series: SeriesData, day: date) -> list[Observation]:
    """The observations of `series` whose period had ended before `day` (a month's value
    is known after the month; its publication lag is not modelled)."""
    freq = SPECS[series.id].frequency
    return [o for o in series.observations
            if (o.date if freq == "D" else period_end(freq, o.date)) < day]


@dataclass(frozen=True)
class MacroSeries:
    """The macro series a backtest recomputes its daily view from, and whether they are the
    bundled SAMPLE data."""

    series: tuple[SeriesData, ...]
    sample_data: bool = False


class MacroRecompute:
    """The macro rule engine's view on a day, from the series' observations available then
    (memoised: the view changes only when a new period becomes available)."""

    def __init__(self, data: MacroSeries, rules: MacroRules) -> None:
        self.data = data
        self.rules = rules
        self._memo: dict[tuple[int, ...], MacroSummaryView] = {}

    def view(self, day: date) -> MacroSummaryView | None:
        """The view on `day`; None when no series had a value by then."""
        from quartz_cli.domain.macro_stats import compute_stats

        known = [(s, available(s, day)) for s in self.data.series if s.id in SPECS]
        known = [(s, obs) for s, obs in known if obs]
        if not known:
            return None
        memo = tuple(len(obs) for _, obs in known)
        if memo in self._memo:
            return self._memo[memo]
        grids = [(SPECS[s.id], to_grid(SPECS[s.id], obs), False) for s, obs in known]
        stats = compute_stats(grids, day)
        by_source: dict[str, list[str]] = {}
        for s, _ in known:
            by_source.setdefault(s.source, []).append(s.id)
        statuses = [SourceStatus(source=src, state="fresh", series=ids)
                    for src, ids in sorted(by_source.items())]
        result = self.rules(stats, statuses, sample_data=self.data.sample_data,
                            reason="a backtest recomputes the macro view from the series "
                            "known that day")
        v = result.value
        view = MacroSummaryView(positive_summary=v.positive_summary,
                                negative_summary=v.negative_summary,
                                market_bias_hint=MacroBias(v.market_bias_hint), stale=False)
        self._memo[memo] = view
        return view


class DayInputSource:
    """Where a backtest day's macro and candidates come from (replayed or recomputed), and
    the record of which it was (`used`)."""

    def __init__(self, history: DatedHistory | None, macro: MacroRecompute | None) -> None:
        self.history = history
        self.recompute = macro
        self.used = DayInputs()

    def start_day(self) -> None:
        self.used = DayInputs()

    def macro(self, now: datetime) -> MacroRead:
        found = self.history.macro_at(now) if self.history is not None else None
        if found is not None:
            dated, doc = found
            self.used = self.used.model_copy(update={"macro": "replayed",
                                                     "macro_key": dated.key})
            return MacroRead(MacroSummaryView(positive_summary=doc.positive_summary,
                                              negative_summary=doc.negative_summary,
                                              market_bias_hint=MacroBias(doc.market_bias_hint),
                                              stale=False), now - dated.at, dated.key,
                             "macro: SAMPLE DATA (bundled ECOS/FRED/World Bank snapshot)"
                             if doc.sample_data else None)
        view = self.recompute.view(now.date()) if self.recompute is not None else None
        if view is None:
            self.used = self.used.model_copy(update={"macro": "uncertain"})
            return MacroRead(MacroSummaryView(), None, None,
                             "macro: no series known that day (bias uncertain)")
        sample = self.recompute is not None and self.recompute.data.sample_data
        return MacroRead(view, None, None, "macro: recomputed by rules from the series known "
                         "that day" + (" (SAMPLE DATA)" if sample else ""))

    def candidates(self, now: datetime, listed: Callable[[], list[CandidateInfo]]
                   ) -> CandidatesRead:
        found = self.history.candidates_at(now) if self.history is not None else None
        if found is not None:
            dated, doc = found
            self.used = self.used.model_copy(update={"candidates": "replayed",
                                                     "candidates_key": dated.key})
            return CandidatesRead([CandidateInfo(ticker=c.code, name=c.name, score=c.score,
                                                 sentiment=c.components.sentiment,
                                                 news_count=c.news_count)
                                   for c in doc.candidates], dated.key,
                                  "candidates: from the SYNTHETIC news corpus"
                                  if doc.synthetic_news else None)
        return CandidatesRead(listed(), None, "candidates: the universe listed that day (no "
                              "news scores)")
