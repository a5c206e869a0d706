"""The portfolio manager: gather what the other agents know, decide (LLM or rules), pass the
decision through the risk gate, hand the orders to the trading agent, and record it all.

`run_decide` is `quartz decide`; `run_rebalance` is `quartz rebalance` (stop-loss and
take-profit over held positions, through the same gate). Both return a `DecisionPlan`, and
without `dry_run` store it under `decisions/`. The agent sees only small ports: where the
inputs come from (`InputSource`), prices (`MarketData`), the account (`Account`), the
decision engines (`DecisionLLM`, `RuleDeciderFactory`) and where orders go
(`OrderExecutor`); the composition root wires them."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from quartz_cli.agents.decision_engine import (
    EngineOutcome,
    Fallback,
    StoreUsageLedger,
    UsageLedger,
    decide_with_fallback,
)
from quartz_cli.agents.documents import dated_key, publish
from quartz_cli.domain.budget import LLMBudget
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.decision import (
    Constraints,
    DecisionInput,
    FundamentalView,
    MacroSummaryView,
    PortfolioView,
    Proposal,
    Quote,
    TechnicalView,
    decision_word,
)
from quartz_cli.domain.decision_input import build_decision_input
from quartz_cli.domain.documents import utcnow
from quartz_cli.domain.events import EventType
from quartz_cli.domain.exits import (
    ExitKind,
    ExitRules,
    RebalanceSchedule,
    exit_signals,
    next_check_interval,
    volume_pace,
)
from quartz_cli.domain.krx import KST, minutes_into_session
from quartz_cli.domain.order_window import WindowCheck, check_order_window
from quartz_cli.domain.orders import (
    OrderOutcome,
    OrderRequest,
    OrderState,
    OrderType,
)
from quartz_cli.domain.plan import (
    BudgetInfo,
    CandidateBrief,
    DecisionPlan,
    EngineInfo,
    Execution,
    HoldingBrief,
    InputsBrief,
    MacroBrief,
    Outcome,
    PlanDecision,
    PlanNote,
    PlanOrder,
    SessionState,
    Skipped,
    UsageInfo,
)
from quartz_cli.domain.risk import GateResult, Order, run_gate, weights_after
from quartz_cli.errors import BrokerError, QuartzError, TradingAgentUnreachable
from quartz_cli.logs import log_context
from quartz_cli.ports import (
    Account,
    CopyAwareStore,
    DecisionLLM,
    EventSink,
    MarketData,
    OrderExecutor,
    RuleDeciderFactory,
    Store,
)

log = logging.getLogger(__name__)

PREFIX = "decisions"
SESSION_MINUTES = 390
VOLUME_SESSIONS = 20


@dataclass(frozen=True)
class CandidateInfo:
    ticker: str
    name: str
    score: float | None
    sentiment: float | None
    news_count: int = 0


@dataclass(frozen=True)
class MacroRead:
    view: MacroSummaryView
    age: timedelta | None
    key: str | None
    # Set when the input is not live data (the bundled sample snapshot), to be shown.
    data_note: str | None = None


@dataclass(frozen=True)
class CandidatesRead:
    items: list[CandidateInfo]
    key: str | None
    data_note: str | None = None


@dataclass(frozen=True)
class TechnicalRead:
    views: dict[str, TechnicalView]
    keys: dict[str, str]
    failed: dict[str, str]


class InputSource(Protocol):
    """What the macro, selection and technical agents published (produced first when the
    store has none)."""

    produced: list[str]

    async def macro(self, now: datetime) -> MacroRead: ...

    async def candidates(self, now: datetime) -> CandidatesRead: ...

    async def technical(self, tickers: Sequence[str], now: datetime) -> TechnicalRead: ...


@dataclass
class PortfolioDeps:
    env: str
    store: Store
    inputs: InputSource
    market: MarketData
    account: Account
    calendar: KrxCalendar
    now: Callable[[], datetime]
    constraints: Constraints
    exit_rules: ExitRules
    names: Callable[[str], str]
    rules: RuleDeciderFactory
    budget: LLMBudget = field(default_factory=LLMBudget)
    ledger: UsageLedger | None = None
    engine: DecisionLLM | None = None
    configured_reason: str = "rules engine configured"
    executor: OrderExecutor | None = None
    progress: Callable[[str], None] = lambda step: None
    # Shown first in every plan's notes (the account's trading state).
    status_notes: list[str] = field(default_factory=list)
    # Listings decide analyses besides the candidates and holdings (the universe setting:
    # an index's members, or every listing).
    watch: Sequence[str] = ()
    # The account's event log: decisions, exit triggers and stale inputs of real runs.
    events: EventSink | None = None


async def _event(deps: PortfolioDeps, kind: EventType, run_id: str,
                 data: dict[str, object]) -> None:
    if deps.events is not None:
        await asyncio.to_thread(deps.events.append, kind.value, run_id=run_id, data=data)


def new_run_id(kind: str, now: datetime) -> str:
    """`dec-20261124T100203-1a2b3c` (KST; `reb-…` for rebalance): sortable, unique, valid as
    a request_id prefix."""
    prefix = "dec" if kind == "decide" else "reb"
    return f"{prefix}-{now.astimezone(KST).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


def session_state(window: WindowCheck) -> SessionState:
    return SessionState(at=window.at, phase=window.phase.value, trading_day=window.trading_day,
                        accepts_orders=window.accepts_orders,
                        refusal=window.refusal.value if window.refusal else None,
                        detail=window.detail)


def check_window(deps: PortfolioDeps) -> WindowCheck:
    """The pre-trade order-window check at the market clock's now."""
    return check_order_window(deps.now(), deps.calendar)


