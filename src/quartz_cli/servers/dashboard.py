"""The dashboard's side of `quartz serve`: login, sessions and the JSON the pages read,
mounted by the read API (`servers/read_api.py`), plus the built front end.

Login exchanges the operator token (QUARTZ_DASHBOARD_OPERATOR_TOKEN, else the internal
token) or the viewer token for a session: an HttpOnly, SameSite=Strict cookie with an expiry,
signed so every replica accepts it and revoked on logout (`dashboard_sessions.py`).
Every write (logout, halt, resume) also needs the session's CSRF token in `X-CSRF-Token`;
the viewer role has no write action but logout. No CORS unless
QUARTZ_DASHBOARD_CORS_ORIGINS names origins.

| route | answers with |
|---|---|
| POST /api/ui/login {"token"}   | the session (role, csrf, expires_at); sets the cookie |
| GET  /api/ui/session           | the current session, or {"role": null} |
| POST /api/ui/logout            | ends the session (CSRF) |
| GET  /api/ui/overview          | `quartz status --json` |
| GET  /api/ui/orders[?limit=]   | the ledger's latest requests with their lifecycle |
| GET  /api/ui/history           | `quartz trade history --json` (from/to query) |
| GET  /api/ui/decisions, /macro, /macro/full, /candidates, /technical/{ticker} | documents |
| GET  /api/ui/chart/{ticker}?period=D|W|M | bars with MA, Bollinger, RSI, MACD, Fibonacci |
| GET  /api/ui/health            | agents' freshness, jobs' last runs, bars, token |
| GET  /api/ui/backtests[/{id}]  | stored backtest ids; one run's metrics and curves |
| GET  /api/ui/stream            | server-sent events from the event log (`dashboard_stream.py`) |
| POST /api/ui/trading-state {"state","reason"} | operator + CSRF: set at the account owner |
"""

from __future__ import annotations

import asyncio
import hmac
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from quartz_cli.config import Config
from quartz_cli.domain.krx import normalize_ticker
from quartz_cli.errors import InputError, QuartzError
from quartz_cli.ports import Store
from quartz_cli.redaction import redact
from quartz_cli.servers.dashboard_sessions import OPERATOR, Session, Sessions
from quartz_cli.servers.dashboard_stream import DocumentHeads
from quartz_cli.servers.guards import BodyTooLarge, read_json

COOKIE = "quartz_session"
CSRF_HEADER = "x-csrf-token"
API = "/api/ui"
APP = "/app"
MAX_BODY = 4096
#: The overview calls the broker; answers within this many seconds are shared by pollers.
OVERVIEW_TTL_S = 2.0
#: The default location of the built front end (not committed: `make web` builds it).
DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "web" / "dist"


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": redact(message)}, status_code=status)


def _quartz_error(exc: QuartzError) -> JSONResponse:
    status = 400 if isinstance(exc, InputError) else 503
    return _error(status, type(exc).__name__, exc.message)


def bundle_dir(config: Config) -> Path:
    """Where the built front end is served from."""
    configured = config.settings.dashboard.bundle_dir
    return Path(configured) if configured else DEFAULT_BUNDLE


def _not_built(path: Path) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang=en><title>Quartz dashboard</title><main><h1>The dashboard "
        f"is not built</h1><p>No front end at <code>{path}</code>. Run <code>make web</code> "
        "(needs Node.js and npm), or set QUARTZ_DASHBOARD_BUNDLE to a built folder. The JSON "
        f"API under <code>{API}</code> works without it.</p></main></html>", status_code=503)


