"""A broker that books orders late: a loopback proxy in front of a KIS-compatible server (the
simulator served with `LoopbackServer`).

Every call is forwarded at once, except cash orders (`POST .../trading/order-cash`): each is
held for its delay (seconds, scripted by `delays`: by arrival, or from the order's body) and
THEN forwarded,
whether or not the caller is still waiting, the way a real broker books an order the client
gave up on. The answer goes back only to a caller that is still connected. A delay of None
never forwards the order (the broker lost it: it is never booked).

    with LoopbackServer(sim.app) as sim_srv, LoopbackServer(late.app) as proxy: ...

`drain()` waits (from the test's thread) until every held order has been forwarded; the
counters say how many orders were forwarded late, answered, answered to nobody, or lost."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ORDER_CASH = "/uapi/domestic-stock/v1/trading/order-cash"
# Headers that belong to one hop, not to the forwarded request or answer.
_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}

Delay = float | None


@dataclass
class LateBroker:
    """The proxy. `delays(n, body)` is the delay of the n-th order (0-based) whose JSON body
    is `body` (e.g. by its `PDNO`); or give a sequence (by arrival, cycled) or one number."""

    upstream: str
    delays: Callable[[int, dict[str, Any]], Delay] | Sequence[Delay] | float = 0.0
    orders_seen: int = 0
    forwarded: int = 0
    forwarded_late: int = 0
    answered: int = 0
    answered_to_nobody: int = 0
    lost: int = 0
    _pending: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: httpx.AsyncClient | None = None
    _tasks: set[asyncio.Task[httpx.Response]] = field(default_factory=set)

    def delay_for(self, n: int, body: dict[str, Any]) -> Delay:
        if callable(self.delays):
            return self.delays(n, body)
        if isinstance(self.delays, (int, float)):
            return float(self.delays)
        return self.delays[n % len(self.delays)]

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle,
                                       methods=["GET", "POST", "PUT", "DELETE"])])

    def _http(self) -> httpx.AsyncClient:
        # Built inside the server's own event loop, on first use.
        if self._client is None:
            # A caller waits for a pooled connection rather than failing (PoolTimeout is a
            # fault of this proxy, not of any broker). The pool stays small: httpcore scans
            # every connection on each request, and hundreds of them cost more than waiting.
            self._client = httpx.AsyncClient(
                base_url=self.upstream, timeout=httpx.Timeout(30.0, pool=None),
                limits=httpx.Limits(max_connections=48, max_keepalive_connections=48))
        return self._client

    async def _forward(self, method: str, path: str, query: bytes, headers: dict[str, str],
                       body: bytes) -> httpx.Response:
        url = path + (f"?{query.decode()}" if query else "")
        return await self._http().request(method, url, headers=headers, content=body)

    async def _forward_later(self, delay: float, method: str, path: str, query: bytes,
                             headers: dict[str, str], body: bytes) -> httpx.Response:
        try:
            await asyncio.sleep(delay)
            resp = await self._forward(method, path, query, headers, body)
            with self._lock:
                self.forwarded += 1
                self.forwarded_late += delay > 0
            return resp
        finally:
            with self._lock:
                self._pending -= 1

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = await request.body()
        query = request.url.query.encode()
        if request.method == "POST" and path == ORDER_CASH:
            with self._lock:
                n = self.orders_seen
                self.orders_seen += 1
            delay = self.delay_for(n, json.loads(body or b"{}"))
            if delay is None:
                with self._lock:
                    self.lost += 1
                # The caller waits for an answer that never comes, until it gives up (the
                # body is read: the next message is the disconnect).
                while (await request.receive())["type"] != "http.disconnect":
                    pass
                return Response(status_code=504)
            with self._lock:
                self._pending += 1
            # A task of its own: it books even if this handler is cancelled (caller gone).
            task = asyncio.ensure_future(self._forward_later(delay, request.method, path,
                                                             query, headers, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            upstream = await asyncio.shield(task)
            if await request.is_disconnected():
                with self._lock:
                    self.answered_to_nobody += 1
            else:
                with self._lock:
                    self.answered += 1
        else:
            upstream = await self._forward(request.method, path, query, headers, body)
        out_headers = {k: v for k, v in upstream.headers.items()
                       if k.lower() not in _HOP and k.lower() != "content-encoding"}
        return Response(upstream.content, status_code=upstream.status_code,
                        headers=out_headers)

    def drain(self, timeout_s: float = 60.0) -> None:
        """Wait (blocking, from the test's thread) until every held order was forwarded."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if self._pending == 0:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._pending} held orders still not forwarded")
            time.sleep(0.05)
