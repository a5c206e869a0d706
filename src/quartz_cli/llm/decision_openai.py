"""The OpenAI decision engine: the decision input in, per-ticker BUY/SELL/HOLD out.

The model only chooses among what code allowed (the schema's ticker enum, each ticker's
allowed actions and maximum quantities in the prompt). Its answer is validated here:
malformed JSON or a schema mismatch, and incoherent weights (negative, not finite, summing
above 1), are a bad answer (LLMError), so the caller falls back to the rule engine. Weights
above the single-ticker cap and unknown tickers are passed on: the risk gate clips and drops
them, and the plan shows it."""

from __future__ import annotations

import json

from pydantic import ValidationError

from quartz_cli.domain.decision import DecisionInput, Proposal
from quartz_cli.domain.engine import (
    EngineAnswer,
    IncoherentAnswer,
    LLMDecisionSet,
    answer_schema,
    check_coherent,
)
from quartz_cli.domain.usage import Usage
from quartz_cli.errors import LLMBadAnswer
from quartz_cli.llm.openai import (
    LLMCallFailed,
    estimate_cost,
    estimate_prompt_tokens,
)
from quartz_cli.llm.records import StructuredClient

SYSTEM = """You are the portfolio manager of a Korean equity account (KRX: KOSPI, KOSDAQ).
Decide, for each ticker of `universe`, BUY, SELL or HOLD with a target weight: the share of
the portfolio's total value the position should have after trading.
Rules you must follow:
- Choose only tickers listed in `universe`, and for each only an action in its
  `allowed.actions`.
- A target weight is between 0 and constraints.max_single_ticker_weight; all target weights
  (BUY and HOLD) sum to at most 1. SELL with target 0 sells the whole position.
- At most constraints.max_buy_candidates BUY decisions.
- Weigh the technical state, the news sentiment (`fundamental`) and the macro view; when the
  macro bias is bearish or uncertain, be cautious.
- confidence is 0..1; rationale is one or two sentences citing the inputs you used.
Answer with JSON only, in the given schema. A risk gate checks every decision afterwards."""


class BadAnswer(LLMCallFailed, LLMBadAnswer):
    """The model answered, but not with something the gate should try to read."""


def render_prompt(request: DecisionInput) -> str:
    """The decision input as compact JSON (the seed's structure, allowances included)."""
    data = request.model_dump(mode="json")
    data["portfolio"]["total_value"] = request.portfolio.total_value
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class OpenAIDecisionEngine:
    """DecisionEngine over OpenAI structured output."""

    def __init__(self, client: StructuredClient, max_output_tokens: int = 2000) -> None:
        self.client = client
        self.max_output_tokens = max_output_tokens
        self.name = f"openai:{client.model}"

    def prompt_texts(self, request: DecisionInput) -> tuple[str, str]:
        """(system, user) prompts, for the pre-call cost estimate."""
        return SYSTEM, render_prompt(request)

    def estimate_usd(self, request: DecisionInput) -> float:
        """An upper estimate of the call's cost, for the budget check before it is made."""
        tokens = estimate_prompt_tokens(*self.prompt_texts(request))
        return estimate_cost(self.client.model, tokens, self.max_output_tokens)

    async def decide(self, request: DecisionInput) -> EngineAnswer:
        system, prompt = self.prompt_texts(request)
        reply = await self.client.structured(
            system=system, prompt=prompt, schema_name="portfolio_decisions",
            schema=answer_schema(request), max_output_tokens=self.max_output_tokens)
        usage: Usage = reply.usage
        try:
            answer = LLMDecisionSet.model_validate_json(reply.text)
        except ValidationError as exc:
            raise BadAnswer(f"{self.name} answered JSON that does not fit the decision schema "
                            f"({exc.error_count()} problem(s))", usage) from None
        try:
            check_coherent(answer.decisions)
        except IncoherentAnswer as exc:
            raise BadAnswer(f"{self.name} answered incoherent weights: {exc}", usage) from None
        known = {e.ticker for e in request.universe}
        unknown = sorted({d.ticker for d in answer.decisions} - known)
        notes = (f"answer named tickers outside the universe: {', '.join(unknown)}",) \
            if unknown else ()
        proposals = tuple(Proposal(ticker=d.ticker, side=d.side,
                                   target_weight=d.target_weight, confidence=d.confidence,
                                   rationale=d.rationale) for d in answer.decisions)
        return EngineAnswer(proposals=proposals, engine=self.name, usage=(usage,), notes=notes)