def closed_plan(deps: PortfolioDeps, kind: str, window: WindowCheck) -> DecisionPlan:
    """A non-dry run outside the order window: nothing gathered, nothing sent."""
    now = deps.now()
    return DecisionPlan(
        produced_at=utcnow(), env=deps.env, kind=kind, run_id=new_run_id(kind, now),
        dry_run=False, outcome=Outcome.MARKET_CLOSED, session=session_state(window),
        engine=None, inputs=None, decisions=[], gate=[], orders=[], held_back=[],
        weights_before={}, weights_after={}, cash_before_krw=0, cash_after_krw=0,
        executions=[], next_check_minutes=None,
        notes=[*deps.status_notes, f"market closed: {window.detail}; nothing was sent"])


@dataclass
class _Gathered:
    macro: MacroRead | None
    candidates: CandidatesRead | None
    technical: TechnicalRead
    portfolio: PortfolioView
    quotes: dict[str, Quote]
    skipped: list[Skipped]


async def _gather(deps: PortfolioDeps, now: datetime, *, full: bool) -> _Gathered:
    """Inputs: the macro and candidates documents alongside the balance, then the technical
    state and quotes of the tickers they name; `full` False (rebalance) reads only the
    account and prices of held positions."""

    async def documents() -> tuple[MacroRead | None, CandidatesRead | None]:
        if not full:
            return None, None
        deps.progress("macro summary")
        macro = await deps.inputs.macro(now)
        deps.progress("candidates")
        return macro, await deps.inputs.candidates(now)

    async def balance() -> PortfolioView:
        deps.progress("balance")
        return await deps.account.portfolio()

    # The documents come from the store, the balance from the broker: neither waits for the
    # other.
    (macro, cands), portfolio = await asyncio.gather(documents(), balance())
    held = [p.ticker for p in portfolio.positions]
    tickers = list(dict.fromkeys([c.ticker for c in (cands.items if cands else [])]
                                 + list(deps.watch if full else ()) + held))
    technical = TechnicalRead({}, {}, {})
    deps.progress("technical state and quotes")
    # Both go through the same client and rate limiter; running them together keeps the
    # limiter busy instead of draining between the phases.
    if full and tickers:
        technical, (quotes, failed) = await asyncio.gather(
            deps.inputs.technical(tickers, now), deps.market.quotes(tickers))
    else:
        quotes, failed = await deps.market.quotes(tickers)
    skipped = [Skipped(ticker=t, reason=f"technical: {why}") for t, why in
               sorted(technical.failed.items())]
    skipped += [Skipped(ticker=t, reason=f"quote: {why}") for t, why in sorted(failed.items())]
    # Positions are valued at the fresh quote where there is one.
    positions = tuple(p.model_copy(update={"price": quotes[p.ticker].price})
                      if p.ticker in quotes else p for p in portfolio.positions)
    portfolio = portfolio.model_copy(update={"positions": positions})
    return _Gathered(macro, cands, technical, portfolio, quotes, skipped)


