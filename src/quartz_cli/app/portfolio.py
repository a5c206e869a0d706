"""Composition root, portfolio manager: the store-backed inputs (producing macro,
candidates and technical first when the store has none), the broker account and prices, the
order executor (the trading agent over TRADING_AGENT_WS_URL, else in-process), the decision
engine (OpenAI when configured, else rules) and the KRX calendar."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from quartz_cli.agents.portfolio import (
    CandidateInfo,
    CandidatesRead,
    MacroRead,
    PortfolioDeps,
    TechnicalRead,
    gather_quotes,
)
from quartz_cli.calendars import krx_calendar
from quartz_cli.config import Config, EngineChoice, Env
from quartz_cli.domain.decision import (
    MacroBias,
    MacroSummaryView,
    PortfolioView,
    Position,
    Quote,
    TechnicalView,
)
from quartz_cli.domain.krx import KST
from quartz_cli.domain.orders import OrderExecutor
from quartz_cli.domain.universe import bundled_universe
from quartz_cli.errors import BrokerError, ConfigError
from quartz_cli.store.base import Store
from quartz_cli.store.documents import read_latest
from quartz_cli.app.runtime import Runtime, open_runtime

log = logging.getLogger(__name__)


def choose_engine(config: Config):
    """(OpenAI engine or None, the reason rules decide when None)."""
    ds = config.settings.llm
    if ds.decision_engine is EngineChoice.RULES:
        return None, "QUARTZ_DECISION_ENGINE=rules"
    key = config.settings.llm.gpt_api_key
    if ds.decision_engine is EngineChoice.AUTO:
        if config.env is Env.LOCAL:
            return None, "the local environment uses the deterministic rule engine"
        if key is None:
            return None, "GPT_API_KEY is not set"
    if key is None:
        raise ConfigError("QUARTZ_DECISION_ENGINE=openai needs GPT_API_KEY")
    from quartz_cli.llm.decision_openai import OpenAIDecisionEngine
    from quartz_cli.llm.openai import OpenAIClient

    client = OpenAIClient(key.get_secret_value(), ds.openai_model, base_url=ds.openai_base_url,
                          timeout_s=ds.timeout_s)
    return OpenAIDecisionEngine(client), ""


def technical_view(doc) -> TechnicalView | None:
    """The engines' view of a `TechnicalDocument`'s daily period (None without one)."""
    from quartz_cli.domain.bars import Period

    day = doc.periods.get(Period.DAY.value)
    if day is None:
        return None
    v, sig = day.values, day.signals
    return TechnicalView(close=day.last_close, rsi14=v.rsi14, macd_hist=v.macd_hist,
                         bb_percent_b=sig.percent_b, sma5=v.sma5, sma20=v.sma20,
                         ma_alignment=sig.ma_alignment, signals=tuple(sig.phrases()))


def name_of(code: str) -> str:
    listing = bundled_universe().get(code)
    return listing.name if listing else code


class StoreInputs:
    """Reads what the other agents published; in `local` (or when `produce` is set) runs
    them first when the store has nothing usable."""

    def __init__(self, config: Config, rt: Runtime, *, max_age: timedelta, produce: bool,
                 progress: Callable[[str], None]) -> None:
        self.config = config
        self.rt = rt
        self.store: Store = rt.store
        self.max_age = max_age
        self.produce = produce
        self.progress = progress
        self.produced: list[str] = []

    async def macro(self, now: datetime) -> MacroRead:
        from quartz_cli.agents.macro import load_summary

        # The macro agent's own staleness setting (QUARTZ_MACRO_MAX_AGE_H), so `quartz macro
        # show` and the decision agree on what is stale.
        max_age = timedelta(hours=self.config.settings.macro.max_age_h)
        outlook = load_summary(self.store, max_age=max_age)
        if outlook.summary is None and self.produce:
            await self._produce_macro()
            outlook = load_summary(self.store, max_age=max_age)
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
        from quartz_cli.domain.candidates import PREFIX, CandidatesDocument

        loaded = read_latest(self.store, PREFIX, CandidatesDocument)
        if (loaded is None or loaded.is_stale(self.max_age)) and self.produce:
            await self._produce_candidates(now)
            loaded = read_latest(self.store, PREFIX, CandidatesDocument)
        if loaded is None or loaded.is_stale(self.max_age):
            return CandidatesRead([], loaded.key if loaded else None)
        return CandidatesRead([CandidateInfo(ticker=c.code, name=c.name, score=c.score,
                                             sentiment=c.components.sentiment,
                                             news_count=c.news_count)
                               for c in loaded.document.candidates], loaded.key,
                              "candidates: from the SYNTHETIC news corpus"
                              if loaded.document.synthetic_news else None)

    async def technical(self, tickers: Sequence[str], now: datetime) -> TechnicalRead:
        """The daily analysis of each ticker; tickers without a fresh document are analysed
        now by the technical agent (in every environment: it costs only broker calls). A
        ticker whose analysis fails is reported, not raised."""
        from quartz_cli.agents.technical import analyze_tickers, read_technical
        from quartz_cli.domain.bars import Period

        views: dict[str, TechnicalView] = {}
        keys: dict[str, str] = {}
        failed: dict[str, str] = {}
        missing = []
        for code in tickers:
            loaded = read_technical(self.store, code)
            if loaded is None or loaded.is_stale(self.max_age):
                missing.append(code)
                continue
            view = technical_view(loaded.document)
            if view is None:
                failed[code] = "the stored analysis has no daily period"
            else:
                views[code], keys[code] = view, loaded.key
        if missing:
            self.progress(f"producing technical state of {len(missing)} ticker(s)")
            results = await analyze_tickers(
                self.rt.kis, self.store, missing, [Period.DAY], now, env=self.config.env.value,
                calendar=krx_calendar(self.config.home / "cache"))
            for r in results:
                if not r.ok:
                    failed[r.code] = r.error or "analysis failed"
                    continue
                loaded = read_technical(self.store, r.code)
                view = technical_view(loaded.document) if loaded else None
                if loaded is None or view is None:
                    failed[r.code] = "no daily analysis was stored"
                else:
                    views[r.code], keys[r.code] = view, loaded.key
            self.produced.append("technical")
        return TechnicalRead(views, keys, failed)

    async def _produce_macro(self) -> None:
        from quartz_cli.agents.macro import MacroAgent
        from quartz_cli.llm.macro_report import gemini_for
        from quartz_cli.sources.factory import open_collectors

        self.progress("producing the macro summary (quartz macro run)")
        llm, reason = gemini_for(self.config)
        wired = open_collectors(self.config)
        try:
            agent = MacroAgent(self.store, wired.collectors, env=self.config.env.value,
                               sample_data=wired.sample_data, llm=llm, no_llm_reason=reason)
            await agent.run()
        finally:
            await wired.aclose()
        self.produced.append("macro")

    async def _produce_candidates(self, now: datetime) -> None:
        from quartz_cli.agents.selection import run_selection
        from quartz_cli.app.selection import open_selection

        self.progress("producing candidates (quartz select)")
        async with open_selection(self.config) as srt:
            await run_selection(srt.deps, now=now)
        self.produced.append("candidates")


class KisMarketAccount:
    """Balance, holdings and quotes from KIS (or the simulator)."""

    VOLUME_SESSIONS = 20

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def portfolio(self) -> PortfolioView:
        """Holdings from inquire-balance; orderable cash is the smaller of the deposit and
        inquire-psbl-order's `ord_psbl_cash` (which nets out cash reserved by open buys)."""
        from quartz_cli.domain.orders import OrderType
        from quartz_cli.kis.account import inquire_balance, inquire_buyable

        account = self.rt.config.account()
        b = await inquire_balance(self.rt.kis, account)
        buyable = await inquire_buyable(self.rt.kis, account, "", 0, OrderType.LIMIT)
        positions = tuple(Position(ticker=p.ticker, name=p.name, qty=p.qty,
                                   sellable_qty=min(max(p.sellable_qty, 0), p.qty),
                                   avg_price=int(p.avg_price.to_integral_value()),
                                   price=max(p.current_price, 0)) for p in b.positions)
        return PortfolioView(cash_krw=max(min(b.cash_krw, buyable.cash_krw), 0),
                             positions=positions)

    async def quotes(self, tickers: Sequence[str]) -> tuple[dict[str, Quote], dict[str, str]]:
        """inquire-price per ticker, concurrently (the client's limiter paces the calls); a
        halted ticker counts as failed."""
        from quartz_cli.kis.quotations import inquire_price

        async def one(code: str) -> Quote:
            p = await inquire_price(self.rt.kis, code)
            if p.halted:
                raise BrokerError(f"{code} is halted (temp_stop_yn=Y)")
            return Quote(ticker=code, price=p.price, base=p.base, upper=p.upper_limit,
                         lower=p.lower_limit, volume=p.volume)

        return await gather_quotes(one, tickers)

    async def avg_daily_volume(self, tickers: Sequence[str]) -> dict[str, float]:
        """The mean volume of the last VOLUME_SESSIONS completed daily bars."""
        from quartz_cli.kis.quotations import daily_chart

        now = self.rt.config.market_now().astimezone(KST).date()
        out: dict[str, float] = {}
        for code in tickers:
            chart = await daily_chart(self.rt.kis, code, now - timedelta(days=45),
                                      now - timedelta(days=1))
            vols = [b.volume for b in chart.bars][-self.VOLUME_SESSIONS:]
            if vols:
                out[code] = sum(vols) / len(vols)
        return out


