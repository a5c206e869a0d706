"""The portfolio agent in-process, through fakes of its ports (no broker, no LLM, no disk):
what it decides, what the gate cuts, what it sends and what the plan records."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from quartz_cli.agents.portfolio import (
    CandidateInfo,
    CandidatesRead,
    MacroRead,
    PortfolioDeps,
    TechnicalRead,
    run_decide,
    run_rebalance,
)
from quartz_cli.domain.bars import Bar, Period
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.decision import (
    Constraints,
    DecisionInput,
    MacroSummaryView,
    PortfolioView,
    Position,
    Proposal,
    Quote,
    TechnicalView,
)
from quartz_cli.domain.engine import EngineAnswer
from quartz_cli.domain.exits import ExitRules
from quartz_cli.domain.krx import KST
from quartz_cli.domain.orders import OpenOrder, OrderOutcome, OrderRequest, OrderState, Side
from quartz_cli.domain.plan import Outcome
from quartz_cli.errors import SafetyRefusal
from quartz_cli.ports import DailyBars

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=KST)  # a Tuesday, in the regular session
PRICE = 70_000


class DictStore:
    """The `Store` port in memory."""

    description = "memory"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def put_if_absent(self, key: str, data: bytes) -> bool:
        if key in self.objects:
            return False
        self.objects[key] = data
        return True

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def ping(self) -> None:
        return None


class FakeMarket:
    """The `MarketData` port over fixed quotes and flat daily bars."""

    source = "fake market"

    def __init__(self, quotes: dict[str, Quote], daily_volume: int = 1_000_000) -> None:
        self._quotes = quotes
        self.daily_volume = daily_volume

    async def quotes(self, tickers: Sequence[str]) -> tuple[dict[str, Quote], dict[str, str]]:
        got = {t: self._quotes[t] for t in tickers if t in self._quotes}
        return got, {t: "unknown ticker" for t in tickers if t not in self._quotes}

    async def daily_bars(self, ticker: str, start: date, end: date,
                         period: Period = Period.DAY) -> DailyBars:
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        bars = [Bar(day=d, open=PRICE, high=PRICE, low=PRICE, close=PRICE,
                    volume=self.daily_volume) for d in days if d.weekday() < 5]
        return DailyBars(code=ticker, name=ticker, period=period, bars=bars)


class FakeAccount:
    """The `Account` port over a fixed portfolio."""

    def __init__(self, view: PortfolioView) -> None:
        self.view = view

    async def orderable_cash(self) -> int:
        return self.view.cash_krw

    async def portfolio(self) -> PortfolioView:
        return self.view


class FakeInputs:
    """The `InputSource` port: fixed macro, candidates and a neutral technical state."""

    def __init__(self, candidates: list[str]) -> None:
        self.produced: list[str] = []
        self._candidates = candidates

    async def macro(self, now: datetime) -> MacroRead:
        return MacroRead(MacroSummaryView(), timedelta(hours=1), "macro-analysis/x.json")

    async def candidates(self, now: datetime) -> CandidatesRead:
        return CandidatesRead([CandidateInfo(ticker=t, name=t, score=0.9, sentiment=0.5)
                               for t in self._candidates], "candidates/x.json")

    async def technical(self, tickers: Sequence[str], now: datetime) -> TechnicalRead:
        views = {t: TechnicalView(close=PRICE, rsi14=50.0, sma5=PRICE, sma20=PRICE)
                 for t in tickers}
        return TechnicalRead(views, {t: f"technical/{t}/x.json" for t in tickers}, {})


class FakeExecutor:
    """The `OrderExecutor` port: books every order, fills them all on `refresh`, or refuses
    every order when `refuse` is set."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.submitted: list[OrderRequest] = []
        self.outcomes: dict[str, OrderOutcome] = {}

    async def submit(self, request: OrderRequest) -> OrderOutcome:
        if self.refuse:
            raise SafetyRefusal("orders are disabled")
        self.submitted.append(request)
        out = OrderOutcome(request_id=request.request_id, state=OrderState.ACCEPTED,
                           side=request.side, ticker=request.ticker, qty=request.qty,
                           order_type=request.order_type, price=request.price,
                           order_no=f"{len(self.submitted):010d}", updated_at=NOW)
        self.outcomes[request.request_id] = out
        return out

    async def outcome(self, request_id: str) -> OrderOutcome | None:
        return self.outcomes.get(request_id)

    async def refresh(self) -> None:
        for rid, o in self.outcomes.items():
            self.outcomes[rid] = o.model_copy(update={
                "state": OrderState.FILLED, "filled_qty": o.qty, "avg_fill_price": o.price})

    async def cancelable_orders(self) -> list[OpenOrder]:
        return []

    async def day_turnover(self) -> None:
        return None