def _brief(deps: PortfolioDeps, g: _Gathered) -> InputsBrief:
    m = g.macro
    macro = None
    if m is not None:
        macro = MacroBrief(bias=m.view.market_bias_hint.value, stale=m.view.stale,
                           age_hours=round(m.age / timedelta(hours=1), 2) if m.age else None,
                           positive_summary=m.view.positive_summary,
                           negative_summary=m.view.negative_summary)
    pf = g.portfolio
    holdings = []
    for p in pf.positions:
        pnl = round((p.price - p.avg_price) * 100 / p.avg_price, 2) if p.avg_price else None
        holdings.append(HoldingBrief(ticker=p.ticker, name=p.name or deps.names(p.ticker),
                                     qty=p.qty, sellable_qty=p.sellable_qty,
                                     avg_price=p.avg_price, price=p.price, pnl_pct=pnl,
                                     weight=round(pf.weight(p.ticker), 6)))
    sources = {}
    if m and m.key:
        sources["macro"] = m.key
    if g.candidates and g.candidates.key:
        sources["candidates"] = g.candidates.key
    # One snapshot usually holds every ticker's analysis: name it once, not per ticker.
    snapshots = set(g.technical.keys.values())
    if len(snapshots) == 1:
        sources["technical"] = snapshots.pop()
    else:
        sources.update({f"technical/{t}": k for t, k in sorted(g.technical.keys.items())})
    notes = [n for n in (m.data_note if m else None,
                         g.candidates.data_note if g.candidates else None) if n]
    if deps.env == "local":
        notes.append("prices, bars and account: the KIS simulator's synthetic sample market")
    return InputsBrief(
        macro=macro,
        candidates=[CandidateBrief(ticker=c.ticker, name=c.name, score=c.score,
                                   sentiment=c.sentiment)
                    for c in (g.candidates.items if g.candidates else [])],
        holdings=holdings, cash_krw=pf.cash_krw, total_value_krw=pf.total_value,
        skipped=g.skipped, produced=list(deps.inputs.produced), sources=sources,
        data_notes=notes)


def _decision_input(deps: PortfolioDeps, now: datetime, g: _Gathered) -> DecisionInput:
    cands = g.candidates.items if g.candidates else []
    tickers = [(c.ticker, c.name) for c in cands]
    tickers += [(code, deps.names(code)) for code in deps.watch]
    tickers += [(p.ticker, p.name or deps.names(p.ticker)) for p in g.portfolio.positions]
    fundamentals = {c.ticker: FundamentalView(sentiment=c.sentiment, score=c.score,
                                              news_count=c.news_count, candidate=True)
                    for c in cands}
    return build_decision_input(
        now_utc=now, macro=g.macro.view if g.macro else MacroSummaryView(), portfolio=g.portfolio,
        tickers=tickers, technical=g.technical.views, fundamentals=fundamentals,
        quotes=g.quotes, constraints=deps.constraints)


def _engine_info(outcome: EngineOutcome, budget: LLMBudget) -> EngineInfo:
    b = outcome.budget
    return EngineInfo(
        name=outcome.answer.engine, is_rules=outcome.answer.is_rules,
        fallback=outcome.fallback.value if outcome.fallback else None, detail=outcome.detail,
        attempted=outcome.attempted,
        usage=[UsageInfo(model=u.model, prompt_tokens=u.prompt_tokens,
                         output_tokens=u.output_tokens, cost_usd=round(u.cost_usd, 6))
               for u in outcome.usage],
        budget=BudgetInfo(per_run_usd=budget.per_run_usd, per_day_usd=budget.per_day_usd,
                          spent_today_usd=round(b.spent_today_usd, 6),
                          estimate_usd=round(b.estimate_usd, 6)) if b else None,
        notes=list(outcome.answer.notes))


