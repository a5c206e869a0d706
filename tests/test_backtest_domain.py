"""The backtest's fill model and performance figures, against hand-computed values."""

from __future__ import annotations

import math
from datetime import date

import pytest

from quartz_cli.domain.bars import Bar
from quartz_cli.domain.fills import Fill, fill_day_order
from quartz_cli.domain.orders import Side
from quartz_cli.domain.performance import (
    drawdown,
    max_drawdown_duration,
    performance,
    round_trips,
)

D = date(2026, 3, 3)
SETTLES = date(2026, 3, 5)


def bar(o: int, h: int, lo: int, c: int, v: int = 1_000_000, day: date = D) -> Bar:
    return Bar(day, o, h, lo, c, v)


def test_buy_fills_at_the_next_open_not_the_decision_close() -> None:
    f = fill_day_order(Side.BUY, "005930", 10, 70_100, bar(69_900, 71_000, 69_500, 70_500),
                       prev_close=70_000, day=D, settles_on=SETTLES)
    assert (f.qty, f.price) == (10, 69_900)
    assert f.commission == 104  # 699,000 × 0.015 % = 104.85, rounded down
    assert f.tax == 0 and f.cash_effect == -(699_000 + 104)


def test_a_100_to_200_gap_does_not_fill_a_buy_at_the_old_price() -> None:
    # Decided at a close of 100; the next session opens at 130 (limit-up), closes there.
    gap = bar(130, 130, 130, 130)
    f = fill_day_order(Side.BUY, "000001", 5, 100, gap, prev_close=100, day=D,
                       settles_on=SETTLES)
    assert f.qty == 0 and "low 130" in f.reason
    # Two sessions later (100 → 200 across them) a sell at 100 fills at the 169 open.
    up = bar(169, 169, 169, 169, day=date(2026, 3, 4))
    s = fill_day_order(Side.SELL, "000001", 5, 100, up, prev_close=130, day=up.day,
                       settles_on=date(2026, 3, 6))
    assert (s.qty, s.price) == (5, 169)


def test_a_gap_up_buy_with_a_high_limit_pays_the_open() -> None:
    f = fill_day_order(Side.BUY, "000001", 5, 250, bar(200, 210, 195, 205), prev_close=170,
                       day=D, settles_on=SETTLES)
    assert (f.qty, f.price) == (5, 200)


def test_limit_touched_in_the_day_fills_at_the_limit() -> None:
    f = fill_day_order(Side.BUY, "005930", 3, 69_000, bar(70_000, 70_500, 68_800, 69_500),
                       prev_close=70_000, day=D, settles_on=SETTLES)
    assert (f.qty, f.price) == (3, 69_000)
    s = fill_day_order(Side.SELL, "005930", 3, 70_400, bar(70_000, 70_500, 68_800, 69_500),
                       prev_close=70_000, day=D, settles_on=SETTLES)
    assert (s.qty, s.price) == (3, 70_400)


def test_no_buy_at_limit_up_no_sell_at_limit_down_nothing_in_a_halt() -> None:
    # Base 10,000: limits 7,000–13,000.
    up = bar(13_000, 13_000, 13_000, 13_000)
    buy = fill_day_order(Side.BUY, "000001", 1, 13_000, up, 10_000, D, SETTLES)
    assert buy.qty == 0 and buy.reason.startswith("limit-up")
    down = bar(7_000, 7_000, 7_000, 7_000)
    sell = fill_day_order(Side.SELL, "000001", 1, 7_000, down, 10_000, D, SETTLES)
    assert sell.qty == 0 and sell.reason.startswith("limit-down")
    # A sell into limit-up and a buy into limit-down still fill.
    assert fill_day_order(Side.SELL, "000001", 1, 12_000, up, 10_000, D, SETTLES).qty == 1
    assert fill_day_order(Side.BUY, "000001", 1, 8_000, down, 10_000, D, SETTLES).qty == 1
    halted = Bar(D, 10_000, 10_000, 10_000, 10_000, 0)
    for side in Side:
        f = fill_day_order(side, "000001", 1, 10_000, halted, 10_000, D, SETTLES)
        assert f.qty == 0 and f.reason.startswith("halted")
    assert fill_day_order(Side.BUY, "000001", 1, 10_000, None, 10_000, D, SETTLES).qty == 0


