"""The `MarketData` and `Account` ports over the account owner's read API
(`servers.owner_reads`): what the jobs use in a cluster, so that every KIS call of the
account leaves from the trading agent, inside its one rate budget."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from typing import Any

import httpx

from quartz_cli.domain.bars import Bar, Period
from quartz_cli.domain.decision import PortfolioView, Quote
from quartz_cli.errors import (
    BrokerError,
    BrokerUnavailable,
    ConfigError,
    InputError,
    QuartzError,
    RateLimited,
    TradingAgentUnreachable,
)
from quartz_cli.ports import DailyBars
from quartz_cli.remote.trading_client import check_ws_url, http_base

# The owner paces every call of the account: at the paper limit (1 call/s) a batch of
# quotes takes a while, so the client waits long for an answer.
# The owner's read API: its path prefix, and the most tickers one quotes request names
# (longer lists are split).
PREFIX = "/api/reads"
MAX_TICKERS = 50
READ_TIMEOUT_S = 300.0
# Waits before asking again when the owner answers that the broker refused a read for rate.
RATE_LIMITED_WAITS_S = (1.0, 2.0, 4.0)

_ERRORS: dict[str, type[QuartzError]] = {
    "InputError": InputError, "ConfigError": ConfigError, "RateLimited": RateLimited,
    "BrokerUnavailable": BrokerUnavailable,
}


class OwnerReadsClient:
    """HTTP client of the owner's read routes, authenticated with the internal token."""

    def __init__(self, ws_url: str, token: str, *, timeout_s: float = READ_TIMEOUT_S) -> None:
        self.ws_url = check_ws_url(ws_url)
        self.base_url = http_base(self.ws_url).rstrip("/")
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0),
                                       headers={"authorization": f"Bearer {token}"})
        self.requests = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, route: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """GET `/api/reads/<route>`; the owner's errors come back as the same Quartz
        errors. A read the broker still refused for rate after the owner's own retries is
        waited out and asked again (bounded): reads change nothing."""
        for wait in RATE_LIMITED_WAITS_S:
            try:
                return await self._get_once(route, params)
            except RateLimited:
                await asyncio.sleep(wait)
        return await self._get_once(route, params)

    async def _get_once(self, route: str, params: dict[str, str] | None) -> dict[str, Any]:
        url = f"{self.base_url}{PREFIX}/{route}"
        self.requests += 1
        try:
            resp = await self._http.get(url, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TradingAgentUnreachable(self.ws_url, self.base_url,
                                          f"{type(exc).__name__}: {exc}") from None
        except httpx.HTTPError as exc:
            raise BrokerUnavailable(f"no answer from the trading agent at {self.base_url}: "
                                    f"{type(exc).__name__}",
                                    hint="the jobs read the broker through the trading "
                                    "agent (TRADING_AGENT_WS_URL)") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise BrokerError(f"the trading agent answered {resp.status_code} without JSON "
                              f"for {PREFIX}/{route}")
        if resp.is_success:
            return body
        if resp.status_code == 401:
            raise ConfigError("the trading agent refused the internal token",
                              hint="QUARTZ_INTERNAL_TOKEN must match the trading agent's")
        cls = _ERRORS.get(str(body.get("error")), BrokerError)
        message = str(body.get("message") or f"HTTP {resp.status_code}")
        if cls is BrokerUnavailable or not issubclass(cls, BrokerError):
            raise cls(message)
        raise cls(message, code=body.get("code"))


class RemoteMarketData:
    """`MarketData` through the owner."""

    def __init__(self, client: OwnerReadsClient) -> None:
        self.client = client
        self.source = f"the trading agent at {client.base_url}"

    async def quotes(self, tickers: Sequence[str]) -> tuple[dict[str, Quote], dict[str, str]]:
        quotes: dict[str, Quote] = {}
        failed: dict[str, str] = {}
        codes = list(tickers)
        for i in range(0, len(codes), MAX_TICKERS):
            body = await self.client.get("quotes", {"tickers": ",".join(codes[i:i + MAX_TICKERS])})
            self.source = str(body.get("source") or self.source)
            quotes.update({c: Quote.model_validate(q) for c, q in body["quotes"].items()})
            failed.update({c: str(why) for c, why in body["failed"].items()})
        return quotes, failed

    async def daily_bars(self, ticker: str, start: date, end: date,
                         period: Period = Period.DAY) -> DailyBars:
        body = await self.client.get("daily-bars", {
            "ticker": ticker, "start": start.isoformat(), "end": end.isoformat(),
            "period": period.value})
        self.source = str(body.get("source") or self.source)
        bars = [Bar(day=date.fromisoformat(d), open=o, high=h, low=lo, close=c, volume=v,
                    value=val) for d, o, h, lo, c, v, val in body["bars"]]
        return DailyBars(code=body["code"], name=body["name"], period=Period(body["period"]),
                         bars=bars)


class RemoteAccount:
    """`Account` through the owner."""

    def __init__(self, client: OwnerReadsClient) -> None:
        self.client = client

    async def orderable_cash(self) -> int:
        return int((await self.client.get("orderable-cash"))["cash_krw"])

    async def portfolio(self) -> PortfolioView:
        return PortfolioView.model_validate(await self.client.get("portfolio"))
