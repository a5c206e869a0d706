"""`GET /metrics`: the process's Prometheus metrics (`quartz_cli.metrics`), on every
long-running server. Open like the probes: the metrics carry no secret, no order number and
no prompt, and Prometheus scrapes without the bearer token."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quartz_cli.metrics import exposition, metrics

PATH = "/metrics"

log = logging.getLogger(__name__)


def metrics_route(server: str, refresh: Callable[[], None] | None = None) -> Route:
    """The `/metrics` route of `server` (its `quartz_up` label). `refresh` sets the
    scrape-time gauges (off the event loop: it reads SQLite and the store)."""
    metrics().up.labels(server).set(1)

    async def scrape(request: Request) -> Response:
        if refresh is not None:
            await asyncio.to_thread(refresh)
        body, content_type = exposition()
        return Response(body, headers={"content-type": content_type})

    return Route(PATH, scrape, methods=["GET"])
