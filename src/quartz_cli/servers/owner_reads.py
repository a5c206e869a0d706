"""The account owner's read API and readiness, mounted on the trading server.

In a cluster every KIS call of one account leaves from the trading agent (the owner), inside
its one rate budget: the jobs (decide, rebalance, analyze) read quotes, daily bars and the
account through these routes (`remote.owner_reads_client`), behind the internal bearer
token.

- `GET /api/reads/quotes?tickers=005930,000660` → {"source", "quotes": {code: Quote},
  "failed": {code: why}}
- `GET /api/reads/daily-bars?ticker=&start=&end=&period=D` → {"source", "code", "name",
  "period", "bars": [[day, open, high, low, close, volume, value], ...]}
- `GET /api/reads/orderable-cash` → {"cash_krw"}
- `GET /api/reads/portfolio` → a PortfolioView
- `GET /api/reads/rate-budget` → {"span_s", "calls", "per_second", "limit_per_s", "use",
  "refused_since_start"}: the owner's use of the account's REST limit over the last minute

Readiness (`ready`) reads the owner's own state, never the broker: a valid token in the
token manager's cache, and whether the latest broker call got an answer (with the age of the
last one). The owner keeps that state fresh itself (`start`), never on a probe's behalf.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quartz_cli.domain.bars import Period
from quartz_cli.domain.krx import normalize_ticker
from quartz_cli.errors import BrokerError, BrokerUnavailable, InputError, QuartzError
from quartz_cli.ports import Account, MarketData
from quartz_cli.redaction import redact
from quartz_cli.remote.owner_reads_client import MAX_TICKERS, PREFIX

if TYPE_CHECKING:
    from quartz_cli.app.runtime import Runtime

log = logging.getLogger(__name__)

# How often the owner refreshes its own state (a no-op while the token is fresh and the
# broker answers), and how soon after a failure.
MAINTAIN_EVERY_S = 60.0
WARM_UP_RETRY_S = 30.0
# While the broker's latest call got no answer: not ready once the last answer is this old.
STALE_ANSWER_S = 300.0
# The inquiry the owner uses to see an unreachable broker back (a liquid listing).
RECHECK_TICKER = "005930"


class BrokerHealth(Protocol):
    """What the owner knows of its broker session without asking it (`KisClient`)."""

    answered_at: float | None
    unreachable: bool


class TokenState(Protocol):
    """The token manager's view of its cached token (`TokenStatus`)."""

    @property
    def valid(self) -> bool: ...


def _status_for(exc: QuartzError) -> int:
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, BrokerError):
        return 502
    return 500


def _error(exc: QuartzError) -> JSONResponse:
    return JSONResponse({"error": type(exc).__name__, "message": redact(exc.message),
                         "code": getattr(exc, "code", None)}, status_code=_status_for(exc))


def _day(request: Request, name: str) -> date:
    raw = request.query_params.get(name, "")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError(f"{name}={raw!r}: give a date as YYYY-MM-DD") from None


