"""`TradingClient`: the `OrderExecutor` port over the trading server.

It sends each order on the WebSocket; when the socket is down (or drops before the answer) it
sends the very same message over HTTP (`POST /api/order`), and keeps trying both with backoff
until `deadline_s`. Re-sending is safe because the server executes a request_id once and
answers a repeat with the stored outcome. A reconnect is attempted with exponential backoff.

When nothing answers at all (every try failed to connect, on both paths) the order never left
this process: after `unreachable_after_s` the client says so (`TradingAgentUnreachable`, naming
both addresses) instead of waiting out the deadline meant for an order that may have arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from quartz_cli.domain.account import Balance
from quartz_cli.domain.orders import OpenOrder, OrderOutcome, OrderRequest
from quartz_cli.domain.pretrade import DayTurnover
from quartz_cli.errors import (
    BrokerError,
    BrokerUnavailable,
    ConfigError,
    InputError,
    QuartzError,
    SafetyRefusal,
    TradingAgentUnreachable,
)

log = logging.getLogger(__name__)

# BrokerUnavailable: the server could not read the account before a check, and sent nothing.
_ERRORS: dict[str, type[QuartzError]] = {"InputError": InputError,
                                         "SafetyRefusal": SafetyRefusal,
                                         "BrokerUnavailable": BrokerUnavailable}


def check_ws_url(ws_url: str) -> str:
    """`ws_url` if it is a usable ws:// or wss:// address, else a ConfigError naming it."""
    hint = ("set TRADING_AGENT_WS_URL (or --server) to the trading agent's WebSocket, e.g. "
            "ws://quartz-trading:8005/ws/orders")
    try:
        parts = urlsplit(ws_url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"the trading agent URL {ws_url!r} is malformed: {exc}",
                          hint=hint) from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"the trading agent URL {ws_url!r} is not a ws:// or wss:// address "
                          "with a host", hint=hint)
    if port == 0:
        raise ConfigError(f"the trading agent URL {ws_url!r} has port 0", hint=hint)
    return ws_url.strip()


def http_base(ws_url: str) -> str:
    """ws://host:8005/ws/orders → http://host:8005 (wss → https)."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def _why(exc: BaseException) -> str:
    """A connection failure in a few words: the OS's reason when it gave one."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error(body: dict[str, Any]) -> QuartzError:
    cls = _ERRORS.get(str(body.get("error")))
    message = str(body.get("message") or "the trading agent refused the order")
    if cls is not None:
        return cls(message)
    return BrokerError(message, code=body.get("code"))


class _Retry(Exception):
    """This path failed in a way that another try (or the other path) may fix."""


class _NotReached(_Retry):
    """This path could not even connect: the message did not leave this process."""


