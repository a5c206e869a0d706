"""The read API behind `quartz serve`: the agents' latest documents from the store, as JSON,
for a frontend or other tools. Read-only (the one POST is a query), JSON only, and guarded
by a bearer token when QUARTZ_INTERNAL_TOKEN is set (the health probes stay open for the
kubelet).

| route | answers with |
|---|---|
| GET  /result/analysis         | the macro summary (`macro-analysis/latest.json` → document) |
| GET  /result/analysis/full    | the full macro report (`macro-analysis/latest-full.json`) |
| POST /result/analysis         | {"ticker": "005930"} → its entry of `technical/runs/latest.json` |
| GET  /api/candidates          | the latest candidates (`candidates/latest.json`) |
| GET  /result/auth-token/status| the KIS token's state (never the token) |
| GET  /health/live, /health/ready | liveness; readiness = the store or this host's copy |

Documents are returned as stored; `X-Quartz-Document-Key` names the dated copy and
`X-Quartz-Age-Seconds` says how old it is, so a client can judge staleness itself;
`X-Quartz-Stale` marks a document answered by this host's copy while S3 is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from quartz_cli.agents.documents import Loaded, read_latest
from quartz_cli.agents.technical_snapshot import POINTER_KEY, read_analyses
from quartz_cli.app.internal_token import check_internal_token
from quartz_cli.config import Config
from quartz_cli.domain.documents import Document
from quartz_cli.domain.krx import normalize_ticker
from quartz_cli.errors import (
    BrokerError,
    ConfigError,
    InputError,
    QuartzError,
    StoreError,
)
from quartz_cli.ports import CopyAwareStore, Store
from quartz_cli.redaction import redact
from quartz_cli.servers.dashboard import dashboard_routes, is_dashboard_path
from quartz_cli.servers.guards import BodyTooLarge, read_json
from quartz_cli.servers.metrics import PATH as METRICS_PATH
from quartz_cli.servers.metrics import metrics_route

if TYPE_CHECKING:
    from quartz_cli.app.runtime import Runtime

MACRO_PREFIX = "macro-analysis"
MACRO_FULL_NAME = "latest-full"
CANDIDATES_PREFIX = "candidates"
# A query body names one ticker; anything larger is refused.
MAX_QUERY_BYTES = 4096

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
_OPEN_PATHS = (LIVE_PATH, READY_PATH, METRICS_PATH)

log = logging.getLogger(__name__)

# HTTP status for each kind of Quartz error (anything else is a 500).
_STATUS: dict[type[QuartzError], int] = {
    InputError: 400,
    ConfigError: 503,
    StoreError: 503,
    BrokerError: 502,
}


class StoredDocument(Document):
    """Any agent's document: the shared envelope, every other field kept as stored."""

    model_config = ConfigDict(extra="allow")


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": redact(message)}, status_code=status)


def _quartz_error(exc: QuartzError) -> JSONResponse:
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 500)
    return _error(status, type(exc).__name__, exc.message)


def _document(store: Store, prefix: str, latest_name: str = "latest") -> JSONResponse:
    """The current document under `prefix`, or a JSON 404 when none was published yet."""
    try:
        loaded = read_latest(store, prefix, StoredDocument, latest_name=latest_name)
    except QuartzError as exc:
        return _quartz_error(exc)
    if loaded is None:
        return _error(404, "NotFound", f"no document at {prefix}/{latest_name}.json yet")
    return JSONResponse(loaded.document.model_dump(mode="json"), headers=_headers(loaded))


def technical_response(store: Store, code: str) -> JSONResponse:
    """The stored analysis of `code` (its entry in the latest technical snapshot), or a JSON
    404 when it has none."""
    try:
        loaded = read_analyses(store, [code]).get(code)
    except QuartzError as exc:
        return _quartz_error(exc)
    if loaded is None:
        return _error(404, "NotFound", f"no stored analysis of {code} in {POINTER_KEY} yet")
    return JSONResponse(loaded.document.model_dump(mode="json"), headers=_headers(loaded))


def _headers(loaded: Loaded[Any]) -> dict[str, str]:
    headers = {"X-Quartz-Document-Key": loaded.key,
               "X-Quartz-Age-Seconds": str(max(0, int(loaded.age.total_seconds())))}
    if loaded.from_copy:
        # The shared store did not answer: this is the host's last copy (stale but available).
        headers["X-Quartz-Stale"] = "copy: the shared store is unreachable"
    return headers


#: One stored document as the HTTP answer (the dashboard's routes share it).
document_response = _document


