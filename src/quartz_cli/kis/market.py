"""The portfolio and technical agents' `MarketData` and `Account` ports over KIS (or the
simulator): quotes, daily bars, and one account's orderable cash and positions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date

from quartz_cli.config import Account, Env
from quartz_cli.domain.account import Balance, Buyable
from quartz_cli.domain.bars import Period
from quartz_cli.domain.decision import PortfolioView, Position, Quote
from quartz_cli.domain.orders import OrderType
from quartz_cli.errors import BrokerError
from quartz_cli.kis.account import inquire_balance, inquire_buyable
from quartz_cli.kis.client import KisClient
from quartz_cli.kis.multi_quotes import multi_price, supports_multi_quote
from quartz_cli.kis.quotations import CurrentPrice, daily_chart, inquire_price
from quartz_cli.ports import DailyBars

SYNTHETIC_SOURCE = "KIS simulator: synthetic sample market (not real prices)"


async def gather_quotes(fetch: Callable[[str], Awaitable[Quote]], tickers: Sequence[str],
                        concurrency: int = 4) -> tuple[dict[str, Quote], dict[str, str]]:
    """Fetch quotes concurrently (the KIS client's rate limiter paces the calls); a failed
    ticker is reported, not raised."""
    sem = asyncio.Semaphore(concurrency)
    quotes: dict[str, Quote] = {}
    failed: dict[str, str] = {}

    async def one(t: str) -> None:
        async with sem:
            try:
                quotes[t] = await fetch(t)
            except BrokerError as exc:
                failed[t] = exc.message

    await asyncio.gather(*(one(t) for t in tickers))
    return quotes, failed


def as_quote(p: CurrentPrice) -> Quote:
    """The domain's quote of a broker price (either quote API)."""
    return Quote(ticker=p.code, price=p.price, base=p.base, upper=p.upper_limit,
                 lower=p.lower_limit, volume=p.volume, open=p.open or None,
                 high=p.high or None, low=p.low or None)


class KisMarketData:
    """Quotes (inquire-price) and bars (daily chart) through one KIS client."""

    def __init__(self, kis: KisClient) -> None:
        self.kis = kis
        endpoint = kis.endpoint
        self.source = (SYNTHETIC_SOURCE if endpoint.env is Env.LOCAL
                       else f"KIS {endpoint.env.value} ({endpoint.base_url})")

    async def quotes(self, tickers: Sequence[str]) -> tuple[dict[str, Quote], dict[str, str]]:
        """On a real account, 30 tickers a call (intstock-multprice); elsewhere inquire-price
        per ticker, concurrently (the client's limiter paces the calls). A halted ticker
        counts as failed."""
        if supports_multi_quote(self.kis) and tickers:
            prices, failed = await multi_price(self.kis, tickers)
            quotes: dict[str, Quote] = {}
            for code, p in prices.items():
                if p.halted:
                    failed[code] = f"{code} is halted ({p.market or 'KRX'})"
                else:
                    quotes[code] = as_quote(p)
            return quotes, failed

        async def one(code: str) -> Quote:
            p = await inquire_price(self.kis, code)
            if p.halted:
                raise BrokerError(f"{code} is halted (temp_stop_yn=Y)")
            return as_quote(p)

        return await gather_quotes(one, tickers)

    async def daily_bars(self, ticker: str, start: date, end: date,
                         period: Period = Period.DAY) -> DailyBars:
        chart = await daily_chart(self.kis, ticker, start, end, period)
        return DailyBars(code=chart.code, name=chart.name, period=chart.period, bars=chart.bars)


def orderable_cash(balance: Balance, buyable: Buyable) -> int:
    """The smaller of the deposit (inquire-balance) and inquire-psbl-order's `ord_psbl_cash`,
    which nets out cash reserved by open buys; never negative."""
    return max(min(balance.cash_krw, buyable.cash_krw), 0)


class KisAccount:
    """One KIS account's orderable cash and holdings."""

    def __init__(self, kis: KisClient, account: Account) -> None:
        self.kis = kis
        self.account = account

    async def _cash_and_balance(self) -> tuple[int, Balance]:
        b = await inquire_balance(self.kis, self.account)
        buyable = await inquire_buyable(self.kis, self.account, "", 0, OrderType.LIMIT)
        return orderable_cash(b, buyable), b

    async def orderable_cash(self) -> int:
        return (await self._cash_and_balance())[0]

    async def portfolio(self) -> PortfolioView:
        """Holdings from inquire-balance, valued at their current price, and the orderable
        cash."""
        cash, b = await self._cash_and_balance()
        positions = tuple(Position(ticker=p.ticker, name=p.name, qty=p.qty,
                                   sellable_qty=min(max(p.sellable_qty, 0), p.qty),
                                   avg_price=int(p.avg_price.to_integral_value()),
                                   price=max(p.current_price, 0)) for p in b.positions)
        return PortfolioView(cash_krw=cash, positions=positions)