class TradingClient:
    """Implements the `OrderExecutor` port remotely.

    Use as `async with TradingClient(...) as c:`."""

    def __init__(self, ws_url: str, token: str, *, http_url: str | None = None,
                 reply_timeout_s: float = 60.0, deadline_s: float = 120.0,
                 unreachable_after_s: float = 2.0,
                 backoff_s: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0),
                 use_websocket: bool = True) -> None:
        self.ws_url = check_ws_url(ws_url)
        self.http_url = (http_url or http_base(self.ws_url)).rstrip("/")
        self._token = token
        self.reply_timeout_s = reply_timeout_s
        self.deadline_s = deadline_s
        self.unreachable_after_s = unreachable_after_s
        self.backoff_s = backoff_s
        self.use_websocket = use_websocket
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(reply_timeout_s, connect=3.0),
                                       headers={"authorization": f"Bearer {token}"})
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._connect_lock = asyncio.Lock()
        self._next_connect = 0.0
        self._failures = 0
        self._connect_error = ""
        self.sent_ws = 0
        self.sent_http = 0
        self.reconnects = 0

    async def __aenter__(self) -> TradingClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._drop_socket()
        await self._http.aclose()

    async def disconnect(self) -> None:
        """Close the socket now; answers in flight continue over HTTP, the next order
        reconnects."""
        await self._drop_socket()

    # --- WebSocket --------------------------------------------------------------------------

    async def _drop_socket(self) -> None:
        ws, self._ws = self._ws, None
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(_Retry("websocket closed"))
        self._pending.clear()

    async def _socket(self) -> Any:
        """The open socket, connecting if the backoff allows; None when it is down."""
        if not self.use_websocket:
            return None
        if self._ws is not None:
            return self._ws
        async with self._connect_lock:
            if self._ws is not None:
                return self._ws
            if time.monotonic() < self._next_connect:
                return None
            from websockets.asyncio.client import connect
            from websockets.exceptions import InvalidHandshake, InvalidStatus

            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the connection completes, and the caller then never stops.
                async with asyncio.timeout(5.0):
                    self._ws = await connect(
                        self.ws_url,
                        additional_headers={"authorization": f"Bearer {self._token}"},
                        ping_interval=None, max_size=2**22, open_timeout=3.0)
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 403):
                    raise BrokerError("the trading agent refused the bearer token",
                                      hint="check QUARTZ_INTERNAL_TOKEN") from None
                self._backoff()
                return None
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                log.info("trading websocket unavailable: %s", type(exc).__name__)
                self._connect_error = _why(exc)
                self._backoff()
                return None
            self._failures = 0
            self.reconnects += 1
            self._reader = asyncio.create_task(self._read(self._ws))
            return self._ws

    def _backoff(self) -> None:
        delay = self.backoff_s[min(self._failures, len(self.backoff_s) - 1)]
        self._failures += 1
        self._next_connect = time.monotonic() + delay

    async def _read(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for text in ws:
                try:
                    body = json.loads(text)
                except json.JSONDecodeError:
                    continue
                kind = body.get("type")
                if kind == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                rid = body.get("request_id")
                fut = self._pending.pop(rid, None) if isinstance(rid, str) else None
                if fut is not None and not fut.done():
                    fut.set_result(body)
        except ConnectionClosed:
            pass
        finally:
            if self._ws is ws:
                self._ws = None
                for fut in self._pending.values():
                    if not fut.done():
                        fut.set_exception(_Retry("websocket closed"))
                self._pending.clear()

    async def _via_ws(self, message: dict[str, Any]) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        ws = await self._socket()
        if ws is None:
            raise _NotReached(f"websocket: {self._connect_error or 'not connected'}")
        rid = message["request_id"]
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await ws.send(json.dumps(message))
            self.sent_ws += 1
            async with asyncio.timeout(self.reply_timeout_s):
                return await fut
        except (ConnectionClosed, OSError) as exc:
            raise _Retry(f"websocket failed: {type(exc).__name__}") from None
        except TimeoutError:
            raise _Retry("no answer on the websocket") from None
        finally:
            if self._pending.get(rid) is fut:
                del self._pending[rid]

    # --- HTTP -------------------------------------------------------------------------------

    async def _via_http(self, path: str, message: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = await self._http.post(self.http_url + path, json=message)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _NotReached(f"http: {_why(exc)}") from None
        except httpx.HTTPError as exc:
            raise _Retry(f"http failed: {type(exc).__name__}") from None
        self.sent_http += 1
        if resp.status_code == 401:
            raise BrokerError("the trading agent refused the bearer token",
                              hint="check QUARTZ_INTERNAL_TOKEN")
        try:
            body = resp.json()
        except json.JSONDecodeError:
            raise _Retry(f"http {resp.status_code} without JSON") from None
        if resp.status_code >= 500 and body.get("type") != "error":
            raise _Retry(f"http {resp.status_code}")
        return body

    async def _get(self, path: str) -> dict[str, Any]:
        try:
            resp = await self._http.get(self.http_url + path)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TradingAgentUnreachable(self.ws_url, self.http_url, _why(exc)) from None
        except httpx.HTTPError as exc:
            raise BrokerUnavailable(f"the trading agent at {self.http_url} did not answer: "
                                    f"{type(exc).__name__}") from None
        body = resp.json()
        if resp.status_code != 200:
            raise _error(body)
        return body

    # --- OrderExecutor ----------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> OrderOutcome:
        """Send on the WebSocket, fall back to HTTP; same request_id on both, until answered
        or `deadline_s` passes (then BrokerUnavailable: ask again later with the same id)."""
        message = request.model_dump(mode="json", exclude_none=True)
        started = time.monotonic()
        deadline = started + self.deadline_s
        tries = 0
        reached = False
        why = {"ws": "", "http": ""}
        while True:
            for path in ("ws", "http"):
                try:
                    if path == "ws":
                        body = await self._via_ws(message)
                    else:
                        body = await self._via_http("/api/order", message)
                except _Retry as exc:
                    log.debug("%s: %s via %s", request.request_id, exc, path)
                    reached = reached or not isinstance(exc, _NotReached)
                    why[path] = str(exc)
                    continue
                if body.get("type") == "error":
                    raise _error(body)
                return OrderOutcome.model_validate(body["outcome"])
            tries += 1
            now = time.monotonic()
            if not reached and now - started >= self.unreachable_after_s:
                raise TradingAgentUnreachable(self.ws_url, self.http_url,
                                              f"{why['ws']}; {why['http']}")
            if now >= deadline:
                raise BrokerUnavailable(
                    f"the trading agent at {self.http_url} did not answer order "
                    f"{request.request_id}", maybe_sent=True,
                    hint="ask again with the same request_id; it is executed at most once")
            delay = self.backoff_s[min(tries - 1, len(self.backoff_s) - 1)]
            if not reached:
                # Do not sleep past the moment to say that nothing answers.
                delay = min(delay, max(0.05, started + self.unreachable_after_s - now))
            await asyncio.sleep(delay)

    async def cancelable_orders(self) -> list[OpenOrder]:
        body = await self._get("/api/cancelable-orders")
        return [OpenOrder.model_validate(o) for o in body["orders"]]

    async def day_turnover(self) -> DayTurnover | None:
        """The account's turnover budget for today as the trading agent's owner counts it."""
        body = await self._get("/api/day-turnover")
        return DayTurnover(**{k: int(body["turnover"][k])
                              for k in ("allowed", "filled", "in_flight")})

    async def outcome(self, request_id: str) -> OrderOutcome | None:
        """The stored outcome of `request_id` (None if the agent never saw it)."""
        try:
            body = await self._get(f"/api/orders/{request_id}")
        except BrokerError as exc:
            if "unknown request_id" in exc.message:
                return None
            raise
        return OrderOutcome.model_validate(body["outcome"])

    async def refresh(self) -> None:
        """Have the trading agent bring its booked orders up to date with the broker's fills
        (the server refreshes before listing; one entry is asked for, none is needed)."""
        await self._get("/api/orders?limit=1&refresh=1")

    async def orders(self, *, limit: int = 200, refresh: bool = False) -> list[OrderOutcome]:
        """Recent requests, newest first; `refresh` first updates fills from the broker."""
        body = await self._get(f"/api/orders?limit={limit}&refresh={int(refresh)}")
        return [OrderOutcome.model_validate(o) for o in body["orders"]]

    async def balance(self) -> Balance:
        """The account balance as the trading agent sees it."""
        body = await self._get("/api/balance")
        return Balance.model_validate(body["balance"])
