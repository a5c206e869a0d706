"""Detailed exit codes of decide/rebalance: the first that applies wins."""

from __future__ import annotations

import pytest

from quartz_cli.cli.plan_render import detailed_exit_code


def plan(outcome: str, fallback: str | None = None, orders: int = 1) -> dict:
    return {"outcome": outcome, "engine": {"fallback": fallback}, "orders": [{}] * orders}


@pytest.mark.parametrize("doc,code", [
    (plan("orders_failed", "llm_failed"), 15),
    (plan("market_closed", "budget_exhausted", 0), 12),
    (plan("orders_planned", "budget_exhausted"), 14),
    (plan("orders_sent", "llm_bad_answer"), 13),
    (plan("nothing_to_do", "llm_failed", 0), 13),
    (plan("orders_sent", "configured"), 10),
    (plan("orders_planned", None), 10),
    (plan("nothing_to_do", "configured", 0), 11),
    ({"outcome": "market_closed", "engine": None, "orders": []}, 12),
])
def test_detailed_exit_codes(doc, code):
    assert detailed_exit_code(doc) == code
