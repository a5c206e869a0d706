"""The multi-ticker quote (intstock-multprice) against the simulator: on the real-account
protocol it gives exactly the quotes the single-ticker path gives (30 tickers a call, halted
and unknown tickers failed alike); on the paper protocol the market data falls back to
single quotes and the API itself is refused."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from functools import partial

import httpx

from kis_harness import LOCAL_APP_KEY, LOCAL_APP_SECRET
from quartz_cli.agents.auth import TokenManager
from quartz_cli.config import Env
from quartz_cli.domain.krx import KST
from quartz_cli.domain.universe import bundled_universe
from quartz_cli.errors import BrokerError
from quartz_cli.kis.client import KisClient
from quartz_cli.kis.endpoints import LOCAL_SIM_URL, KisEndpoint
from quartz_cli.kis.market import KisMarketData, as_quote, gather_quotes
from quartz_cli.kis.multi_quotes import MULTI_PRICE_TR_ID, multi_price
from quartz_cli.kis.quotations import PRICE_TR_ID, inquire_price
from quartz_cli.kis.ratelimit import RateLimiter
from quartz_cli.sim import SimConfig, Simulator

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=KST)


def _client(sim: Simulator, cache_dir, real: bool) -> KisClient:
    endpoint = KisEndpoint(Env.PROD if real else Env.LOCAL, LOCAL_SIM_URL, "", real, 1000.0,
                           in_process=True)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), timeout=10.0)
    limiter = RateLimiter(1000.0)
    raw = KisClient(endpoint, LOCAL_APP_KEY, LOCAL_APP_SECRET, None, http, limiter=limiter)
    tokens = TokenManager(env="prod" if real else "local", app_key=LOCAL_APP_KEY,
                          app_secret=LOCAL_APP_SECRET,
                          issuer=partial(issue, raw), cache_dir=cache_dir,
                          issue_interval=timedelta(0))
    return KisClient(endpoint, LOCAL_APP_KEY, LOCAL_APP_SECRET, tokens, http, limiter=limiter)


async def issue(raw: KisClient):
    from quartz_cli.kis.oauth import issue_token

    return await issue_token(raw, LOCAL_APP_KEY, LOCAL_APP_SECRET)


def _sim(calendar_cache, real: bool) -> Simulator:
    return Simulator(config=SimConfig(rate_limit_per_s=0, token_issue_interval_s=0,
                                      real_tr_ids=real, halts="005930:2026-11-24"),
                     clock=NOW.timestamp, cache_dir=calendar_cache)


def test_multi_and_single_quote_paths_give_equal_quotes(tmp_path, calendar_cache):
    codes = [*bundled_universe().codes()[:34], "999999"]
    assert "005930" in codes
    sim = _sim(calendar_cache, real=True)

    async def go():
        kis = _client(sim, tmp_path, real=True)

        async def single(code):
            p = await inquire_price(kis, code)
            if p.halted:
                raise BrokerError("halted")
            return as_quote(p)

        multi = await KisMarketData(kis).quotes(codes)
        calls = sim.state.counter(f"served:{MULTI_PRICE_TR_ID}")
        one_by_one = await gather_quotes(single, codes)
        return multi, one_by_one, calls

    (multi, multi_failed), (single, single_failed), calls = asyncio.run(go())
    assert calls == 2  # 35 tickers, 30 a call
    assert len(multi) == 33 and multi == single
    assert set(multi_failed) == set(single_failed) == {"005930", "999999"}
    q = multi["000660"]
    assert q.open and q.high and q.low and q.low <= q.price <= q.high


def test_paper_falls_back_to_single_quotes_and_the_api_is_refused(tmp_path, calendar_cache):
    sim = _sim(calendar_cache, real=False)
    codes = ["000660", "035420", "005380"]

    async def go():
        kis = _client(sim, tmp_path, real=False)
        return await KisMarketData(kis).quotes(codes), await multi_price(kis, codes[:1])

    (quotes, failed), (refused, why) = asyncio.run(go())
    assert set(quotes) == set(codes) and failed == {}
    assert refused == {} and "SIMQ0501" in why["000660"]
    assert sim.state.counter(f"served:{PRICE_TR_ID}") == 3
    assert sim.state.counter(f"served:{MULTI_PRICE_TR_ID}") == 1  # only the refused call