def test_partial_fill_by_volume_participation() -> None:
    b = bar(10_000, 10_100, 9_900, 10_000, v=2_345)
    f = fill_day_order(Side.BUY, "000001", 1_000, 10_000, b, 10_000, D, SETTLES)
    assert (f.qty, f.ordered) == (234, 1_000) and f.reason.startswith("partial")
    none = fill_day_order(Side.BUY, "000001", 5, 10_000, bar(10_000, 10_000, 10_000, 10_000,
                                                             v=9), 10_000, D, SETTLES)
    assert none.qty == 0 and none.reason.startswith("volume")


@pytest.mark.parametrize(("settles", "rate_bp"), [
    (date(2023, 6, 1), 20), (date(2024, 6, 3), 18), (date(2025, 6, 2), 15),
    (date(2026, 1, 2), 20)])
def test_sell_tax_by_settlement_date(settles: date, rate_bp: int) -> None:
    b = bar(100_000, 100_000, 100_000, 100_000)
    f = fill_day_order(Side.SELL, "000001", 10, 100_000, b, 100_000, D, settles)
    assert f.tax == 1_000_000 * rate_bp // 10_000
    assert f.commission == 150
    assert f.cash_effect == 1_000_000 - 150 - f.tax


def test_a_sale_late_in_2025_settling_in_2026_pays_the_2026_rate() -> None:
    b = bar(50_000, 50_000, 50_000, 50_000, day=date(2025, 12, 30))
    f = fill_day_order(Side.SELL, "000001", 20, 50_000, b, 50_000, b.day, date(2026, 1, 2))
    assert f.tax == 2_000  # 0.20 %, not 2025's 0.15 %


def test_metrics_of_a_known_equity_curve() -> None:
    equity = [1_000, 1_100, 990, 1_089, 1_089]  # returns +10 %, −10 %, +10 %, 0 %
    p = performance(equity, [], invested=[0, 1_100, 990, 0, 0])
    sd = math.sqrt((0.075**2 + 0.125**2 + 0.075**2 + 0.025**2) / 3)
    assert p.sessions == 4
    assert p.total_return == pytest.approx(0.089)
    assert p.annual_return == pytest.approx(1.089 ** 63 - 1)
    assert p.volatility == pytest.approx(sd * math.sqrt(252))
    assert p.sharpe == pytest.approx(0.025 / sd * math.sqrt(252))
    assert p.sharpe == pytest.approx(4.1451, abs=1e-4)
    assert p.sortino == pytest.approx(0.025 / 0.05 * math.sqrt(252))
    assert p.max_drawdown == pytest.approx(0.1)
    assert p.max_drawdown_sessions == 3
    assert p.exposure == pytest.approx(0.4)
    assert drawdown(equity) == pytest.approx([0, 0, 0.1, 0.01, 0.01])
    assert max_drawdown_duration([1, 2, 1, 2, 3, 2]) == 1


def test_round_trips_turnover_fees_win_rate() -> None:
    def f(side: Side, day: int, qty: int, price: int, fee: int, tax: int = 0) -> Fill:
        return Fill(side, "000001", date(2026, 3, day), qty, qty, price, fee, tax)

    fills = [f(Side.BUY, 2, 10, 1_000, 1), f(Side.SELL, 3, 4, 1_200, 1, 9),
             f(Side.SELL, 4, 6, 1_100, 1, 13), f(Side.BUY, 5, 10, 1_000, 1),
             f(Side.SELL, 6, 10, 900, 1, 18)]
    trips = round_trips(fills)
    assert [t.pnl for t in trips] == [-10_001 + 4_790 + 6_586, -10_001 + 8_981]
    p = performance([100_000, 100_000, 100_000], fills)
    assert p.trades == 5 and p.round_trips == 2
    assert p.win_rate == 0.5
    assert p.avg_win_krw == 1_375 and p.avg_loss_krw == -1_020
    assert p.fees_krw == 5 and p.tax_krw == 40
    assert p.turnover == pytest.approx((10_000 + 4_800 + 6_600 + 10_000 + 9_000) / 100_000)