def _plan_order(o: Order, run_id: str, i: int, names: Callable[[str], str]) -> PlanOrder:
    return PlanOrder(request_id=f"{run_id}-{i:02d}-{o.side.value.lower()}-{o.ticker}",
                     ticker=o.ticker, name=names(o.ticker), side=o.side, qty=o.qty,
                     limit_price=o.limit_price, notional_krw=o.notional, est_fees_krw=o.fees_krw,
                     rationale=o.rationale)


async def _execute(deps: PortfolioDeps, orders: list[PlanOrder], decided_at: datetime
                   ) -> list[Execution]:
    """Send each order once (sells first, as the gate ordered them) through the executor.
    An order the broker or the trading agent refuses is recorded, and the others still go.
    The executor is then asked for fills (`refresh`, then each request's `outcome`).
    `decided_at` is the wall-clock time of the decision: the trading agent refuses a request
    that is too old."""
    executor = deps.executor
    assert executor is not None
    out: dict[str, Execution] = {}
    unreachable: TradingAgentUnreachable | None = None
    for o in orders:
        if unreachable is not None:
            # Nothing answers at the trading agent: the rest are not tried (each try would
            # only wait to find the same), and say so.
            out[o.request_id] = Execution(request_id=o.request_id, ticker=o.ticker, side=o.side,
                                          qty=o.qty, status="not sent", order_no=None,
                                          message=unreachable.message)
            continue
        deps.progress(f"order {o.side.value} {o.ticker}")
        request = OrderRequest(
            request_id=o.request_id, side=o.side, ticker=o.ticker, qty=o.qty,
            order_type=OrderType.LIMIT, price=o.limit_price, timestamp=decided_at)
        try:
            result = await executor.submit(request)
        except TradingAgentUnreachable as exc:
            unreachable = exc
            out[o.request_id] = Execution(request_id=o.request_id, ticker=o.ticker, side=o.side,
                                          qty=o.qty, status="not sent", order_no=None,
                                          message=exc.message)
            continue
        except QuartzError as exc:
            status = "error" if isinstance(exc, BrokerError) else "refused"
            out[o.request_id] = Execution(request_id=o.request_id, ticker=o.ticker, side=o.side,
                                          qty=o.qty, status=status, order_no=None,
                                          message=exc.message)
            continue
        out[o.request_id] = _execution(o, result)
    if unreachable is not None:
        return [out[o.request_id] for o in orders]
    try:
        await executor.refresh()
    except BrokerError as exc:
        log.warning("could not refresh fills: %s", exc.message)
    else:
        for o in orders:
            if out[o.request_id].status in ("error", "refused"):
                continue
            latest = await executor.outcome(o.request_id)
            if latest is not None:
                out[o.request_id] = _execution(o, latest)
    return [out[o.request_id] for o in orders]


def _execution(o: PlanOrder, result: OrderOutcome) -> Execution:
    message = result.message
    if result.state is OrderState.REJECTED and (result.code or "").startswith("pretrade:"):
        # The account owner cut further than the gate: say so, with its rule.
        rule = (result.code or "").removeprefix("pretrade:")
        return Execution(request_id=o.request_id, ticker=o.ticker, side=o.side, qty=o.qty,
                         status=f"refused by the owner: {rule}", order_no=None, message=message)
    if result.filled_qty:
        message = (f"filled {result.filled_qty} at {result.avg_fill_price or 0:,}; {message}"
                   .rstrip("; "))
    return Execution(request_id=o.request_id, ticker=o.ticker, side=o.side, qty=o.qty,
                     status=result.state.value, order_no=result.order_no, message=message)


_OK_STATES = {OrderState.ACCEPTED.value, OrderState.FILLED.value, OrderState.SENT.value}


