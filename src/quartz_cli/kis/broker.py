"""`KisBroker`: the trading agent's `Broker` port over one KIS account."""

from __future__ import annotations

from datetime import date

from quartz_cli.config import Account
from quartz_cli.domain.account import Balance
from quartz_cli.domain.orders import OpenOrder, OrderReport, OrderTicket, OrderType, Side
from quartz_cli.kis import account as acct
from quartz_cli.kis import orders
from quartz_cli.kis.client import KisClient


class KisBroker:
    """Orders and inquiries of `account` through `kis` (real, paper or the simulator)."""

    def __init__(self, kis: KisClient, account: Account, *, hashkey: bool = False) -> None:
        self.kis = kis
        self.account = account
        self.hashkey = hashkey

    async def place(self, side: Side, ticker: str, qty: int, order_type: OrderType,
                    price: int) -> OrderTicket:
        return await orders.place_cash_order(self.kis, self.account, side, ticker, qty,
                                             order_type, price, hashkey=self.hashkey)

    async def cancel(self, org_no: str, order_no: str, qty: int = 0) -> OrderTicket:
        return await orders.revise_or_cancel(self.kis, self.account, org_no, order_no,
                                             cancel=True, qty=qty, hashkey=self.hashkey)

    async def daily_orders(self, day: date, *, ticker: str = "",
                           side: Side | None = None) -> list[OrderReport]:
        return await acct.inquire_daily_orders(self.kis, self.account, day, day,
                                               ticker=ticker, side=side)

    async def cancelable_orders(self, day: date) -> list[OpenOrder]:
        return await orders.cancelable_orders(self.kis, self.account, day)

    async def balance(self) -> Balance:
        return await acct.inquire_balance(self.kis, self.account)
