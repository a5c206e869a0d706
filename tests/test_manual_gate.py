"""The manual-order risk gate: pure rules, and `quartz trade` refusing before anything is sent."""

from datetime import UTC, datetime
from decimal import Decimal

from cli import quartz, quartz_json
from quartz_cli.domain.decision import Constraints
from quartz_cli.domain.krx import Phase
from quartz_cli.domain.manual_gate import ManualOrderContext, check_manual_order
from quartz_cli.domain.order_window import WindowCheck, WindowRefusal
from quartz_cli.domain.orders import Side

OPEN = WindowCheck(at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC), phase=Phase.CONTINUOUS,
                   trading_day=True, refusal=None, detail="regular session")
CLOSED = WindowCheck(at=datetime(2026, 11, 21, 1, 0, tzinfo=UTC), phase=Phase.CLOSED,
                     trading_day=False, refusal=next(iter(WindowRefusal)), detail="holiday")


def ctx(**over):
    base = {"listed": True, "cash_krw": 10_000_000, "total_value": 50_000_000, "held_qty": 10,
            "price": 70_000, "upper_limit": 91_000, "lower_limit": 49_000, "window": OPEN}
    return ManualOrderContext(**{**base, **over})


def test_a_reasonable_order_passes():
    assert check_manual_order(Side.BUY, 10, None, ctx(), Constraints()) == []
    assert check_manual_order(Side.SELL, 10, 70_100, ctx(), Constraints()) == []


def test_each_rule_refuses_with_its_reason():
    c = Constraints()
    assert "market closed" in check_manual_order(Side.BUY, 1, None, ctx(window=CLOSED), c)[0]
    assert "not in the universe" in check_manual_order(Side.BUY, 1, None, ctx(listed=False), c)[0]
    assert "off the tick grid" in check_manual_order(Side.BUY, 1, 70_050, ctx(), c)[0]
    assert "outside today's limits" in check_manual_order(Side.BUY, 1, 95_000, ctx(), c)[0]
    assert "10 held" in check_manual_order(Side.SELL, 11, None, ctx(), c)[0]
    # a market buy reserves cash at the upper limit: 110 × 91,000 > 10,000,000
    assert "upper limit" in check_manual_order(Side.BUY, 110, None, ctx(), c)[0]
    assert check_manual_order(Side.BUY, 109, 90_000, ctx(total_value=100_000_000), c) == []
    heavy = check_manual_order(Side.BUY, 100, None, ctx(cash_krw=10**9), Constraints(
        max_single_ticker_weight=Decimal("0.1")))
    assert any("MAX_SINGLE_TICKER_WEIGHT" in r for r in heavy)


def test_cli_refuses_before_sending_and_the_broker_books_nothing():
    env = {"QUARTZ_MARKET_TIME": "2026-11-20T10:30:00+09:00"}
    assert quartz("trade", "buy", "005930", "5000", env=env).returncode == 9
    proc = quartz("trade", "sell", "000660", "31", env=env)
    assert proc.returncode == 9 and "30 held" in proc.stderr
    closed = quartz("trade", "buy", "005930", "1",
                    env={"QUARTZ_MARKET_TIME": "2026-11-22T10:30:00+09:00"})  # a Sunday
    assert closed.returncode == 9 and "market closed" in closed.stderr
    assert quartz_json("trade", "orders", env=env)["orders"] == []
    assert quartz("trade", "buy", "005930", "1", env=env).returncode == 0
    assert len(quartz_json("trade", "orders", env=env)["orders"]) == 1
