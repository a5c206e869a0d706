"""Choosing the decision engine for a run: the LLM when configured, within budget and
answering well; otherwise the deterministic rule engine, with the reason recorded. Both
engines are given by the composition root (`DecisionLLM`, `RuleDeciderFactory` ports).

LLM spending is kept in the store, one object per call under `llm-usage/<KST date>/`, so every
process and pod of a deployment shares the per-day budget without read-modify-write races."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Protocol

from quartz_cli.domain.budget import BudgetCheck, LLMBudget, check_budget
from quartz_cli.domain.decision import DecisionInput
from quartz_cli.domain.engine import EngineAnswer
from quartz_cli.domain.usage import Usage
from quartz_cli.errors import LLMBadAnswer, LLMError, StoreError
from quartz_cli.metrics import llm_usage
from quartz_cli.ports import DecisionLLM, RuleDeciderFactory, Store

log = logging.getLogger(__name__)

USAGE_PREFIX = "llm-usage"


class Fallback(str, Enum):
    """Why the rule engine decided. `configured` is not a failure: it is the setting
    (`local`, no GPT_API_KEY, or QUARTZ_DECISION_ENGINE=rules)."""

    CONFIGURED = "configured"
    LLM_FAILED = "llm_failed"
    BAD_ANSWER = "llm_bad_answer"
    BUDGET = "budget_exhausted"


class UsageLedger(Protocol):
    """Where LLM spending is kept. Its calls may block (a store); `decide_with_fallback`
    runs them in a worker thread."""

    def spent_on(self, day: date) -> float:
        """USD spent on LLM calls on `day` (KST)."""

    def record(self, day: date, usage: Usage, run_id: str) -> None:
        """Add one call's usage to `day`."""


class StoreUsageLedger:
    """UsageLedger over the shared store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def spent_on(self, day: date) -> float:
        total = 0.0
        for key in self.store.list(f"{USAGE_PREFIX}/{day.isoformat()}/"):
            raw = self.store.get(key)
            try:
                total += float(json.loads(raw or b"{}").get("cost_usd", 0.0))
            except (ValueError, AttributeError):
                log.warning("ignoring an unreadable LLM usage record %s", key)
        return total

    def record(self, day: date, usage: Usage, run_id: str) -> None:
        body = json.dumps({"run_id": run_id, "model": usage.model,
                           "prompt_tokens": usage.prompt_tokens,
                           "output_tokens": usage.output_tokens,
                           "cost_usd": usage.cost_usd}).encode()
        for n in range(100):
            if self.store.put_if_absent(f"{USAGE_PREFIX}/{day.isoformat()}/{run_id}-{n}.json",
                                        body):
                return
        raise StoreError(f"could not record LLM usage for run {run_id}")


@dataclass(frozen=True)
class EngineOutcome:
    """The answer used, and how it was chosen."""

    answer: EngineAnswer
    fallback: Fallback | None
    detail: str
    usage: tuple[Usage, ...] = ()
    budget: BudgetCheck | None = None
    attempted: str | None = None


async def decide_with_fallback(
    request: DecisionInput,
    *,
    llm: DecisionLLM | None,
    rules: RuleDeciderFactory,
    configured_reason: str,
    budget: LLMBudget,
    ledger: UsageLedger,
    run_id: str,
    today: date,
) -> EngineOutcome:
    """Ask `llm` when there is one and the budget allows; fall back to the rule engine when
    there is none (`configured_reason` says why), when it fails or answers badly, or when the
    call would exceed the budget; `rules(reason)` builds that engine. LLM usage is recorded
    even for failed calls."""
    if llm is None:
        return EngineOutcome(rules(configured_reason).decide_now(request), Fallback.CONFIGURED,
                             configured_reason)
    if not request.universe:
        # Nothing to choose from: no call (an empty ticker enum is not a valid schema either).
        reason = "no tickers to decide on; the LLM was not asked"
        return EngineOutcome(rules(reason).decide_now(request), Fallback.CONFIGURED,
                             reason, attempted=None)
    check = check_budget(budget, estimate_usd=llm.estimate_usd(request), spent_run_usd=0.0,
                         spent_today_usd=await asyncio.to_thread(ledger.spent_on, today))
    if not check.allowed:
        reason = f"LLM budget exhausted ({check.detail})"
        return EngineOutcome(rules(reason).decide_now(request), Fallback.BUDGET,
                             reason, budget=check, attempted=llm.name)
    try:
        answer = await llm.decide(request)
    except LLMError as exc:
        usage = getattr(exc, "usage", None)
        spent: tuple[Usage, ...] = (usage,) if usage else ()
        for u in spent:
            llm_usage("decision", u.prompt_tokens, u.output_tokens, u.cost_usd)
            await asyncio.to_thread(ledger.record, today, u, run_id)
        kind = Fallback.BAD_ANSWER if isinstance(exc, LLMBadAnswer) else Fallback.LLM_FAILED
        reason = f"{exc.message}; the rule engine decided instead"
        log.warning("%s", reason)
        return EngineOutcome(rules(reason).decide_now(request), kind, reason,
                             usage=spent, budget=check, attempted=llm.name)
    for u in answer.usage:
        llm_usage("decision", u.prompt_tokens, u.output_tokens, u.cost_usd)
        await asyncio.to_thread(ledger.record, today, u, run_id)
    return EngineOutcome(answer, None, f"decided by {answer.engine}", usage=answer.usage,
                         budget=check, attempted=llm.name)