def _outcome(dry_run: bool, gate: GateResult, executions: list[Execution]) -> Outcome:
    if gate.held_back:
        return Outcome.MARKET_CLOSED
    if not gate.orders:
        return Outcome.NOTHING_TO_DO
    if dry_run:
        return Outcome.ORDERS_PLANNED
    if all(e.status in _OK_STATES for e in executions):
        return Outcome.ORDERS_SENT
    return Outcome.ORDERS_FAILED


def degraded_store_note(store: CopyAwareStore) -> str:
    """What a run says when the shared store did not answer: which copies it read as stale
    and where its own documents wait."""
    keys = store.stale_keys
    shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
    return (f"the shared store {store.description} is unreachable ({store.unreachable}): "
            f"this host's last copies were read as stale ({shown or 'none'}); documents "
            "written now are kept on this host and sent when it answers")


async def _finish(deps: PortfolioDeps, *, kind: str, run_id: str, dry_run: bool, now: datetime,
                  window: WindowCheck, g: _Gathered, proposals: Sequence[Proposal],
                  engine: EngineInfo, gate: GateResult, notes: list[str],
                  next_check: timedelta | None = None) -> DecisionPlan:
    names = deps.names
    orders = [_plan_order(o, run_id, i, names) for i, o in enumerate(gate.orders)]
    held_back = [_plan_order(o, run_id, i, names) for i, o in enumerate(gate.held_back)]
    before, after = weights_after(g.portfolio, gate.orders or gate.held_back, g.quotes)
    cash_after = g.portfolio.cash_krw + sum(o.cash_effect for o in (gate.orders or gate.held_back))
    executions: list[Execution] = []
    if not dry_run and orders:
        with log_context(run_id=run_id):
            executions = await _execute(deps, orders, utcnow())
    if dry_run and not window.accepts_orders:
        notes.append(f"market closed now ({window.detail}): a real run would send nothing")
    if isinstance(deps.store, CopyAwareStore) and deps.store.unreachable is not None:
        notes.append(degraded_store_note(deps.store))
    plan = DecisionPlan(
        produced_at=utcnow(), env=deps.env, kind=kind, run_id=run_id, dry_run=dry_run,
        outcome=_outcome(dry_run, gate, executions), session=session_state(window),
        engine=engine, inputs=_brief(deps, g),
        decisions=[PlanDecision(ticker=p.ticker, name=names(p.ticker),
                                action=decision_word(p.side), target_weight=p.target_weight,
                                confidence=p.confidence, rationale=p.rationale)
                   for p in proposals],
        gate=[PlanNote(ticker=n.ticker, action=decision_word(n.side), kind=n.kind.value,
                       rule=n.rule.value, detail=n.detail) for n in gate.notes],
        orders=orders, held_back=held_back,
        weights_before={k: round(v, 6) for k, v in before.items()},
        weights_after={k: round(v, 6) for k, v in after.items()},
        cash_before_krw=g.portfolio.cash_krw, cash_after_krw=cash_after,
        executions=executions,
        next_check_minutes=int(next_check / timedelta(minutes=1)) if next_check else None,
        notes=[*deps.status_notes, *notes])
    if not dry_run:
        await _event(deps, EventType.DECISION, run_id, {
            "kind": kind, "engine": engine.name, "outcome": plan.outcome.value,
            "orders_planned": len(orders), "orders_held_back": len(held_back),
            "orders_sent": sum(1 for e in executions if e.status in _OK_STATES)})
        deps.progress("store")
        plan.notes.append(f"decision stored at {dated_key(PREFIX, plan.produced_at, kind)}")
        await asyncio.to_thread(publish, deps.store, PREFIX, plan, name=kind)
    return plan


