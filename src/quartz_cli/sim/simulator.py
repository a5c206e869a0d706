"""The simulator: state + behaviour + the ASGI app that exposes it over the KIS protocol."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from quartz_cli.domain.universe import Universe
from quartz_cli.sim.config import SimConfig
from quartz_cli.sim.header_case import KisHeaderCase
from quartz_cli.sim.state import SimState
from quartz_cli.sim.throttle import SlidingWindow
from quartz_cli.sim.tokens import TokenAuthority

if TYPE_CHECKING:
    from quartz_cli.sim.market import SampleMarket

# The sample market's seed (its listings' master files derive from it too).
MARKET_SEED = 20_220_103
# Modules that add endpoints: each has `routes(sim) -> list[Route]`.
ROUTE_MODULES: tuple[str, ...] = (
    "quartz_cli.sim.auth_routes",
    "quartz_cli.sim.order_routes",
    "quartz_cli.sim.account_routes",
    "quartz_cli.sim.quote_routes",
    "quartz_cli.sim.index_routes",
    "quartz_cli.sim.info_routes",
    "quartz_cli.sim.multi_quote_routes",
    "quartz_cli.sim.master_routes",
    "quartz_cli.sim.realtime",
    "quartz_cli.sim.holiday_routes",
)


class Simulator:
    """A KIS-compatible broker. Its `app` is served in-process (httpx ASGI transport) or on
    loopback (`quartz sim serve`); `state` counts everything it served, for tests."""

    def __init__(self, state: SimState | None = None, config: SimConfig | None = None,
                 clock: Callable[[], float] = time.time, cache_dir: Path | None = None,
                 universe: Callable[[], Universe] | None = None) -> None:
        self.state = state or SimState()
        # The listings the market serves (default: the bundled ones), read on first use.
        self._universe = universe
        self.config = config or SimConfig()
        self.clock = clock
        self.cache_dir = cache_dir
        self._market: SampleMarket | None = None
        self.market_seed = MARKET_SEED
        self.limiter = SlidingWindow(self.config.rest_limit_per_s())
        self.tokens = TokenAuthority(self.state, self.config, clock)
        self._app: Starlette | None = None

    def now(self) -> datetime:
        """The simulator's clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), UTC)

    @property
    def market(self) -> SampleMarket:
        """The synthetic sample market (built on first use: it loads the KRX calendar)."""
        if self._market is None:
            from quartz_cli.calendars import krx_calendar
            from quartz_cli.domain.universe import bundled_universe
            from quartz_cli.sim.market import SampleMarket
            from quartz_cli.sim.master_files import master_universe

            # Every listing of the simulator's master files, and any other the caller's
            # universe names (a universe written from other master files).
            listings = self._universe() if self._universe else bundled_universe()
            master = master_universe(self.master_listings(), self.market_seed)
            extra = [x for x in listings.listings if x.code not in master]
            universe = Universe([*master.listings, *extra]) if extra else master
            self._market = SampleMarket(universe, krx_calendar(self.cache_dir),
                                        seed=self.market_seed)
        return self._market

    def master_listings(self) -> int:
        """How many tradable common stocks the master files list (`SimConfig.listings`)."""
        return int(self.config.listings)

    def tr_ids(self, *real_tr_ids: str) -> set[str]:
        """The TR_IDs this domain accepts for an API given its real-account TR_IDs."""
        if self.config.real_tr_ids:
            return set(real_tr_ids)
        return {"V" + t[1:] if t[:1] in ("T", "J", "C") else t for t in real_tr_ids}

    @property
    def app(self) -> Starlette:
        if self._app is None:
            routes: list[BaseRoute] = [Route("/sim/status", self._status, methods=["GET"])]
            for module in ROUTE_MODULES:
                routes.extend(importlib.import_module(module).routes(self))
            self._app = Starlette(routes=routes, middleware=[Middleware(KisHeaderCase)])
        return self._app

    async def _status(self, request: Request) -> Response:
        return JSONResponse({"counters": self.state.counters(),
                             "rate_limit_per_s": self.config.rest_limit_per_s()})
