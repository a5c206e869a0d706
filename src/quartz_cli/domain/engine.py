"""The answer every decision engine gives, and the structured-output schema an LLM engine
must answer with (restricted to the allowed tickers and decisions)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quartz_cli.domain.decision import DECISION_WORDS, DecisionInput, DecisionSide, Proposal
from quartz_cli.domain.orders import Side
from quartz_cli.domain.usage import Usage


@dataclass(frozen=True)
class EngineAnswer:
    """An engine's proposals; `engine` is "openai:<model>" or "rules:<name>"."""

    proposals: tuple[Proposal, ...]
    engine: str
    usage: tuple[Usage, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def is_rules(self) -> bool:
        return self.engine.startswith("rules:")


class LLMDecision(BaseModel):
    """One decision as the LLM answers it (validated before anything else reads it); its
    `action` BUY, SELL or HOLD is read as `side` (None for HOLD)."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    ticker: str
    side: DecisionSide = Field(alias="action")
    target_weight: float
    confidence: float = Field(ge=0, le=1)
    rationale: str


class LLMDecisionSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decisions: list[LLMDecision]


def answer_schema(request: DecisionInput) -> dict[str, Any]:
    """The strict JSON schema sent as the structured-output format: tickers are limited to the
    decision input's universe; every property is required (OpenAI strict mode)."""
    tickers = [e.ticker for e in request.universe]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["decisions"],
        "properties": {"decisions": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["ticker", "action", "target_weight", "confidence", "rationale"],
            "properties": {
                "ticker": {"type": "string", "enum": tickers},
                "action": {"type": "string", "enum": list(DECISION_WORDS)},
                "target_weight": {"type": "number",
                                  "description": "share of total portfolio value after the "
                                  "trade, 0..max_single_ticker_weight"},
                "confidence": {"type": "number", "description": "0..1"},
                "rationale": {"type": "string", "description": "one or two sentences"},
            },
        }}},
    }


class IncoherentAnswer(ValueError):
    """Weights that admit no sensible reading (negative, not finite, or summing above 1)."""


def check_coherent(decisions: list[LLMDecision]) -> None:
    """Raise IncoherentAnswer for weights no gate should try to interpret. Weights above the
    single-ticker cap and unknown tickers are not incoherent: the gate clips and drops them."""
    for d in decisions:
        if not math.isfinite(d.target_weight) or d.target_weight < 0:
            raise IncoherentAnswer(f"{d.ticker}: target weight {d.target_weight} is negative "
                                   "or not a number")
    total = sum(d.target_weight for d in decisions if d.side is not Side.SELL)
    if total > 1.0 + 1e-6:
        raise IncoherentAnswer(f"target weights sum to {total:.3f}, above 1")