async def _day_turnover_left(deps: PortfolioDeps, dry_run: bool,
                             notes: list[str]) -> int | None:
    """The account's turnover left today as its owner counts it, for a real run (a dry run
    has no owner to ask and plans within its own cap). A note says what was used."""
    if dry_run or deps.executor is None:
        return None
    try:
        day = await deps.executor.day_turnover()
    except QuartzError as exc:
        notes.append(f"the account's turnover for today could not be read ({exc.message}): "
                     "buys planned within this run's cap; the owner still checks each")
        return None
    if day is None:
        return None
    notes.append(f"the account's turnover today: {day.filled:,} won filled + "
                 f"{day.in_flight:,} in flight of {day.allowed:,} allowed; "
                 f"{day.left:,} left for buys")
    return day.left


async def run_decide(deps: PortfolioDeps, *, dry_run: bool) -> DecisionPlan:
    """One decision run. Without `dry_run`, outside the order window nothing is gathered or
    sent (a `market_closed` plan is returned and not stored)."""
    window = check_window(deps)
    if not dry_run and not window.accepts_orders:
        return closed_plan(deps, "decide", window)
    now = deps.now()
    run_id = new_run_id("decide", now)
    g = await _gather(deps, now, full=True)
    request = _decision_input(deps, now, g)
    deps.progress("decide")
    ledger = deps.ledger if deps.ledger is not None else StoreUsageLedger(deps.store)
    outcome = await decide_with_fallback(
        request, llm=deps.engine, rules=deps.rules, configured_reason=deps.configured_reason,
        budget=deps.budget,
        ledger=ledger, run_id=run_id, today=now.astimezone(KST).date())
    deps.progress("risk gate")
    allowances = {e.ticker: e.allowed for e in request.universe}
    gate_window = check_window(deps) if not dry_run else None
    notes: list[str] = []
    day_left = await _day_turnover_left(deps, dry_run, notes)
    gate = run_gate(outcome.answer.proposals, request.portfolio, g.quotes, deps.constraints,
                    allowances.keys(), window=gate_window, allowances=allowances,
                    day_turnover_left=day_left)
    if g.macro is None or g.macro.view.stale:
        notes.append("macro summary missing or stale: bias treated as uncertain")
        if not dry_run:
            age = g.macro.age if g.macro is not None else None
            await _event(deps, EventType.DATA_STALE, run_id, {
                "document": "macro-analysis",
                "age_s": int(age.total_seconds()) if age is not None else None})
    if outcome.fallback is not None and outcome.fallback is not Fallback.CONFIGURED:
        notes.append(f"LLM fallback ({outcome.fallback.value}): {outcome.detail}")
    return await _finish(deps, kind="decide", run_id=run_id, dry_run=dry_run, now=now,
                         window=window, g=g, proposals=outcome.answer.proposals,
                         engine=_engine_info(outcome, deps.budget), gate=gate, notes=notes)


SCHEDULE_KEY = "rebalance/schedule.json"


def read_schedule(store: Store) -> RebalanceSchedule | None:
    """The last real rebalance's time and computed interval (None before the first)."""
    raw = store.get(SCHEDULE_KEY)
    return RebalanceSchedule.from_json(raw) if raw else None


def not_due_plan(deps: PortfolioDeps, window: WindowCheck,
                 schedule: RebalanceSchedule) -> DecisionPlan:
    """A scheduled run the volume-based interval does not call for: nothing gathered."""
    now = deps.now()
    minutes = round(schedule.interval / timedelta(minutes=1))
    return DecisionPlan(
        produced_at=utcnow(), env=deps.env, kind="rebalance",
        run_id=new_run_id("rebalance", now), dry_run=False, outcome=Outcome.NOTHING_TO_DO,
        session=session_state(window), engine=None, inputs=None, decisions=[], gate=[],
        orders=[], held_back=[], weights_before={}, weights_after={}, cash_before_krw=0,
        cash_after_krw=0, executions=[], next_check_minutes=minutes,
        notes=[*deps.status_notes,
               f"not due: the last check ran at {schedule.last_run_at.astimezone(KST):%H:%M} "
               f"KST and chose a {minutes}-minute interval (from the held tickers' volume); "
               f"next check at {schedule.due_at.astimezone(KST):%H:%M} KST (--force runs now)"])


