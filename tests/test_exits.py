"""Stop-loss / take-profit rules and the rebalance check cadence."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from quartz_cli.domain.decision import PortfolioView, Position
from quartz_cli.domain.exits import (
    ExitKind,
    ExitRules,
    exit_signals,
    next_check_interval,
    pnl_pct,
    volume_pace,
)
from quartz_cli.domain.orders import Side


def pos(ticker: str, avg: int, price: int) -> Position:
    return Position(ticker=ticker, qty=10, sellable_qty=10, avg_price=avg, price=price)


def test_thresholds_are_inclusive_and_configurable():
    pf = PortfolioView(cash_krw=0, positions=(
        pos("005930", 100_000, 95_000),    # −5.00 % → stop-loss
        pos("000660", 100_000, 95_100),    # −4.90 % → nothing
        pos("035420", 100_000, 115_000),   # +15 % → take-profit
        pos("051910", 100_000, 114_900),   # +14.9 % → nothing
    ))
    got = {s.ticker: s for s in exit_signals(pf, ExitRules())}
    assert set(got) == {"005930", "035420"}
    assert got["005930"].kind is ExitKind.STOP_LOSS and got["005930"].pnl_pct == Decimal("-5.00")
    assert got["035420"].kind is ExitKind.TAKE_PROFIT
    p = got["005930"].proposal
    assert p.side is Side.SELL and p.target_weight == 0 and p.confidence == 1
    assert "stop-loss" in p.rationale
    tighter = ExitRules(stop_loss_pct=Decimal("-3"), take_profit_pct=Decimal("10"))
    assert {s.ticker for s in exit_signals(pf, tighter)} == set(pf_tickers(pf))


def pf_tickers(pf):
    return [p.ticker for p in pf.positions]


def test_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match="stop-loss must be below 0 %"):
        ExitRules(stop_loss_pct=Decimal("5"))


def test_pnl_pct():
    assert pnl_pct(70_000, 77_000) == Decimal("10.00")


@pytest.mark.parametrize("pace,minutes", [(0.0, 10), (0.5, 10), (1.25, 8), (2.0, 5), (9.0, 5)])
def test_next_check_interval_is_5_to_10_minutes_by_volume(pace, minutes):
    assert next_check_interval(pace) == timedelta(minutes=minutes)


def test_volume_pace():
    assert volume_pace(500, 1000, 0.5) == 1.0
    assert volume_pace(500, 0, 0.5) == 0.0
