"""The trading agent's server (starlette): WebSocket `/ws/orders` and its HTTP fallback.

WebSocket protocol (JSON text frames):
- client → server: an order message (the seed's: request_id, action, ticker, qty,
  order_type, price, timestamp; a cancel adds order_no), or `{"type": "ping"}`.
- server → client: `{"type": "outcome", "request_id": ..., "outcome": {...}}`,
  `{"type": "error", "request_id": ... or null, "error": <class>, "message": ...}`,
  `{"type": "ping", "at": ...}` every `ping_interval_s` (30 s), `{"type": "pong"}`.
Orders on one socket run concurrently; answers carry their request_id. A malformed message
(not JSON, nested too deeply, over 64 KiB, a field of the wrong type) gets an error answer and
the connection stays up; the bounds are in `quartz_cli.servers.guards`.

HTTP: `POST /api/order` (the same message), `POST /api/cancel-order`
({request_id, order_no, qty?}), `GET /api/cancelable-orders`, `GET /api/orders/{request_id}`,
`GET /api/orders[?refresh=1]`, `GET /api/balance`, `GET /api/day-turnover` (the owner's
turnover budget for today), `GET|POST /api/trading-state` (servers/trading_admin.py); the
owner's read API `/api/reads/...` (servers/owner_reads.py);
`/health/live`, `/health/ready` (the owner's own state: a valid cached token and an answering
broker; the probe never calls the broker).
Every order endpoint needs `Authorization: Bearer <QUARTZ_INTERNAL_TOKEN>` (at least 32
characters). A body over 64 KiB gets a JSON 413; malformed JSON a JSON 422.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from quartz_cli.agents.fill_notices import FillNotices
from quartz_cli.agents.notifier import Notifier
from quartz_cli.agents.owner import AccountOwner
from quartz_cli.app.internal_token import check_internal_token
from quartz_cli.app.metrics import unknown_orders_gauge
from quartz_cli.domain.orders import CANCEL_ACTION, OrderRequest
from quartz_cli.errors import (
    BrokerError,
    InputError,
    QuartzError,
    SafetyRefusal,
)
from quartz_cli.redaction import redact
from quartz_cli.servers.guards import (
    MAX_FRAME_BYTES,
    BodyTooLarge,
    parse_json,
    read_json,
)
from quartz_cli.servers.metrics import metrics_route
from quartz_cli.servers.owner_reads import OwnerReads
from quartz_cli.servers.trading_admin import admin_routes

log = logging.getLogger(__name__)

PING_INTERVAL_S = 30.0
RECONCILE_INTERVAL_S = 1.0
WS_POLICY_VIOLATION = 1008


def parse_order(raw: Any) -> OrderRequest:
    """An order message → OrderRequest; InputError naming what is wrong."""
    if not isinstance(raw, dict):
        raise InputError("an order message is a JSON object")
    data = {k: v for k, v in raw.items() if k != "type"}
    try:
        return OrderRequest.model_validate(data)
    except ValidationError as err:
        parts = [f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in err.errors()]
        raise InputError("invalid order: " + "; ".join(parts)) from None


def _status_for(exc: QuartzError) -> int:
    if isinstance(exc, BodyTooLarge):
        return 413
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, SafetyRefusal):
        return 403
    if isinstance(exc, BrokerError):
        return 502
    return 500


def _error_body(exc: QuartzError, request_id: str | None) -> dict[str, Any]:
    return {"type": "error", "request_id": request_id, **exc.to_dict()}


async def listen_for_fills(notices: FillNotices) -> None:
    """Run the fill-notice listener; a failure it cannot recover from (a notice layout it
    does not know) is logged and leaves fills to polling."""
    try:
        await notices.run()
    except QuartzError as exc:
        log.error("real-time fill notices stopped, fills come from polling: %s", exc.message)


def create_app(agent: AccountOwner, token: str, *,
               ready_check: Callable[[], Awaitable[None]] | None = None,
               ping_interval_s: float = PING_INTERVAL_S,
               on_shutdown: Callable[[], Awaitable[None]] | None = None,
               reconcile_interval_s: float = RECONCILE_INTERVAL_S,
               reads: OwnerReads | None = None,
               notices: FillNotices | None = None,
               metrics_refresh: Callable[[], None] | None = None,
               notifier: Notifier | None = None) -> Starlette:
    """The ASGI app over `agent`, the account's owner (every order passes its pre-trade
    stage). `token` is the shared bearer token (ConfigError when it is
    empty or short). On startup it reconciles requests a killed predecessor left
    `sent`/`unknown` (never re-sending them); then every `reconcile_interval_s` it runs the
    agent's reconciliation pass (each unknown request is asked about on its own back-off).
    `reads` adds the owner's read API (`servers.owner_reads`) and starts its upkeep of the
    owner's state. `notices` (KIS's real-time order notices) runs for the server's lifetime.
    `GET /metrics` exports the process's metrics, with `metrics_refresh` setting the
    scrape-time gauges (default: the owner's unknown orders). `notifier` delivers the
    account's events to its channels while the server runs."""
    check_internal_token(token, server="trading server")
    expected = f"Bearer {token}".encode()

    def authorized(headers: Any) -> bool:
        return hmac.compare_digest(headers.get("authorization", "").encode(), expected)

    def unauthorized() -> JSONResponse:
        return JSONResponse({"error": "Unauthorized",
                             "message": "missing or wrong bearer token"}, status_code=401)

    async def submit_json(request_id: str | None, req: OrderRequest | None,
                          raw: Any) -> tuple[int, dict[str, Any]]:
        try:
            order = req or parse_order(raw)
            outcome = await agent.submit(order)
        except QuartzError as exc:
            return _status_for(exc), _error_body(exc, request_id)
        except Exception as exc:
            log.exception("order %s failed unexpectedly", request_id)
            return 500, {"type": "error", "request_id": request_id, "error": "InternalError",
                         "message": redact(f"{type(exc).__name__}: {exc}")}
        return 200, {"type": "outcome", "request_id": order.request_id,
                     "outcome": outcome.model_dump(mode="json")}

    async def order_body(request: Request) -> dict | Response:
        """The authorised request's JSON object, or the error response to send instead."""
        if not authorized(request.headers):
            return unauthorized()
        try:
            raw = await read_json(request)
        except InputError as exc:
            return JSONResponse(_error_body(exc, None), _status_for(exc))
        if not isinstance(raw, dict):
            return JSONResponse(_error_body(InputError("body is not a JSON object"), None), 422)
        return raw

    async def submit_body(message: dict) -> Response:
        rid = message.get("request_id")
        status, body = await submit_json(rid if isinstance(rid, str) else None, None, message)
        return JSONResponse(body, status_code=status)

    async def post_order(request: Request) -> Response:
        raw = await order_body(request)
        return raw if isinstance(raw, Response) else await submit_body(raw)

    async def post_cancel(request: Request) -> Response:
        raw = await order_body(request)
        if isinstance(raw, Response):
            return raw
        return await submit_body({
            "request_id": raw.get("request_id"), "action": CANCEL_ACTION,
            "order_no": raw.get("order_no"), "qty": raw.get("qty", 0),
            "timestamp": raw.get("timestamp") or datetime.now(UTC).isoformat()})

    async def get_cancelable(request: Request) -> Response:
        if not authorized(request.headers):
            return unauthorized()
        try:
            orders = await agent.cancelable_orders()
        except QuartzError as exc:
            return JSONResponse(_error_body(exc, None), status_code=_status_for(exc))
        return JSONResponse({"orders": [o.model_dump(mode="json") for o in orders]})

    async def get_order(request: Request) -> Response:
        if not authorized(request.headers):
            return unauthorized()
        outcome = await agent.outcome(request.path_params["request_id"])
        if outcome is None:
            return JSONResponse({"error": "NotFound", "message": "unknown request_id"}, 404)
        return JSONResponse({"outcome": outcome.model_dump(mode="json")})

    async def list_orders(request: Request) -> Response:
        if not authorized(request.headers):
            return unauthorized()
        if request.query_params.get("refresh") in ("1", "true"):
            try:
                await agent.refresh()
            except QuartzError as exc:
                return JSONResponse(_error_body(exc, None), status_code=_status_for(exc))
        raw_limit = request.query_params.get("limit", "200")
        limit = int(raw_limit) if raw_limit.isdigit() else 200
        return JSONResponse({"orders": [o.model_dump(mode="json")
                                        for o in await agent.orders(limit=limit)]})

    async def get_balance(request: Request) -> Response:
        if not authorized(request.headers):
            return unauthorized()
        try:
            balance = await agent.balance()
        except QuartzError as exc:
            return JSONResponse(_error_body(exc, None), status_code=_status_for(exc))
        return JSONResponse({"balance": balance.model_dump(mode="json")})

    async def get_day_turnover(request: Request) -> Response:
        if not authorized(request.headers):
            return unauthorized()
        try:
            day = await agent.day_turnover()
        except QuartzError as exc:
            return JSONResponse(_error_body(exc, None), status_code=_status_for(exc))
        return JSONResponse({"turnover": {"allowed": day.allowed, "filled": day.filled,
                                          "in_flight": day.in_flight, "left": day.left}})

    async def live(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        if ready_check is None:
            return JSONResponse({"status": "ok"})
        try:
            await ready_check()
        except QuartzError as exc:
            return JSONResponse({"status": "unavailable", "reason": redact(exc.message)}, 503)
        return JSONResponse({"status": "ok"})

    async def ws_orders(ws: WebSocket) -> None:
        if not authorized(ws.headers):
            await ws.close(code=WS_POLICY_VIOLATION, reason="missing or wrong bearer token")
            return
        await ws.accept()
        send_lock = asyncio.Lock()
        tasks: set[asyncio.Task[None]] = set()

        async def send(body: dict[str, Any]) -> None:
            async with send_lock:
                await ws.send_text(json.dumps(body, ensure_ascii=False))

        async def handle(order: OrderRequest) -> None:
            _, body = await submit_json(order.request_id, order, None)
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await send(body)

        async def pinger() -> None:
            while True:
                await asyncio.sleep(ping_interval_s)
                await send({"type": "ping", "at": datetime.now(UTC).isoformat()})

        ping_task = asyncio.create_task(pinger())
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    await send(_error_body(InputError("send JSON text frames"), None))
                    continue
                if len(text) > MAX_FRAME_BYTES:
                    await send(_error_body(InputError(
                        f"message over the {MAX_FRAME_BYTES}-byte limit"), None))
                    continue
                try:
                    raw = parse_json(text)
                except InputError as exc:
                    await send(_error_body(exc, None))
                    continue
                kind = raw.get("type") if isinstance(raw, dict) else None
                if kind == "ping":
                    await send({"type": "pong"})
                    continue
                if kind == "pong":
                    continue
                rid = raw.get("request_id") if isinstance(raw, dict) else None
                try:
                    order = parse_order(raw)
                except InputError as exc:
                    await send(_error_body(exc, rid if isinstance(rid, str) else None))
                    continue
                task = asyncio.create_task(handle(order))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except WebSocketDisconnect:
            pass
        finally:
            ping_task.cancel()
            # Orders already taken keep running to their outcome: it lands in the ledger and
            # the client gets it by asking again with the same request_id.

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def reconcile() -> None:
            # Startup recovery (reconciles what a killed predecessor left, never sends),
            # then the periodic pass over requests whose outcome is still unknown.
            try:
                n = await agent.recover()
                if n:
                    log.info("recovered %d interrupted orders", n)
            except QuartzError as exc:
                log.warning("recovery deferred: %s", exc.message)
            while True:
                await asyncio.sleep(reconcile_interval_s)
                try:
                    await agent.reconcile_pending()
                except QuartzError as exc:
                    log.warning("reconciliation deferred: %s", exc.message)

        task = asyncio.create_task(reconcile())
        listener = asyncio.create_task(listen_for_fills(notices)) if notices else None
        stop_notifying = asyncio.Event()
        notifying = (asyncio.create_task(notifier.run(stop_notifying))
                     if notifier is not None else None)
        if reads is not None:
            await reads.start()
        try:
            yield
        finally:
            task.cancel()
            if listener is not None:
                listener.cancel()
            if notifier is not None and notifying is not None:
                stop_notifying.set()
                await notifying
                await notifier.aclose()
            if reads is not None:
                await reads.stop()
            if on_shutdown is not None:
                await on_shutdown()

    return Starlette(routes=[
        WebSocketRoute("/ws/orders", ws_orders),
        Route("/api/order", post_order, methods=["POST"]),
        Route("/api/cancel-order", post_cancel, methods=["POST"]),
        Route("/api/cancelable-orders", get_cancelable, methods=["GET"]),
        Route("/api/orders", list_orders, methods=["GET"]),
        Route("/api/orders/{request_id}", get_order, methods=["GET"]),
        Route("/api/balance", get_balance, methods=["GET"]),
        Route("/api/day-turnover", get_day_turnover, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        metrics_route("trading", metrics_refresh or (lambda: unknown_orders_gauge(agent.ledger))),
        *(reads.routes(token) if reads is not None else []),
        *admin_routes(agent, token),
    ], lifespan=lifespan)