def dashboard_routes(config: Config, store: Store) -> list[BaseRoute]:
    """The dashboard's routes, for the read API to mount beside its own."""
    from starlette.staticfiles import StaticFiles

    from quartz_cli.app import dashboard as board

    sessions = Sessions(config, store, config.settings.dashboard.session_hours * 3600)
    cached: dict[str, tuple[float, dict[str, Any]]] = {}
    cache_lock = asyncio.Lock()
    secure_cookie = config.env.value != "local"
    heads = DocumentHeads(config, store)

    async def current(request: Request) -> Session | None:
        await sessions.refresh_revoked()
        return sessions.verify(request.cookies.get(COOKIE))

    async def need(request: Request, role: str | None = None, write: bool = False
                   ) -> Session | JSONResponse:
        if not sessions.enabled:
            return _error(503, "ConfigError", "no dashboard login is configured: set "
                          "QUARTZ_DASHBOARD_OPERATOR_TOKEN or QUARTZ_INTERNAL_TOKEN")
        session = await current(request)
        if session is None:
            return _error(401, "Unauthorized", "log in first")
        if write and not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(),
                                             session.csrf.encode()):
            return _error(403, "Forbidden", "missing or wrong CSRF token")
        if role is not None and session.role != role:
            return _error(403, "Forbidden", f"the {session.role} role cannot do this")
        return session

    async def login(request: Request) -> Response:
        if not sessions.enabled:
            return await need(request)  # type: ignore[return-value]
        try:
            body = await read_json(request, MAX_BODY)
        except (BodyTooLarge, InputError):
            return _error(400, "InputError", 'the body must be JSON: {"token": "..."}')
        token = body.get("token") if isinstance(body, dict) else None
        made = sessions.login(token) if isinstance(token, str) else None
        if made is None:
            return _error(401, "Unauthorized", "that token does not log in")
        cookie, session = made
        response = JSONResponse(session.to_dict())
        response.set_cookie(COOKIE, cookie, max_age=int(sessions.lifetime_s), httponly=True,
                            samesite="strict", secure=secure_cookie, path="/")
        return response

    async def session_info(request: Request) -> Response:
        # Answered 200 either way: a page asking whether it is logged in is not an error.
        session = await current(request) if sessions.enabled else None
        if session is None and not sessions.enabled:
            return await need(request)  # type: ignore[return-value]
        return JSONResponse(session.to_dict() if session else {"role": None})

    async def logout(request: Request) -> Response:
        got = await need(request, write=True)
        if isinstance(got, Response):
            return got
        try:
            await sessions.revoke(got)
        except QuartzError as exc:
            return _quartz_error(exc)
        response = JSONResponse({"logged_out": True})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def overview(request: Request) -> Response:
        got = await need(request)
        if isinstance(got, Response):
            return got
        async with cache_lock:
            hit = cached.get("overview")
            if hit is None or time.monotonic() - hit[0] > OVERVIEW_TTL_S:
                try:
                    hit = (time.monotonic(), await board.overview(config))
                except QuartzError as exc:
                    return _quartz_error(exc)
                cached["overview"] = hit
        return JSONResponse(hit[1])

    async def orders(request: Request) -> Response:
        got = await need(request)
        if isinstance(got, Response):
            return got
        try:
            limit = min(500, max(1, int(request.query_params.get("limit", "100"))))
            data = await asyncio.to_thread(board.recent_orders, config, limit)
        except ValueError:
            return _error(400, "InputError", "limit must be a whole number")
        except QuartzError as exc:
            return _quartz_error(exc)
        return JSONResponse(data)

    async def history(request: Request) -> Response:
        from datetime import date, timedelta

        from quartz_cli.domain.krx import kst_date

        got = await need(request)
        if isinstance(got, Response):
            return got
        try:
            end = date.fromisoformat(request.query_params.get("to")
                                     or kst_date(config.market_now()).isoformat())
            start = date.fromisoformat(request.query_params.get("from")
                                       or (end - timedelta(days=30)).isoformat())
        except ValueError:
            return _error(400, "InputError", "from and to are dates: YYYY-MM-DD")
        if start > end or (end - start).days > 366:
            return _error(400, "InputError", "from must be before to, at most 366 days apart")
        try:
            return JSONResponse(await board.trade_history(config, start, end))
        except QuartzError as exc:
            return _quartz_error(exc)

    def document(prefix: str, latest_name: str = "latest") -> Any:
        from quartz_cli.servers.read_api import document_response

        async def read(request: Request) -> Response:
            got = await need(request)
            if isinstance(got, Response):
                return got
            return await asyncio.to_thread(document_response, store, prefix, latest_name)
        return read

    async def technical(request: Request) -> Response:
        from quartz_cli.servers.read_api import technical_response

        got = await need(request)
        if isinstance(got, Response):
            return got
        try:
            code = normalize_ticker(request.path_params["ticker"])
        except InputError as exc:
            return _quartz_error(exc)
        return await asyncio.to_thread(technical_response, store, code)

    async def chart(request: Request) -> Response:
        got = await need(request)
        if isinstance(got, Response):
            return got
        try:
            return JSONResponse(await board.technical_chart(
                config, request.path_params["ticker"], request.query_params.get("period", "D")))
        except QuartzError as exc:
            return _quartz_error(exc)

    async def health(request: Request) -> Response:
        got = await need(request)
        if isinstance(got, Response):
            return got
        try:
            runs = await asyncio.to_thread(board.agent_runs, config, store)
            bars = await asyncio.to_thread(board.bars_freshness, config, store)
            jobs = await asyncio.to_thread(board.job_runs, config)
            token = await board.token_state(config)
            budget = await board.rate_budget(config)
        except QuartzError as exc:
            return _quartz_error(exc)
        return JSONResponse({"env": config.env.value, "agents": runs, "jobs": jobs,
                             "bars": bars,
                             "token": token, "rate_budget": budget,
                             "live_updates": "server-sent events at /api/ui/stream"})

    async def backtests(request: Request) -> Response:
        got = await need(request)
        if isinstance(got, Response):
            return got
        run = request.path_params.get("run")
        try:
            data = await asyncio.to_thread(board.stored_backtests, store, run)
        except QuartzError as exc:
            return _quartz_error(exc)
        if data is None:
            return _error(404, "NotFound", f"no stored backtest {run!r}: `quartz backtest` "
                          "stores one")
        return JSONResponse(data)

    async def stream(request: Request) -> Response:
        from quartz_cli.app.live_events import open_live_events
        from quartz_cli.servers.dashboard_stream import start_position, stream_response

        got = await need(request)
        if isinstance(got, Response):
            return got
        try:
            start = start_position(request)
        except ValueError:
            return _error(400, "InputError", "Last-Event-ID and after are whole numbers >= 0")
        try:
            feed = await asyncio.to_thread(open_live_events, config)
        except QuartzError as exc:
            return _quartz_error(exc)
        cookie = request.cookies.get(COOKIE)

        async def still_logged_in() -> bool:
            await sessions.refresh_revoked()
            return sessions.verify(cookie) is not None

        return stream_response(config, feed, heads, start, still_logged_in)

    async def trading_state(request: Request) -> Response:
        got = await need(request, role=OPERATOR, write=True)
        if isinstance(got, Response):
            return got
        try:
            body = await read_json(request, MAX_BODY)
        except (BodyTooLarge, InputError):
            return _error(400, "InputError", 'the body must be JSON: {"state": "halted"}')
        state = body.get("state") if isinstance(body, dict) else None
        reason = body.get("reason", "") if isinstance(body, dict) else ""
        if state not in ("active", "reduce_only", "halted") or not isinstance(reason, str):
            return _error(400, "InputError", "state is active, reduce_only or halted")
        try:
            data = await board.set_trading_state(config, state,
                                                 reason or f"{state} from the dashboard")
        except QuartzError as exc:
            return _quartz_error(exc)
        cached.pop("overview", None)
        return JSONResponse(data)

    def home(request: Request) -> Response:
        return RedirectResponse(f"{APP}/", status_code=307)

    bundle = bundle_dir(config)
    routes: list[BaseRoute] = [
        Route("/", home, methods=["GET"]),
        Route(f"{API}/login", login, methods=["POST"]),
        Route(f"{API}/session", session_info, methods=["GET"]),
        Route(f"{API}/logout", logout, methods=["POST"]),
        Route(f"{API}/overview", overview, methods=["GET"]),
        Route(f"{API}/orders", orders, methods=["GET"]),
        Route(f"{API}/history", history, methods=["GET"]),
        Route(f"{API}/decisions", document("decisions"), methods=["GET"]),
        Route(f"{API}/macro", document("macro-analysis"), methods=["GET"]),
        Route(f"{API}/macro/full", document("macro-analysis", "latest-full"), methods=["GET"]),
        Route(f"{API}/candidates", document("candidates"), methods=["GET"]),
        Route(API + "/technical/{ticker}", technical, methods=["GET"]),
        Route(API + "/chart/{ticker}", chart, methods=["GET"]),
        Route(f"{API}/health", health, methods=["GET"]),
        Route(f"{API}/stream", stream, methods=["GET"]),
        Route(f"{API}/backtests", backtests, methods=["GET"]),
        Route(API + "/backtests/{run}", backtests, methods=["GET"]),
        Route(f"{API}/trading-state", trading_state, methods=["POST"]),
    ]
    if (bundle / "index.html").is_file():
        routes.append(Mount(APP, app=StaticFiles(directory=bundle, html=True)))
    else:
        routes.append(Route(APP + "/{path:path}", lambda request: _not_built(bundle),
                            methods=["GET"]))
    return routes


def is_dashboard_path(path: str) -> bool:
    """Paths the dashboard guards itself (session cookie), not the read API's bearer token."""
    return path == "/" or path.startswith((API + "/", APP + "/")) or path == APP