class BearerAuth:
    """ASGI middleware: every HTTP request except the health probes must carry
    `Authorization: Bearer <token>`; compared in constant time."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The dashboard guards its own paths with a session cookie (servers/dashboard.py).
        if (scope["type"] == "http" and scope["path"] not in _OPEN_PATHS
                and not is_dashboard_path(scope["path"])):
            scheme, _, given = dict(scope["headers"]).get(b"authorization", b"").partition(b" ")
            # The scheme name is case-insensitive (RFC 9110); the token is not.
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(),
                                                                        self._expected):
                response = _error(401, "Unauthorized", "a valid bearer token is required")
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class TokenStatus:
    """The auth agent's TokenManager.status(), wired exactly as `quartz auth status` wires it
    (disk cache on QUARTZ_HOME, then the shared store). Never issues, never shows the token.

    The broker runtime behind it is opened once per process (at startup, or by the first
    request when the server runs without a lifespan) and closed at shutdown; a configuration
    error is kept and answered on every request, so the rest of the API still serves."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.runtime: Runtime | None = None
        self._error: QuartzError | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        from quartz_cli.app.runtime import open_runtime

        async with self._lock:
            if self.runtime is not None or self._error is not None:
                return
            try:
                self.runtime = await asyncio.to_thread(open_runtime, self.config)
            except QuartzError as exc:
                self._error = exc

    async def stop(self) -> None:
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            await runtime.aclose()

    async def __call__(self) -> dict[str, Any]:
        await self.start()
        if self._error is not None:
            raise self._error
        assert self.runtime is not None
        return (await asyncio.to_thread(self.runtime.tokens.status)).to_dict()


def create_app(config: Config, store: Store | None = None) -> Starlette:
    """The read API over `store` (default: the configured store of `config.env`). Its
    dependencies are built once per process, by the composition root."""
    from quartz_cli.app.metrics import refresh_gauges
    from quartz_cli.app.runtime import open_store

    documents = store if store is not None else open_store(config)
    token_status = TokenStatus(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await token_status.start()
        try:
            yield
        finally:
            await token_status.stop()

    def macro(request: Request) -> Response:
        return _document(documents, MACRO_PREFIX)

    def macro_full(request: Request) -> Response:
        return _document(documents, MACRO_PREFIX, MACRO_FULL_NAME)

    def candidates(request: Request) -> Response:
        return _document(documents, CANDIDATES_PREFIX)

    async def technical(request: Request) -> Response:
        try:
            body = await read_json(request, MAX_QUERY_BYTES)
        except BodyTooLarge:
            return _error(413, "InputError", f"the body is over {MAX_QUERY_BYTES} bytes")
        except InputError:
            return _error(400, "InputError", 'the body must be JSON: {"ticker": "005930"}')
        ticker = body.get("ticker") if isinstance(body, dict) else None
        if not isinstance(ticker, str):
            return _error(400, "InputError", 'the body must name a ticker: {"ticker": "005930"}')
        try:
            code = normalize_ticker(ticker)
        except InputError as exc:
            return _quartz_error(exc)
        return await asyncio.to_thread(technical_response, documents, code)

    async def auth_status(request: Request) -> Response:
        try:
            return JSONResponse(await token_status())
        except QuartzError as exc:
            return _quartz_error(exc)

    def live(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def ready(request: Request) -> Response:
        try:
            documents.ping()
        except StoreError as exc:
            if isinstance(documents, CopyAwareStore):
                # The seed's degraded mode: stale but available, and saying so.
                return JSONResponse({
                    "status": "ready", "env": config.env.value, "degraded": True,
                    "store": redact(exc.message),
                    "serving": "this host's last copy of each document",
                    "stale": documents.stale_keys})
            return JSONResponse({"status": "not ready", "reason": redact(exc.message)},
                                status_code=503)
        return JSONResponse({"status": "ready", "env": config.env.value})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, "HTTPError", exc.detail)

    async def crash(request: Request, exc: Exception) -> Response:
        # A bug: logged (masked) for the operator, answered without details.
        log.error("read API: %s on %s %s: %s", type(exc).__name__, request.method,
                  request.url.path, redact(str(exc)))
        return _error(500, "InternalError", "internal error")

    app = Starlette(
        routes=[
            Route("/result/analysis", macro, methods=["GET"]),
            Route("/result/analysis", technical, methods=["POST"]),
            Route("/result/analysis/full", macro_full, methods=["GET"]),
            Route("/api/candidates", candidates, methods=["GET"]),
            Route("/result/auth-token/status", auth_status, methods=["GET"]),
            Route(LIVE_PATH, live, methods=["GET"]),
            Route(READY_PATH, ready, methods=["GET"]),
            metrics_route("read-api", lambda: refresh_gauges(config, store=documents)),
            *dashboard_routes(config, documents),
        ],
        exception_handlers={HTTPException: http_error, Exception: crash},
        lifespan=lifespan,
    )
    app.state.token_status = token_status
    origins = [o.strip() for o in config.settings.dashboard.cors_origins.split(",") if o.strip()]
    if origins:
        # Only origins named by the operator; none by default (same-origin pages only).
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=True,
                           allow_methods=["GET", "POST"],
                           allow_headers=["content-type", "x-csrf-token", "authorization"])
    token = config.settings.servers.internal_token
    if token is not None:
        # Set means required: an empty or short token is a configuration error, not "open".
        app.add_middleware(BearerAuth, token=check_internal_token(token.get_secret_value(),
                                                                  server="read API"))
    return app
