"""A KIS client wired to a simulator extended with test routes that use the real gateway."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from quartz_cli.agents.auth import TokenManager
from quartz_cli.config import LOCAL_APP_KEY, LOCAL_APP_SECRET, Env
from quartz_cli.kis.client import KisClient
from quartz_cli.kis.endpoints import LOCAL_SIM_URL, KisEndpoint
from quartz_cli.kis.oauth import issue_token
from quartz_cli.kis.ratelimit import RateLimiter
from quartz_cli.sim import SimConfig, Simulator
from quartz_cli.sim.protocol import check_gateway, envelope, fail, param

PAGES = 3


def test_routes(sim: Simulator) -> list[Route]:
    async def echo(request: Request):
        gate = check_gateway(sim, request, sim.tr_ids("TTTC9999R"))
        if gate.error:
            return gate.error
        return envelope("KIOK0510", "조회가 완료되었습니다", tr_id=gate.tr_id,
                        output={"custtype": request.headers.get("custtype", ""),
                                "tr_id": gate.tr_id})

    async def reject(request: Request):
        gate = check_gateway(sim, request, sim.tr_ids("TTTC9999R"))
        return gate.error or fail("APBK0656", "해당 종목이 없습니다.", tr_id=gate.tr_id)

    async def throttled(request: Request):
        sim.state.bump("rate_limited")
        return fail("EGW00201", "초당 거래건수를 초과하였습니다.", status=500)

    async def broken(request: Request):
        return PlainTextResponse("<html>bad gateway</html>", status_code=502)

    async def pages(request: Request):
        gate = check_gateway(sim, request, sim.tr_ids("TTTC9999R"))
        if gate.error:
            return gate.error
        nk = param(request, "CTX_AREA_NK100")
        page = int(nk.strip() or 0)
        more = page + 1 < PAGES
        return envelope("KIOK0510", "ok", tr_id=gate.tr_id, tr_cont="M" if more else "D",
                        ctx_area_fk100="K".ljust(100), ctx_area_nk100=str(page + 1).ljust(100),
                        output1=[{"page": str(page), "tr_cont_in": request.headers["tr_cont"]}])

    return [Route("/uapi/test/echo", echo), Route("/uapi/test/reject", reject),
            Route("/uapi/test/broken", broken), Route("/uapi/test/throttled", throttled),
            Route("/uapi/test/pages", pages)]


def make_sim(**config) -> Simulator:
    base = {"token_issue_interval_s": 0.0, **config}
    sim = Simulator(config=SimConfig(**base))
    sim.app.router.routes.extend(test_routes(sim))
    return sim


def make_client(sim: Simulator, cache_dir: Path, *, rate: float = 100.0,
                base_url: str | None = None) -> KisClient:
    endpoint = KisEndpoint(Env.LOCAL, base_url or LOCAL_SIM_URL, "", False, rate,
                           in_process=base_url is None)
    transport = None if base_url else httpx.ASGITransport(app=sim.app)
    http = httpx.AsyncClient(transport=transport, timeout=5.0)
    limiter = RateLimiter(rate)
    raw = KisClient(endpoint, LOCAL_APP_KEY, LOCAL_APP_SECRET, None, http, limiter=limiter)
    tokens = TokenManager(env="local", app_key=LOCAL_APP_KEY, app_secret=LOCAL_APP_SECRET,
                          issuer=partial(issue_token, raw, LOCAL_APP_KEY, LOCAL_APP_SECRET),
                          cache_dir=cache_dir, issue_interval=timedelta(0))
    return KisClient(endpoint, LOCAL_APP_KEY, LOCAL_APP_SECRET, tokens, http, limiter=limiter)
