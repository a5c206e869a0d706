"""LLM spending limits: a per-run and a per-day budget in USD (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LLMBudget:
    per_run_usd: float = 0.05
    per_day_usd: float = 1.00


@dataclass(frozen=True)
class BudgetCheck:
    allowed: bool
    estimate_usd: float
    spent_today_usd: float
    detail: str


def check_budget(budget: LLMBudget, *, estimate_usd: float, spent_run_usd: float,
                 spent_today_usd: float) -> BudgetCheck:
    """Whether a call estimated at `estimate_usd` still fits both budgets."""
    if spent_run_usd + estimate_usd > budget.per_run_usd:
        return BudgetCheck(False, estimate_usd, spent_today_usd,
                           f"run budget: {spent_run_usd:.4f} + estimated {estimate_usd:.4f} USD "
                           f"exceeds {budget.per_run_usd:.4f} USD")
    if spent_today_usd + estimate_usd > budget.per_day_usd:
        return BudgetCheck(False, estimate_usd, spent_today_usd,
                           f"day budget: {spent_today_usd:.4f} spent + estimated "
                           f"{estimate_usd:.4f} USD exceeds {budget.per_day_usd:.4f} USD")
    return BudgetCheck(True, estimate_usd, spent_today_usd,
                       f"estimated {estimate_usd:.4f} USD; {spent_today_usd:.4f} of "
                       f"{budget.per_day_usd:.4f} USD spent today")
