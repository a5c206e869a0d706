"""The account's event log over HTTP, mounted by the trading server (the account's owner,
whose volume holds the log): what the dashboard's live stream reads in a cluster, where the
frontend's own QUARTZ_HOME is scratch.

`GET /api/events?after=SEQ&limit=N` (Authorization: Bearer <QUARTZ_INTERNAL_TOKEN>) answers
`{"events": [...], "last_seq": n}`: the events after SEQ, oldest first (at most N, 1-500),
as `quartz events --json` prints them, and the newest sequence number."""

from __future__ import annotations

import asyncio
import hmac
import threading
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quartz_cli.config import Config
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

    async def get_events(request: Request) -> Response:
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(),
                                   expected):
            return JSONResponse({"error": "Unauthorized",
                                 "message": "missing or wrong bearer token"}, status_code=401)
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

    return [Route(PATH, get_events, methods=["GET"])]