class OwnerReads:
    """The read routes over the owner's `MarketData` and `Account`, and its readiness."""

    def __init__(self, market: MarketData, account: Account, *, broker: BrokerHealth,
                 token_status: Callable[[], TokenState],
                 warm_up: Callable[[], Awaitable[object]] | None = None,
                 rate_use: Callable[[], dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.market = market
        self.account = account
        self.broker = broker
        self._token_status = token_status
        self._warm_up = warm_up
        self._rate_use = rate_use
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Keep the owner's own state fresh in the background, so that readiness can read it
        and the probe never calls the broker: the token (from a cache, or issued once when
        none is valid) and, only while the broker's latest call got no answer, one quote
        inquiry a minute to see it back."""
        if self._task is None:
            self._task = asyncio.create_task(self._maintain())

    async def _maintain(self) -> None:
        while True:
            delay = MAINTAIN_EVERY_S
            try:
                if self._warm_up is not None:
                    await self._warm_up()
                if self.broker.unreachable:
                    await self.market.quotes([RECHECK_TICKER])
            except QuartzError as exc:
                log.warning("owner state refresh failed, retrying in %.0f s: %s",
                            WARM_UP_RETRY_S, redact(exc.message))
                delay = WARM_UP_RETRY_S
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- readiness ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The owner's broker state as readiness sees it (no broker call)."""
        token = self._token_status()
        answered = self.broker.answered_at
        return {"token_valid": token.valid,
                "broker_reachable": not self.broker.unreachable,
                "broker_answer_age_s": None if answered is None
                else round(self._clock() - answered, 1)}

    async def ready(self) -> None:
        """Raise when the owner cannot serve: no valid token cached, or the broker's latest
        call got no answer and the last answer is old (or there was none)."""
        state = await asyncio.to_thread(self.state)
        if not state["token_valid"]:
            raise BrokerUnavailable("no valid KIS token in the owner's cache yet")
        age = state["broker_answer_age_s"]
        if not state["broker_reachable"] and (age is None or age > STALE_ANSWER_S):
            since = "never" if age is None else f"{age:.0f} s ago"
            raise BrokerUnavailable(f"the broker's latest call got no answer (last answer "
                                    f"{since})")

    # --- routes ---------------------------------------------------------------------------

    def routes(self, token: str) -> list[Route]:
        """The read routes, each behind `Authorization: Bearer <token>`."""
        expected = f"Bearer {token}".encode()

        def guarded(handler: Callable[[Request], Awaitable[dict[str, Any]]]
                    ) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                given = request.headers.get("authorization", "").encode()
                if not hmac.compare_digest(given, expected):
                    return JSONResponse({"error": "Unauthorized",
                                         "message": "missing or wrong bearer token"}, 401)
                try:
                    return JSONResponse(await handler(request))
                except QuartzError as exc:
                    return _error(exc)
            return endpoint

        return [Route(f"{PREFIX}/quotes", guarded(self._quotes), methods=["GET"]),
                Route(f"{PREFIX}/daily-bars", guarded(self._bars), methods=["GET"]),
                Route(f"{PREFIX}/orderable-cash", guarded(self._cash), methods=["GET"]),
                Route(f"{PREFIX}/portfolio", guarded(self._portfolio), methods=["GET"]),
                Route(f"{PREFIX}/rate-budget", guarded(self._rate_budget), methods=["GET"])]

    async def _rate_budget(self, request: Request) -> dict[str, Any]:
        """The owner's use of the account's REST limit over the last minute, and the
        broker's refusals for rate since it started."""
        use = self._rate_use() if self._rate_use is not None else {}
        return {**use, "refused_since_start": getattr(self.broker, "rate_limited", 0)}

    async def _quotes(self, request: Request) -> dict[str, Any]:
        raw = [t for t in request.query_params.get("tickers", "").split(",") if t.strip()]
        if not raw or len(raw) > MAX_TICKERS:
            raise InputError(f"tickers: name 1 to {MAX_TICKERS} codes, comma-separated")
        codes = list(dict.fromkeys(normalize_ticker(t) for t in raw))
        quotes, failed = await self.market.quotes(codes)
        return {"source": self.market.source,
                "quotes": {c: q.model_dump(mode="json") for c, q in quotes.items()},
                "failed": failed}

    async def _bars(self, request: Request) -> dict[str, Any]:
        code = normalize_ticker(request.query_params.get("ticker", ""))
        raw_period = request.query_params.get("period", "D")
        try:
            period = Period(raw_period)
        except ValueError:
            raise InputError(f"period={raw_period!r}: choose D, W or M") from None
        bars = await self.market.daily_bars(code, _day(request, "start"), _day(request, "end"),
                                            period)
        return {"source": self.market.source, "code": bars.code, "name": bars.name,
                "period": bars.period.value,
                "bars": [[b.day.isoformat(), b.open, b.high, b.low, b.close, b.volume, b.value]
                         for b in bars.bars]}

    async def _cash(self, request: Request) -> dict[str, Any]:
        return {"cash_krw": await self.account.orderable_cash()}

    async def _portfolio(self, request: Request) -> dict[str, Any]:
        return (await self.account.portfolio()).model_dump(mode="json")


def owner_reads(rt: Runtime) -> OwnerReads:
    """The read API and readiness over the owner's own broker session `rt` (built by the
    composition root); the trading server mounts it."""
    return OwnerReads(rt.market, rt.account, broker=rt.kis, token_status=rt.tokens.status,
                      warm_up=rt.tokens.token, rate_use=rt.kis.limiter.use)
