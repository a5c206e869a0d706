"""Composition root, portfolio manager: the store-backed inputs (producing macro,
candidates and technical first when the store has none, in `local`), the broker's market
data and account, the order executor (the trading agent over TRADING_AGENT_WS_URL, else
in-process), the decision engines (OpenAI when configured, and the rule engine) and the KRX
calendar."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from quartz_cli.agents.inputs import StoreInputs
from quartz_cli.agents.portfolio import PortfolioDeps
from quartz_cli.app.events import EventRecorder
from quartz_cli.app.macro import open_macro
from quartz_cli.app.market_calendar import trading_calendar
from quartz_cli.app.owner import run_lock, trading_state_note
from quartz_cli.app.runtime import Runtime, open_order_executor, open_runtime
from quartz_cli.calendars import krx_calendar
from quartz_cli.config import Config, EngineChoice, Env
from quartz_cli.domain.orders import OpenOrder, OrderOutcome, OrderRequest
from quartz_cli.domain.pretrade import DayTurnover
from quartz_cli.domain.universe import bundled_universe
from quartz_cli.errors import ConfigError, SafetyRefusal, StoreError
from quartz_cli.llm.decision_rules import RulesDecisionEngine
from quartz_cli.ports import CopyAwareStore, OrderExecutor, Store

if TYPE_CHECKING:
    from quartz_cli.llm.decision_openai import OpenAIDecisionEngine


def choose_engine(config: Config) -> tuple[OpenAIDecisionEngine | None, str]:
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


def name_of(code: str) -> str:
    listing = bundled_universe().get(code)
    return listing.name if listing else code


def watched(config: Config) -> tuple[list[str], Callable[[str], str]]:
    """The codes QUARTZ_UNIVERSE adds to decide (none for `candidates`), and a name for any
    listing of the home's universe."""
    from quartz_cli.agents.selection import selection_universe
    from quartz_cli.app.universe import universe_codes

    if config.settings.universe.choice.strip().lower() == "candidates":
        return [], name_of
    universe = selection_universe(config.home)

    def names(code: str) -> str:
        listing = universe.get(code)
        return listing.name if listing else code

    return universe_codes(config, universe) or [], names


def store_inputs(config: Config, rt: Runtime, *, max_age: timedelta,
                 progress: Callable[[str], None]) -> StoreInputs:
    """The portfolio agent's inputs over `rt`'s store and market data; in `local` the macro
    and selection agents run first when the store has nothing usable."""

    async def produce_macro() -> None:
        async with open_macro(config, rt.store) as agent:
            await agent.run()

    async def produce_candidates(now: datetime) -> None:
        from quartz_cli.agents.selection import run_selection
        from quartz_cli.app.selection import open_selection

        async with open_selection(config, store=rt.store) as srt:
            await run_selection(srt.deps, now=now)

    produce = config.env is Env.LOCAL
    return StoreInputs(rt.store, rt.market, env=config.env.value, max_age=max_age,
                       macro_max_age=timedelta(hours=config.settings.macro.max_age_h),
                       calendar=krx_calendar(config.home / "cache"),
                       produce_macro=produce_macro if produce else None,
                       produce_candidates=produce_candidates if produce else None,
                       progress=progress)


class NoOwner:
    """The order executor while the account has no owner this run can reach (its lease is
    in a shared store that does not answer): the run still decides and records, and each
    order is refused with the reason, never sent around the owner."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def submit(self, request: OrderRequest) -> OrderOutcome:
        raise SafetyRefusal(f"not sent: {self.reason}",
                            hint="orders go through the account's owner only; run again "
                            "when the store answers, or send through the trading server "
                            "(TRADING_AGENT_WS_URL)")

    async def outcome(self, request_id: str) -> OrderOutcome | None:
        return None

    async def refresh(self) -> None:
        return None

    async def cancelable_orders(self) -> list[OpenOrder]:
        return []

    async def day_turnover(self) -> DayTurnover | None:
        return None


async def _order_executor(stack: contextlib.AsyncExitStack, rt: Runtime) -> OrderExecutor:
    """`open_order_executor`, or `NoOwner` when the account's lease cannot be taken because
    the shared store is unreachable (the seed's degraded mode: decide proceeds, orders still
    need the owner)."""
    try:
        return await stack.enter_async_context(open_order_executor(rt))
    except StoreError as exc:
        if not isinstance(rt.store, CopyAwareStore) or rt.store.unreachable is None:
            raise
        return NoOwner(f"the account's owner cannot be established: its lease is in "
                       f"{rt.store.description}, which is unreachable ({exc.message})")


@contextlib.asynccontextmanager
async def open_portfolio(config: Config, *, dry_run: bool,
                         progress: Callable[[str], None] = lambda s: None,
                         store: Store | None = None) -> AsyncIterator[PortfolioDeps]:
    """Everything `run_decide` / `run_rebalance` need (over `store`, else the configured
    one), closed on exit."""
    engine, reason = choose_engine(config)
    watch, names = watched(config)
    async with contextlib.AsyncExitStack() as stack:
        if not dry_run:
            # Held for the whole read-plan-send: the next run plans after these orders.
            stack.enter_context(run_lock(config, "the portfolio run"))
        rt = await stack.enter_async_context(
            open_runtime(config, store=store, reads_via_owner=True))
        if engine is not None:
            from quartz_cli.llm.records import RecordingClient

            # Every answer is kept by the hash of its prompt, for a backtest to replay.
            engine.client = RecordingClient(engine.client, rt.store)
        executor = None if dry_run else await _order_executor(stack, rt)
        state_note = await trading_state_note(config)
        try:
            yield PortfolioDeps(
                env=config.env.value, store=rt.store,
                inputs=store_inputs(config, rt,
                                    max_age=timedelta(hours=config.settings.store.input_max_age_h),
                                    progress=progress),
                market=rt.market, account=rt.account,
                calendar=await trading_calendar(rt),
                now=config.market_now, constraints=config.constraints(),
                exit_rules=config.exit_rules(), names=names, rules=RulesDecisionEngine,
                budget=config.llm_budget(), engine=engine, configured_reason=reason,
                executor=executor, progress=progress, status_notes=[state_note],
                watch=watch, events=EventRecorder(config))
        finally:
            if engine is not None:
                await engine.client.aclose()


__all__ = ["NoOwner", "choose_engine", "open_portfolio"]