@contextlib.asynccontextmanager
async def open_portfolio(config: Config, *, dry_run: bool,
                         progress: Callable[[str], None] = lambda s: None
                         ) -> AsyncIterator[PortfolioDeps]:
    """Everything `run_decide` / `run_rebalance` need, closed on exit."""
    engine, reason = choose_engine(config)
    async with open_runtime(config) as rt:
        executor = None
        closers = []
        if not dry_run:
            executor, close = await _executor(config, rt)
            closers.append(close)
        try:
            yield PortfolioDeps(
                env=config.env.value, store=rt.store,
                inputs=StoreInputs(config, rt, max_age=timedelta(hours=config.settings.store.input_max_age_h),
                                   produce=config.env is Env.LOCAL, progress=progress),
                market=KisMarketAccount(rt),
                calendar=krx_calendar(config.home / "cache"),
                now=config.market_now, constraints=config.constraints(),
                exit_rules=config.exit_rules(), names=name_of, budget=config.llm_budget(),
                engine=engine, configured_reason=reason, executor=executor, progress=progress)
        finally:
            for close in closers:
                await close()
            if engine is not None:
                await engine.client.aclose()


async def _executor(config: Config, rt: Runtime
                    ) -> tuple[OrderExecutor, Callable[[], Awaitable[None]]]:
    """The trading agent: remote over TRADING_AGENT_WS_URL (WebSocket, HTTP fallback), else
    in-process over this runtime's broker session. Returns it and its closer."""
    url = config.settings.servers.trading_agent_ws_url
    if url:
        from quartz_cli.servers.trading import internal_token
        from quartz_cli.servers.trading_client import TradingClient

        client = TradingClient(url, internal_token(config))
        return client, client.aclose
    from quartz_cli.app.runtime import trading_agent

    agent = trading_agent(rt)

    async def nothing() -> None:
        return None

    return agent, nothing


__all__ = ["open_portfolio", "choose_engine", "gather_quotes"]
