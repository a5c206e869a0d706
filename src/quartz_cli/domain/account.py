"""The account as the broker reports it: cash, positions, and the day's orders/executions."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class Position(BaseModel):
    """One holding. Money in integer won; the average price may carry fractions."""

    model_config = ConfigDict(extra="forbid")

    ticker: str
    name: str
    qty: int
    sellable_qty: int
    avg_price: Decimal
    purchase_amount: int
    current_price: int
    value: int
    pnl: int
    pnl_pct: Decimal

    @property
    def return_ratio(self) -> Decimal:
        """current / average − 1 (0 when the average is unknown); −0.05 is a 5 % loss."""
        if self.avg_price <= 0:
            return Decimal(0)
        return Decimal(self.current_price) / self.avg_price - 1


class Balance(BaseModel):
    """Cash and holdings (`inquire-balance`). `total_value` = securities + D+2 cash."""

    model_config = ConfigDict(extra="forbid")

    cash_krw: int
    d1_cash_krw: int
    d2_cash_krw: int
    securities_value: int
    total_value: int
    purchase_total: int
    pnl_total: int
    positions: list[Position]

    def position(self, ticker: str) -> Position | None:
        return next((p for p in self.positions if p.ticker == ticker), None)


class Buyable(BaseModel):
    """`inquire-psbl-order`: what can be bought without margin (미수)."""

    model_config = ConfigDict(extra="forbid")

    ticker: str
    cash_krw: int
    price_used: int
    qty: int
    amount_krw: int


class DailyOrder(BaseModel):
    """One row of `inquire-daily-ccld`: an order (or its revise/cancel) and its fills."""

    model_config = ConfigDict(extra="forbid")

    order_date: str
    order_time: str
    org_no: str
    order_no: str
    original_order_no: str
    side: str               # "buy" or "sell"
    order_type_code: str
    ticker: str
    name: str
    qty: int
    price: int
    filled_qty: int
    filled_amount: int
    avg_fill_price: int
    remaining_qty: int
    rejected_qty: int
    cancelled: bool
    cancel_confirmed_qty: int

    @property
    def is_cancel_row(self) -> bool:
        """A cancel request row (it points at the original through `original_order_no`)."""
        return bool(self.original_order_no.strip("0 ")) and self.cancelled
