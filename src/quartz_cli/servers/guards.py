"""Bounds every Quartz server puts on what a client may send, and the internal token's rules.

- A request body (HTTP) or a text frame (WebSocket) is at most 64 KiB; a larger body gets a
  JSON 413, a larger frame an error frame (beyond 1 MiB the WebSocket layer closes the socket
  with 1009 before the app sees the frame).
- JSON nested too deeply for the parser gets a JSON 4xx or an error frame, never a crash.
- A client has `HEADER_TIMEOUT_S` from its first byte (or from connecting) to finish a
  request's headers, so slow half-sent requests cannot hold connections open.
- The internal bearer token (QUARTZ_INTERNAL_TOKEN) has at least `MIN_TOKEN_CHARS`
  characters; an empty or short one is a configuration error, never "no auth".
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol

from quartz_cli.errors import InputError

MAX_BODY_BYTES = 64 * 1024
MAX_FRAME_BYTES = 64 * 1024
WS_MAX_SIZE = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
HEADER_TIMEOUT_S = 10.0


class BodyTooLarge(InputError):
    """A request body over `MAX_BODY_BYTES` (answered 413)."""

    def to_dict(self) -> dict[str, object]:
        # On the wire it is an InputError: the name clients already know.
        return {**super().to_dict(), "error": "InputError"}


def parse_json(text: str | bytes) -> Any:
    """JSON → Python; InputError for malformed or too deeply nested JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError("JSON nested too deeply") from None
    except ValueError:
        raise InputError("not JSON") from None


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """The request body as JSON: BodyTooLarge past `limit` bytes (read no further),
    InputError when it is not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {int(declared)} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body over the {limit}-byte limit")
        chunks.append(chunk)
    return parse_json(b"".join(chunks))


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers: counted from the
    connection (or, on a kept-alive connection, from the next request's first byte); the
    connection is closed when the headers are not complete by then."""

    header_timeout_s = HEADER_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s,
                                                      self._header_timeout)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._arm_header_timer()
        else:
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def uvicorn_options() -> dict[str, Any]:
    """The uvicorn settings that enforce these bounds (for `uvicorn.run` / `uvicorn.Config`).
    `log_config=None` keeps uvicorn's records on Quartz's one handler (masked, JSON or text)
    instead of uvicorn's own, which would print them unmasked."""
    return {"http": HeaderTimeoutH11Protocol, "ws_max_size": WS_MAX_SIZE,
            "h11_max_incomplete_event_size": MAX_HEADER_BYTES, "log_config": None}
