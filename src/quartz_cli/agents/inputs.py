"""The portfolio manager's inputs from the store: what the macro, selection and technical
agents published, each produced first when the store has nothing usable (always for
technical; for macro and candidates when `produce` is set, as in `local`).

`StoreInputs` is orchestration over ports: it reads documents through the `Store`, runs the
technical agent over the `MarketData` port, and asks the composition root's producers to run
the macro and selection agents (they own adapters that are opened and closed per run)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from quartz_cli.agents.documents import read_latest
from quartz_cli.agents.macro import load_summary
from quartz_cli.agents.portfolio import (
    CandidateInfo,
    CandidatesRead,
    MacroRead,
    TechnicalRead,
)
from quartz_cli.agents.technical import analyze_tickers
from quartz_cli.agents.technical_snapshot import read_analyses
from quartz_cli.domain.bars import Period
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.candidates import PREFIX as CANDIDATES_PREFIX
from quartz_cli.domain.candidates import CandidatesDocument
from quartz_cli.domain.decision import MacroBias, MacroSummaryView, TechnicalView
from quartz_cli.domain.technical import PeriodAnalysis, TechnicalDocument, TechnicalResult
from quartz_cli.ports import MarketData, Store

#: Runs the macro agent once (`quartz macro run`).
MacroProducer = Callable[[], Awaitable[None]]
#: Runs the selection agent once at market time `now` (`quartz select`).
CandidatesProducer = Callable[[datetime], Awaitable[None]]


def technical_view(doc: TechnicalDocument) -> TechnicalView | None:
    """The engines' view of a `TechnicalDocument`'s daily period (None without one)."""
    day = doc.periods.get(Period.DAY.value)
    return analysis_view(day) if day is not None else None


def analysis_view(day: PeriodAnalysis) -> TechnicalView:
    """The engines' view of one daily analysis (the technical agent's, stored or not)."""
    v, sig = day.values, day.signals
    return TechnicalView(close=day.last_close, rsi14=v.rsi14, macd_hist=v.macd_hist,
                         bb_percent_b=sig.percent_b, sma5=v.sma5, sma20=v.sma20,
                         ma_alignment=sig.ma_alignment, signals=tuple(sig.phrases()))


class StoreInputs:
    """The portfolio agent's `InputSource` over the store."""

    def __init__(self, store: Store, market: MarketData, *, env: str, max_age: timedelta,
                 macro_max_age: timedelta, calendar: KrxCalendar | None,
                 produce_macro: MacroProducer | None,
                 produce_candidates: CandidatesProducer | None,
                 progress: Callable[[str], None]) -> None:
        self.store = store
        self.market = market
        self.env = env
        self.max_age = max_age
        # The macro agent's own staleness setting (QUARTZ_MACRO_MAX_AGE_H), so `quartz macro
        # show` and the decision agree on what is stale.
        self.macro_max_age = macro_max_age
        self.calendar = calendar
        self.produce_macro = produce_macro
        self.produce_candidates = produce_candidates
        self.progress = progress
        self.produced: list[str] = []

    async def macro(self, now: datetime) -> MacroRead:
        outlook = await asyncio.to_thread(load_summary, self.store, max_age=self.macro_max_age)
        if outlook.summary is None and self.produce_macro is not None:
            self.progress("producing the macro summary (quartz macro run)")
            await self.produce_macro()
            self.produced.append("macro")
            outlook = await asyncio.to_thread(load_summary, self.store,
                                              max_age=self.macro_max_age)
        if outlook.summary is None:
            return MacroRead(MacroSummaryView(), None, None)
        doc = outlook.summary
        return MacroRead(MacroSummaryView(positive_summary=doc.positive_summary,
                                   negative_summary=doc.negative_summary,
                                   market_bias_hint=MacroBias(outlook.bias),
                                   stale=outlook.stale), outlook.age, outlook.key,
                         "macro: SAMPLE DATA (bundled ECOS/FRED/World Bank snapshot)"
                         if doc.sample_data else None)

    async def candidates(self, now: datetime) -> CandidatesRead:
        loaded = await asyncio.to_thread(read_latest, self.store, CANDIDATES_PREFIX,
                                         CandidatesDocument)
        if ((loaded is None or loaded.is_stale(self.max_age))
                and self.produce_candidates is not None):
            self.progress("producing candidates (quartz select)")
            await self.produce_candidates(now)
            self.produced.append("candidates")
            loaded = await asyncio.to_thread(read_latest, self.store, CANDIDATES_PREFIX,
                                             CandidatesDocument)
        # A copy kept while the shared store is unreachable still names the candidates when
        # it is young enough: their technical state is analysed afresh, never read from it.
        if loaded is None or loaded.age > self.max_age:
            return CandidatesRead([], loaded.key if loaded else None)
        return CandidatesRead([CandidateInfo(ticker=c.code, name=c.name, score=c.score,
                                             sentiment=c.components.sentiment,
                                             news_count=c.news_count)
                               for c in loaded.document.candidates], loaded.key,
                              "candidates: from the SYNTHETIC news corpus"
                              if loaded.document.synthetic_news else None)

    async def technical(self, tickers: Sequence[str], now: datetime) -> TechnicalRead:
        """The daily analysis of each ticker, computed now by the technical agent on fresh
        bars (the market data keeps the bars in the store, so a run costs only the sessions
        since the last one and today's quote). A ticker whose analysis fails falls back to
        its stored document when that is younger than `max_age`, else is reported."""
        views: dict[str, TechnicalView] = {}
        keys: dict[str, str] = {}
        failed: dict[str, str] = {}
        if not tickers:
            return TechnicalRead(views, keys, failed)
        self.progress(f"analysing {len(tickers)} ticker(s) on fresh bars")
        # Each analysis as it is stored: its view and its key (what the stored document
        # holds, without reading 2,800 of them back).
        published: dict[str, tuple[TechnicalView | None, str]] = {}

        def keep(r: TechnicalResult, key: str) -> None:
            day = r.periods.get(Period.DAY.value)
            published[r.code] = (analysis_view(day) if day is not None else None, key)

        results = await analyze_tickers(self.market, self.store, tickers, [Period.DAY], now,
                                        env=self.env, calendar=self.calendar,
                                        on_published=keep)
        self.produced.append("technical")
        errors = {r.code: r.error or "analysis failed" for r in results if not r.ok}
        stored = (await asyncio.to_thread(read_analyses, self.store, list(errors))
                  if errors else {})
        for r in results:
            view, key = published.get(r.code, (None, ""))
            loaded = stored.get(r.code)
            if loaded is not None and not loaded.is_stale(self.max_age):
                view, key = technical_view(loaded.document), loaded.key
            if view is None:
                failed[r.code] = errors.get(r.code, "no daily analysis was stored")
            else:
                views[r.code], keys[r.code] = view, key
        return TechnicalRead(views, keys, failed)
