"""The account's event log over HTTP, mounted by the trading server (the account's owner,
whose volume holds the log): what the dashboard's live stream reads in a cluster, where the
frontend's own QUARTZ_HOME is scratch.

`GET /api/events?after=SEQ&limit=N` (Authorization: Bearer <QUARTZ_INTERNAL_TOKEN>) answers
`{"events": [...], "last_seq": n}`: the events after SEQ, oldest first (at most N, 1-500),
as `quartz events --json` prints them, and the newest sequence number.

`GET /api/events/jobs` (same token) answers `{"jobs": [...]}`: each job's last run and
last success (`app.events.job_summary`), for the dashboard's Health page and `quartz status`.

`POST /api/events` with `{"type", "run_id"?, "request_id"?, "data"?}` (same token) appends
one event a job pod reports (a job's start and end, a decision, an exit trigger, a token
issue or failure, stale data: `REPORTED`), so they reach the owner's log in a cluster,
where a job's own QUARTZ_HOME is scratch. Order events are refused here: the owner's ledger
is their only source. Answers `{"seq": n}`."""

from __future__ import annotations

import asyncio
import hmac
import threading
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quartz_cli.config import Config
from quartz_cli.domain.events import REPORTED
from quartz_cli.errors import QuartzError
from quartz_cli.redaction import redact

if TYPE_CHECKING:
    from quartz_cli.app.live_events import LiveEvents

PATH = "/api/events"
MAX_LIMIT = 500


def event_routes(config: Config, token: str) -> list[Route]:
    """The event-log route of the configured account, behind the bearer `token`."""
    expected = f"Bearer {token}".encode()
    opened: list[LiveEvents] = []
    opening = threading.Lock()

    def feed() -> LiveEvents:
        # One reader for the server's life, opened at the first request.
        from quartz_cli.app.live_events import open_live_events

        with opening:
            if not opened:
                opened.append(open_live_events(config, local=True))
            return opened[0]

    def read(after: int, limit: int) -> dict[str, object]:
        events = feed()
        return {"events": events.after(after, limit), "last_seq": events.last_seq()}

    def unauthorized(request: Request) -> Response | None:
        if hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
            return None
        return JSONResponse({"error": "Unauthorized",
                             "message": "missing or wrong bearer token"}, status_code=401)

    def append(body: dict[str, object]) -> int:
        from quartz_cli.app.events import event_log

        events = event_log(config)
        try:
            return events.append(str(body["type"]), run_id=_text(body.get("run_id")),
                                 request_id=_text(body.get("request_id")),
                                 data=body.get("data") or {})  # type: ignore[arg-type]
        finally:
            events.close()

    async def post_event(request: Request) -> Response:
        if (refused := unauthorized(request)) is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            body = None
        if (not isinstance(body, dict) or body.get("type") not in REPORTED
                or not isinstance(body.get("data", {}), dict)
                or not all(isinstance(body.get(k), str | None) for k in ("run_id", "request_id"))):
            allowed = sorted(t.value for t in REPORTED)
            return JSONResponse({"error": "InputError", "message": "body is {\"type\": one of "
                                 f"{allowed}, \"run_id\", \"request_id\", \"data\": {{}}}}"},
                                status_code=422)
        try:
            return JSONResponse({"seq": await asyncio.to_thread(append, body)})
        except QuartzError as exc:
            return JSONResponse({"error": type(exc).__name__, "message": redact(exc.message)},
                                status_code=503)

    def jobs() -> dict[str, object]:
        return {"jobs": feed().jobs()}

    async def get_jobs(request: Request) -> Response:
        if (refused := unauthorized(request)) is not None:
            return refused
        try:
            return JSONResponse(await asyncio.to_thread(jobs))
        except QuartzError as exc:
            return JSONResponse({"error": type(exc).__name__, "message": redact(exc.message)},
                                status_code=503)

    async def get_events(request: Request) -> Response:
        if (refused := unauthorized(request)) is not None:
            return refused
        try:
            after = int(request.query_params.get("after", "0"))
            limit = int(request.query_params.get("limit", "200"))
        except ValueError:
            after = limit = -1
        if after < 0 or not 1 <= limit <= MAX_LIMIT:
            return JSONResponse({"error": "InputError", "message": "after is a whole number "
                                 f">= 0 and limit 1 to {MAX_LIMIT}"}, status_code=400)
        try:
            return JSONResponse(await asyncio.to_thread(read, after, limit))
        except QuartzError as exc:
            return JSONResponse({"error": type(exc).__name__, "message": redact(exc.message)},
                                status_code=503)

    return [Route(PATH, get_events, methods=["GET"]),
            Route(PATH + "/jobs", get_jobs, methods=["GET"]),
            Route(PATH, post_event, methods=["POST"])]


def _text(value: object) -> str | None:
    return value[:200] if isinstance(value, str) else None
