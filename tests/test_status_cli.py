"""`quartz status` and `quartz trade history` against the simulator, as a user runs them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from cli import quartz, quartz_json
from quartz_cli.config import LOCAL_CANO
from quartz_cli.domain.krx import KST
from quartz_cli.domain.orders import OrderReport, OrderType, Side
from quartz_cli.domain.trade_history import fills_by_day


def _fill(no: str, side: Side, qty: int, price: int, hour: int, day: int = 24,
          ticker: str = "005930", original: str | None = None) -> OrderReport:
    return OrderReport(order_no=no, org_no="00950", placed_at=datetime(2026, 11, day, hour,
                                                                          tzinfo=KST),
                       original_order_no=original, side=side, order_type=OrderType.MARKET,
                       ticker=ticker, name="삼성전자", qty=qty, price=0, filled_qty=qty,
                       filled_amount=qty * price, avg_fill_price=price, remaining_qty=0,
                       rejected_qty=0, cancelled=False, cancel_confirmed_qty=0)


def test_realised_pnl_counts_sells_against_the_average_cost_of_earlier_buys():
    days = fills_by_day([
        _fill("3", Side.SELL, 5, 300, 11),          # 5 x 300 against an average cost of 150
        _fill("1", Side.BUY, 10, 100, 9),
        _fill("2", Side.BUY, 10, 200, 10),
        _fill("4", Side.SELL, 20, 400, 9, day=25),  # 15 matched at 150, 5 bought before
        _fill("5", Side.SELL, 3, 500, 10, day=25, ticker="000660"),
        _fill("6", Side.SELL, 1, 999, 12, original="3"),  # a cancel row: no fill of its own
    ])
    assert [d.day.isoformat() for d in days] == ["2026-11-24", "2026-11-25"]
    assert days[0].realised_pnl_krw == 5 * 300 - 5 * 150
    assert (days[0].bought_krw, days[0].sold_krw) == (3000, 1500)
    # 15 of the 20 shares had a known cost (150 each); 5 more and 000660's 3 did not.
    assert days[1].realised_pnl_krw == 15 * 400 - 15 * 150
    assert days[1].unmatched_sell_qty == 5 + 3
    assert [f["side"] for f in days[0].fills] == ["buy", "buy", "sell"]


def _day_of_trading(in_session: Path) -> dict:
    bought = quartz_json("trade", "buy", "005930", "3")
    sold = quartz_json("trade", "sell", "005930", "1")
    assert bought["state"] == sold["state"] == "filled"
    return {"buy": bought, "sell": sold}


def test_status_matches_the_balance_and_masks_the_account(in_session: Path):
    _day_of_trading(in_session)
    status = quartz_json("status")
    balance = quartz_json("trade", "balance")
    assert status["total_value_krw"] == balance["total_value"]
    assert status["cash_krw"] == balance["cash_krw"]
    held = {p["ticker"]: p["qty"] for p in status["positions"]}
    assert held == {p["ticker"]: p["qty"] for p in balance["positions"]}
    # The owner recorded the day's start value at the first order: today's P&L is known.
    assert status["today"]["pnl_krw"] == (status["total_value_krw"]
                                          - status["today"]["start_value_krw"])
    assert status["trading_state"]["state"] == "active"
    assert status["unknown_orders"] == [] and status["open_orders"] == []
    weights = sum(Decimal(str(p["weight"])) for p in status["positions"])
    assert weights <= 1
    assert {a["agent"] for a in status["agents"]} == {"macro", "selection", "portfolio"}
    assert any("macro: no document yet" in w for w in status["warnings"])
    text = quartz("status", env={"COLUMNS": "200"})
    assert text.returncode == 0, text.stderr
    assert max(len(line) for line in text.stdout.splitlines()) <= 80
    assert "total value" in text.stdout and f"{status['total_value_krw']:,}" in text.stdout
    for out in (text.stdout, str(status)):
        assert LOCAL_CANO not in out


def test_status_shows_a_halt_and_warns(in_session: Path):
    assert quartz("trade", "halt", "--reason", "checking").returncode == 0
    status = quartz_json("status")
    assert status["trading_state"] == {**status["trading_state"], "state": "halted",
                                       "reason": "checking"}
    assert "trading is halted: checking" in status["warnings"]


def test_trade_history_by_day_agrees_with_the_orders(in_session: Path):
    orders = _day_of_trading(in_session)
    history = quartz_json("trade", "history", "--from", "2026-11-20", "--to", "2026-11-24")
    [day] = history["days"]
    assert day["day"] == "2026-11-24"
    by_no = {f["order_no"]: f for f in day["fills"]}
    buy, sell = by_no[orders["buy"]["order_no"]], by_no[orders["sell"]["order_no"]]
    assert (buy["qty"], buy["side"], buy["request_id"]) == (3, "buy",
                                                            orders["buy"]["request_id"])
    assert buy["avg_price"] == orders["buy"]["avg_fill_price"]
    # The one share sold was matched against today's buy at its average cost.
    assert sell["realised_pnl_krw"] == (orders["sell"]["avg_fill_price"]
                                        - orders["buy"]["avg_fill_price"])
    assert history["realised_pnl_krw"] == day["realised_pnl_krw"] == sell["realised_pnl_krw"]
    empty = quartz("trade", "history", "--from", "2026-11-01", "--to", "2026-11-02")
    assert empty.returncode == 0 and "no fills" in empty.stdout
    bad = quartz("trade", "history", "--from", "2026-11-25", "--to", "2026-11-24")
    assert bad.returncode == 4 and "after" in bad.stderr