async def run_rebalance(deps: PortfolioDeps, *, dry_run: bool,
                        force: bool = False) -> DecisionPlan:
    """Stop-loss and take-profit over held positions, through the same gate, with the
    interval until the next check (5–10 minutes from the held tickers' volume). A real run
    records it in the store, and a later run before it is due (unless `force`) does
    nothing: a CronJob fires every 5 minutes, the interval decides which runs check."""
    window = check_window(deps)
    if not dry_run and not window.accepts_orders:
        return closed_plan(deps, "rebalance", window)
    now = deps.now()
    if not dry_run and not force:
        schedule = await asyncio.to_thread(read_schedule, deps.store)
        if schedule is not None and not schedule.is_due(now):
            return not_due_plan(deps, window, schedule)
    run_id = new_run_id("rebalance", now)
    g = await _gather(deps, now, full=False)
    signals = {s.ticker: s for s in exit_signals(g.portfolio, deps.exit_rules)}
    if not dry_run:
        for sig in signals.values():
            await _event(deps, EventType.STOP_LOSS if sig.kind is ExitKind.STOP_LOSS
                         else EventType.TAKE_PROFIT, run_id,
                         {"ticker": sig.ticker, "pnl_pct": str(sig.pnl_pct)})
    proposals = [signals[p.ticker].proposal if p.ticker in signals else Proposal(
        ticker=p.ticker, side=None, target_weight=round(g.portfolio.weight(p.ticker), 4),
        confidence=1.0, rationale="within the stop-loss / take-profit band")
        for p in g.portfolio.positions]
    deps.progress("risk gate")
    held = {p.ticker for p in g.portfolio.positions}
    # Exits only sell, and the owner never refuses a sell for turnover: no day budget here.
    gate = run_gate(proposals, g.portfolio, g.quotes, deps.constraints, held,
                    window=check_window(deps) if not dry_run else None)
    interval = await _next_check(deps, g, now)
    rules = deps.exit_rules
    engine = EngineInfo(name="rules:exits", is_rules=True, fallback=Fallback.CONFIGURED.value,
                        detail=f"stop-loss {rules.stop_loss_pct}% / take-profit "
                        f"{rules.take_profit_pct}% against the average purchase price",
                        attempted=None, usage=[], budget=None, notes=[])
    notes: list[str] = []
    plan = await _finish(deps, kind="rebalance", run_id=run_id, dry_run=dry_run, now=now,
                         window=window, g=g, proposals=proposals, engine=engine, gate=gate,
                         notes=notes, next_check=interval)
    if not dry_run:
        await asyncio.to_thread(deps.store.put, SCHEDULE_KEY,
                                RebalanceSchedule(now, interval).to_json())
    return plan


async def _next_check(deps: PortfolioDeps, g: _Gathered, now: datetime) -> timedelta:
    """From the busiest held ticker's volume pace (today vs. its average day)."""
    held = [p.ticker for p in g.portfolio.positions if p.ticker in g.quotes]
    if not held:
        return next_check_interval(0.0)
    try:
        averages = await avg_daily_volume(deps.market, held, now)
    except BrokerError as exc:
        log.warning("volume history unavailable (%s); using the longest interval", exc.message)
        return next_check_interval(0.0)
    fraction = min(max(minutes_into_session(now) / SESSION_MINUTES, 0.0), 1.0) or 1.0
    paces = [volume_pace(g.quotes[t].volume, averages.get(t, 0.0), fraction) for t in held]
    return next_check_interval(max(paces))


async def avg_daily_volume(market: MarketData, tickers: Sequence[str], now: datetime
                           ) -> dict[str, float]:
    """The mean volume of each ticker's last VOLUME_SESSIONS completed daily bars (for the
    rebalance cadence); a ticker without bars is left out."""
    today = now.astimezone(KST).date()
    out: dict[str, float] = {}
    for code in tickers:
        bars = await market.daily_bars(code, today - timedelta(days=45),
                                       today - timedelta(days=1))
        vols = [b.volume for b in bars.bars][-VOLUME_SESSIONS:]
        if vols:
            out[code] = sum(vols) / len(vols)
    return out
