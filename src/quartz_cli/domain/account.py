"""The account as the broker reports it: cash and positions with the broker's valuation.
(The day's orders are `domain.orders.OrderReport`.)"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class BrokerPosition(BaseModel):
    """One holding with the broker's valuation. Money in integer won; the average price may
    carry fractions. The decision engines read the smaller `domain.decision.Position`
    derived from it (whole-won average price, price refreshed from the quote)."""

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
    """Cash and holdings, from the broker's balance. `total_value` = securities + D+2 cash."""

    model_config = ConfigDict(extra="forbid")

    cash_krw: int
    d1_cash_krw: int
    d2_cash_krw: int
    securities_value: int
    total_value: int
    purchase_total: int
    pnl_total: int
    positions: list[BrokerPosition]

    def position(self, ticker: str) -> BrokerPosition | None:
        return next((p for p in self.positions if p.ticker == ticker), None)

    @property
    def spendable_krw(self) -> int:
        """Cash a new buy may count on. Trades settle two sessions later, so the deposit
        (`cash_krw`) still holds what today's buys spent; the D+2 figure has them taken
        out, and the proceeds of unsettled sales added, which Quartz does not spend before
        they settle: the smaller of the two."""
        return min(self.cash_krw, self.d2_cash_krw)


class Buyable(BaseModel):
    """What can be bought without margin (미수), from the broker's buyable-amount inquiry."""

    model_config = ConfigDict(extra="forbid")

    ticker: str
    cash_krw: int
    price_used: int
    qty: int
    amount_krw: int
