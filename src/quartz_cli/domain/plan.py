"""The decision document: what `quartz decide` / `quartz rebalance` print with `--json` and
store under `decisions/`. Its JSON schema ships in the package
(`quartz_cli/schemas/decision-plan.schema.json`, generated from these models)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from quartz_cli.domain.documents import Document
from quartz_cli.domain.orders import Side

SCHEMA_FILE = "decision-plan.schema.json"

# An order's side in the plan: its values are the document's BUY/SELL; the schema spells it
# inline, as the shipped schema always has.
PlanSide = Annotated[Side, WithJsonSchema({"enum": [s.value for s in Side], "title": "Side",
                                           "type": "string"})]


class Outcome(str, Enum):
    """What the run did, for scripts (also expressed by `--detailed-exit-codes`)."""

    ORDERS_PLANNED = "orders_planned"    # dry run: orders passed the gate
    ORDERS_SENT = "orders_sent"          # every order was accepted by the broker
    NOTHING_TO_DO = "nothing_to_do"      # no proposal survived the gate
    MARKET_CLOSED = "market_closed"      # the order window refused (nothing sent)
    ORDERS_FAILED = "orders_failed"      # at least one order was refused or failed


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionState(_M):
    at: datetime = Field(description="the market clock at the run (UTC)")
    phase: str = Field(description="KRX phase: closed, pre_open, continuous, closing, after_hours")
    trading_day: bool
    accepts_orders: bool = Field(description="the pre-trade order-window check passed")
    refusal: str | None = Field(description="why the order window refused, when it did")
    detail: str


class UsageInfo(_M):
    model: str
    prompt_tokens: int
    output_tokens: int
    cost_usd: float = Field(description="estimated from the model's list price")


class BudgetInfo(_M):
    per_run_usd: float
    per_day_usd: float
    spent_today_usd: float = Field(description="before this run")
    estimate_usd: float = Field(description="the pre-call estimate for this run's call")


class EngineInfo(_M):
    name: str = Field(description="engine that decided: openai:<model> or rules:<name>")
    is_rules: bool
    fallback: str | None = Field(description="why rules decided: configured, llm_failed, "
                                 "llm_bad_answer, budget_exhausted; null when the LLM did")
    detail: str
    attempted: str | None = Field(description="the LLM engine that was tried, if any")
    usage: list[UsageInfo] = Field(description="every LLM call of the run, failed ones too")
    budget: BudgetInfo | None
    notes: list[str]


class MacroBrief(_M):
    bias: str = Field(description="bullish, neutral, bearish or uncertain")
    stale: bool
    age_hours: float | None
    positive_summary: str
    negative_summary: str


class CandidateBrief(_M):
    ticker: str
    name: str
    score: float | None
    sentiment: float | None


class HoldingBrief(_M):
    ticker: str
    name: str
    qty: int
    sellable_qty: int
    avg_price: int
    price: int
    pnl_pct: float | None
    weight: float


class Skipped(_M):
    ticker: str
    reason: str


class InputsBrief(_M):
    macro: MacroBrief | None = Field(description="null when not gathered (rebalance)")
    candidates: list[CandidateBrief]
    holdings: list[HoldingBrief]
    cash_krw: int
    total_value_krw: int
    skipped: list[Skipped] = Field(description="tickers left out (e.g. technical state failed)")
    produced: list[str] = Field(description="inputs this run produced first because the "
                                "store had none (macro, candidates, technical)")
    sources: dict[str, str] = Field(description="store key of each input document")
    data_notes: list[str] = Field(default_factory=list, description="inputs that are not live "
                                  "market data (sample snapshots, synthetic news or prices)")


class PlanDecision(_M):
    ticker: str
    name: str
    action: Literal["BUY", "SELL", "HOLD"]
    target_weight: float
    confidence: float
    rationale: str


class PlanNote(_M):
    ticker: str
    action: str
    kind: Literal["cut", "dropped", "held_back"]
    rule: str = Field(description="the gate rule (stable names, see domain/risk.py)")
    detail: str


class PlanOrder(_M):
    request_id: str = Field(description="idempotency key of the order")
    ticker: str
    name: str
    side: PlanSide
    qty: int = Field(gt=0)
    limit_price: int = Field(gt=0, description="won, on the KRX tick grid, within ±30 %")
    notional_krw: int
    est_fees_krw: int = Field(description="broker fee (and sell tax) estimate")
    rationale: str


class Execution(_M):
    request_id: str
    ticker: str
    side: PlanSide
    qty: int
    status: str = Field(description="the trading agent's status for the order")
    order_no: str | None
    message: str


class DecisionPlan(Document):
    """One run of the portfolio manager: inputs in brief, decisions, gate, orders."""

    kind: Literal["decide", "rebalance"]
    run_id: str
    dry_run: bool
    outcome: Outcome
    session: SessionState
    engine: EngineInfo | None = Field(description="null when nothing was decided (market "
                                      "closed before gathering)")
    inputs: InputsBrief | None = Field(description="null when nothing was gathered")
    decisions: list[PlanDecision]
    gate: list[PlanNote] = Field(description="what the risk gate cut, dropped or held back")
    orders: list[PlanOrder] = Field(description="orders that passed the gate (sent unless "
                                    "dry_run)")
    held_back: list[PlanOrder] = Field(description="valid orders the order window refused")
    weights_before: dict[str, float] = Field(description="ticker (and cash) → weight")
    weights_after: dict[str, float] = Field(description="expected, if every order fills")
    cash_before_krw: int
    cash_after_krw: int = Field(description="expected, fees included")
    executions: list[Execution]
    next_check_minutes: int | None = Field(description="rebalance: suggested interval")
    notes: list[str]


def plan_json_schema() -> dict:
    """The JSON schema of the decision document, as shipped in the package."""
    schema = DecisionPlan.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://quartz.invalid/schemas/decision-plan.schema.json",
        "title": "Quartz decision plan",
        "description": "The output of `quartz decide --json` and `quartz rebalance --json` "
                       "(dry run or not) and the document stored under decisions/.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }
