"""The dashboard's live stream: server-sent events fed by the account's event log.

`GET /api/ui/stream` (a logged-in session) answers `text/event-stream`:

- each event of the log after the client's position, oldest first, as a message whose `id`
  is the event's sequence number and whose data is the event's JSON (`quartz events --json`);
- first, `event: hello` with the start position as its id and `{"last_seq"}`;
- `event: document` (no id) when an agent's latest document changes: `{"prefix",
  "produced_at"}`;
- `event: session` when the session has ended (logged out or expired); then it closes.

The position is the `Last-Event-ID` header (what a browser's EventSource sends by itself
when it reconnects), else `?after=SEQ`, else the newest event (only new ones). A stream lasts
QUARTZ_DASHBOARD_STREAM_SECONDS, then closes and the page reconnects and resumes from its last
id: no event is lost or repeated across reconnects, and an ended session stops streaming."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from quartz_cli.config import Config
from quartz_cli.errors import QuartzError
from quartz_cli.ports import Store
from quartz_cli.redaction import redact

if TYPE_CHECKING:
    from quartz_cli.app.live_events import LiveEvents

#: Seconds between reads of the event log while nothing is new.
POLL_S = 0.5
#: Seconds between looks at the agents' latest documents (shared by every stream).
DOCUMENTS_S = 5.0
#: Seconds between checks that the session still holds.
SESSION_S = 5.0
#: A comment line this often keeps proxies from closing an idle stream.
HEARTBEAT_S = 15.0
#: How long a browser waits before reconnecting (EventSource `retry`, milliseconds).
RETRY_MS = 1000
#: Seconds to wait before reading again when the event log could not be read.
UNREACHABLE_S = 5.0
#: Events read from the log at once.
BATCH = 200


def _message(data: Any, *, event: str | None = None, seq: int | None = None) -> str:
    lines = [f"event: {event}"] if event else []
    if seq is not None:
        lines.append(f"id: {seq}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def start_position(request: Request) -> int | None:
    """Where the client stands: Last-Event-ID, else ?after=, else None (the newest event).
    Raises ValueError for anything but a whole number >= 0."""
    raw = request.headers.get("last-event-id") or request.query_params.get("after")
    if raw is None or raw == "":
        return None
    seq = int(raw)
    if seq < 0:
        raise ValueError(raw)
    return seq


class DocumentHeads:
    """The agents' latest documents' times, read at most every DOCUMENTS_S for all streams."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self._read_at = 0.0
        self._heads: dict[str, str | None] = {}
        self._lock = asyncio.Lock()

    async def current(self) -> dict[str, str | None]:
        from quartz_cli.app.live_events import document_heads

        async with self._lock:
            if time.monotonic() - self._read_at >= DOCUMENTS_S or not self._read_at:
                self._heads = await asyncio.to_thread(document_heads, self.config, self.store)
                self._read_at = time.monotonic()
            return dict(self._heads)


def stream_response(config: Config, feed: LiveEvents, heads: DocumentHeads,
                    start: int | None, still_logged_in: Callable[[], Awaitable[bool]]) -> Response:
    """The event stream for one client from `start` (see the module's docstring); it closes
    `feed` when it ends."""
    lifetime = config.settings.dashboard.stream_seconds

    async def events() -> AsyncIterator[str]:
        try:
            try:
                last = start if start is not None else await asyncio.to_thread(feed.last_seq)
            except QuartzError as exc:
                # No position to start from: the page reconnects and asks again.
                yield ": " + " ".join(redact(exc.message).split()) + "\n\n"
                return
            # The start as an id of its own: a reconnect resumes from here even when no
            # event came before it.
            yield f"retry: {RETRY_MS}\n" + _message({"last_seq": last}, event="hello", seq=last)
            known = await heads.current()
            began = checked = beat = docs = time.monotonic()
            while time.monotonic() - began < lifetime:
                try:
                    batch = await asyncio.to_thread(feed.after, last, BATCH)
                except QuartzError as exc:
                    # The owner's log out of reach (a cluster's trading agent restarting):
                    # say so and keep trying; the position is kept.
                    yield ": " + " ".join(redact(exc.message).split()) + "\n\n"
                    await asyncio.sleep(UNREACHABLE_S)
                    continue
                for event in batch:
                    last = int(event["seq"])
                    yield _message(event, seq=last)
                if len(batch) == BATCH:
                    continue
                now = time.monotonic()
                if now - checked >= SESSION_S:
                    checked = now
                    if not await still_logged_in():
                        yield _message({"role": None}, event="session")
                        return
                if now - docs >= DOCUMENTS_S:
                    docs = now
                    for prefix, produced in (await heads.current()).items():
                        if produced != known.get(prefix):
                            known[prefix] = produced
                            yield _message({"prefix": prefix, "produced_at": produced},
                                           event="document")
                if now - beat >= HEARTBEAT_S:
                    beat = now
                    yield ": keep-alive\n\n"
                await asyncio.sleep(POLL_S)
        finally:
            await asyncio.to_thread(feed.close)

    return StreamingResponse(events(), media_type="text/event-stream", headers={
        "cache-control": "no-cache", "x-accel-buffering": "no"})