class Proposes:
    """A `RuleDecider` answering with fixed proposals (the factory takes the reason)."""

    def __init__(self, *proposals: Proposal) -> None:
        self.proposals = proposals
        self.reasons: list[str] = []

    def __call__(self, reason: str) -> Proposes:
        self.reasons.append(reason)
        return self

    def decide_now(self, request: DecisionInput) -> EngineAnswer:
        return EngineAnswer(proposals=self.proposals, engine="rules:fake")


def quote(ticker: str, price: int = PRICE, volume: int = 500_000) -> Quote:
    return Quote(ticker=ticker, price=price, base=price, upper=price * 13 // 10,
                 lower=price * 7 // 10, volume=volume)


def deps(*, cash: int = 10_000_000, positions: tuple[Position, ...] = (),
         candidates: Sequence[str] = ("005930",), rules: Proposes | None = None,
         executor: FakeExecutor | None = None, store: DictStore | None = None
         ) -> PortfolioDeps:
    tickers = set(candidates) | {p.ticker for p in positions}
    sessions = tuple(NOW.date() + timedelta(days=i) for i in range(-60, 30)
                     if (NOW.date() + timedelta(days=i)).weekday() < 5)
    return PortfolioDeps(
        env="local", store=store or DictStore(), inputs=FakeInputs(list(candidates)),
        market=FakeMarket({t: quote(t, p.price if (p := next(
            (x for x in positions if x.ticker == t), None)) else PRICE) for t in tickers}),
        account=FakeAccount(PortfolioView(cash_krw=cash, positions=positions)),
        calendar=KrxCalendar(sessions), now=lambda: NOW, constraints=Constraints(),
        exit_rules=ExitRules(), names=lambda t: f"name-{t}", rules=rules or Proposes(),
        executor=executor)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_decide_sends_the_gated_buy_and_records_its_fill() -> None:
    executor, store = FakeExecutor(), DictStore()
    rules = Proposes(Proposal(ticker="005930", side=Side.BUY, target_weight=0.1,
                              confidence=0.8, rationale="uptrend"))
    plan = run(run_decide(deps(rules=rules, executor=executor, store=store), dry_run=False))

    assert [(o.side, o.ticker) for o in plan.orders] == [("BUY", "005930")]
    order = plan.orders[0]
    assert order.qty == 1_000_000 // order.limit_price
    assert [r.request_id for r in executor.submitted] == [order.request_id]
    assert executor.submitted[0].qty == order.qty
    assert [(e.request_id, e.status) for e in plan.executions] == [(order.request_id, "filled")]
    assert plan.outcome is Outcome.ORDERS_SENT
    assert rules.reasons == ["rules engine configured"]
    assert any(k.startswith("decisions/") for k in store.objects)


def test_decide_cuts_an_oversized_buy_to_the_single_ticker_cap() -> None:
    rules = Proposes(Proposal(ticker="005930", side=Side.BUY, target_weight=0.6))
    plan = run(run_decide(deps(rules=rules), dry_run=True))

    assert [(n.ticker, n.kind, n.rule) for n in plan.gate] == [
        ("005930", "cut", "max_single_ticker_weight")]
    assert plan.orders[0].notional_krw <= 2_000_000
    assert plan.outcome is Outcome.ORDERS_PLANNED and plan.executions == []


def test_decide_records_a_refused_order_and_the_run_as_failed() -> None:
    rules = Proposes(Proposal(ticker="005930", side=Side.BUY, target_weight=0.1))
    plan = run(run_decide(deps(rules=rules, executor=FakeExecutor(refuse=True)),
                          dry_run=False))

    assert [(e.status, e.message) for e in plan.executions] == [
        ("refused", "orders are disabled")]
    assert plan.outcome is Outcome.ORDERS_FAILED


def test_rebalance_sells_a_position_past_its_stop_loss_and_holds_the_others() -> None:
    losing = Position(ticker="005930", name="s", qty=10, sellable_qty=10, avg_price=80_000,
                      price=70_000)
    steady = Position(ticker="000660", name="h", qty=5, sellable_qty=5, avg_price=70_000,
                      price=70_000)
    executor = FakeExecutor()
    plan = run(run_rebalance(deps(cash=10_000_000, positions=(losing, steady), candidates=(),
                                  executor=executor), dry_run=False))

    assert {d.ticker: d.action for d in plan.decisions} == {"005930": "SELL", "000660": "HOLD"}
    assert [(o.side, o.ticker, o.qty) for o in plan.orders] == [("SELL", "005930", 10)]
    assert [r.ticker for r in executor.submitted] == ["005930"]
    assert plan.engine is not None and plan.engine.name == "rules:exits"
    assert plan.next_check_minutes is not None and plan.next_check_minutes > 0
