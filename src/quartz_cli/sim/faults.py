"""Fault injection for the trading endpoints: latency, 5xx answers, rate-limit bursts, and
"accept then drop the response" (the exchange books the order, the caller's connection fails).

A dropped response is a response that starts and then aborts: served by uvicorn the client's
connection breaks mid-answer; in-process, `SimTransport` turns it into an httpx read timeout.
Either way the caller cannot tell whether the order was booked."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

import httpx
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from quartz_cli.sim.protocol import fail

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator


class ResponseDropped(Exception):
    """Raised inside the app after the response started: the answer never arrives."""


class DroppedResponse(Response):
    """Starts a 200 answer, then aborts it."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        raise ResponseDropped("the simulator dropped this response on purpose")


class Faults:
    """The fault dice of one simulator (seeded by `SimConfig.fault_seed` when non-zero)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        seed = int(sim.config.fault_seed)
        self._rng = random.Random(seed or None)
        self._lock = threading.Lock()
        self._burst_until = 0.0

    def _roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    async def before(self) -> Response | None:
        """Faults that strike before the exchange sees the call; None lets it through."""
        cfg = self.sim.config
        if cfg.latency_ms > 0:
            with self._lock:
                delay = self._rng.uniform(0, cfg.latency_ms) / 1000
            await asyncio.sleep(delay)
        now = time.monotonic()
        in_burst = now < self._burst_until
        if not in_burst and self._roll(cfg.rate_limit_burst_rate):
            self._burst_until = now + cfg.rate_limit_burst_s
            in_burst = True
        if in_burst:
            self.sim.state.bump("fault_rate_limited")
            return fail("EGW00201", "초당 거래건수를 초과하였습니다.", status=500)
        if self._roll(cfg.error_5xx_rate):
            self.sim.state.bump("fault_5xx")
            return PlainTextResponse("Service Temporarily Unavailable", status_code=503)
        return None

    def after(self, response: Response) -> Response:
        """The answer, or a dropped one (the work behind it is already done)."""
        if self._roll(self.sim.config.drop_response_rate):
            self.sim.state.bump("fault_dropped")
            return DroppedResponse()
        return response


_FAULTS: weakref.WeakKeyDictionary[Any, Faults] = weakref.WeakKeyDictionary()


def faults_for(sim: Simulator) -> Faults:
    """The one Faults object of `sim`."""
    found = _FAULTS.get(sim)
    if found is None:
        found = _FAULTS[sim] = Faults(sim)
    return found


class SimTransport(httpx.AsyncBaseTransport):
    """httpx's ASGI transport for the in-process simulator, where a dropped response
    surfaces as what a network client would see: a read timeout."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ResponseDropped:
            raise httpx.ReadTimeout("response dropped (simulated)", request=request) from None

    async def aclose(self) -> None:
        await self._inner.aclose()
