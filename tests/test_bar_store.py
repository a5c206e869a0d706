"""The bar store against the simulator (chart calls counted and recorded at the simulator's
door): an update asks only from the last stored session, an adjustment on the simulator's
side makes it fetch the history again, two concurrent updaters leave a consistent file, an
interrupted pull resumes, today's partial bar comes from the quote, and the same works on
moto's S3 server."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from functools import partial

import httpx
import pytest

from kis_harness import LOCAL_APP_KEY, LOCAL_APP_SECRET
from quartz_cli.agents.auth import TokenManager
from quartz_cli.calendars import krx_calendar
from quartz_cli.config import Env
from quartz_cli.domain.bars import Period, resample
from quartz_cli.domain.krx import KST
from quartz_cli.domain.universe import bundled_universe
from quartz_cli.kis.client import KisClient
from quartz_cli.kis.endpoints import LOCAL_SIM_URL, KisEndpoint
from quartz_cli.kis.market import KisMarketData
from quartz_cli.kis.oauth import issue_token
from quartz_cli.kis.quotations import CHART_PATH, CHART_TR_ID, PRICE_TR_ID, daily_chart
from quartz_cli.kis.ratelimit import RateLimiter
from quartz_cli.sim import SimConfig, Simulator
from quartz_cli.store.bar_files import bar_key, decode
from quartz_cli.store.bars import QUOTE_CHUNK, BarStore, Update
from quartz_cli.store.local import LocalStore

T1 = datetime(2026, 11, 13, 16, 0, tzinfo=KST)     # Friday, after the close
T2 = datetime(2026, 11, 20, 16, 0, tzinfo=KST)     # five sessions later
IN_SESSION = datetime(2026, 11, 23, 10, 30, tzinfo=KST)
CODES = ["005930", "000660", "035420"]


class Market:
    """A simulator with a settable clock, a KIS client on it (in-process ASGI) and a record
    of every chart request's query."""

    def __init__(self, cache_dir, now: datetime, **config):
        self.now = now
        self.sim = Simulator(config=SimConfig(rate_limit_per_s=0, token_issue_interval_s=0,
                                              token_ttl_s=1e9, **config),
                             clock=lambda: self.now.timestamp(), cache_dir=cache_dir)
        self.chart_queries: list[dict[str, str]] = []
        sim_app = self.sim.app

        async def recording(scope, receive, send):
            if scope["type"] == "http" and scope["path"] == CHART_PATH:
                self.chart_queries.append(dict(httpx.QueryParams(scope["query_string"].decode())))
            await sim_app(scope, receive, send)

        endpoint = KisEndpoint(Env.LOCAL, LOCAL_SIM_URL, "", False, 1000.0, in_process=True)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=recording), timeout=10.0)
        limiter = RateLimiter(1000.0)
        raw = KisClient(endpoint, LOCAL_APP_KEY, LOCAL_APP_SECRET, None, http, limiter=limiter)
        tokens = TokenManager(env="local", app_key=LOCAL_APP_KEY, app_secret=LOCAL_APP_SECRET,
                              issuer=partial(issue_token, raw, LOCAL_APP_KEY, LOCAL_APP_SECRET),
                              cache_dir=cache_dir / "tokens", issue_interval=timedelta(0))
        self.kis = KisClient(endpoint, LOCAL_APP_KEY, LOCAL_APP_SECRET, tokens, http,
                             limiter=limiter)

    def served(self, tr_id: str) -> int:
        return self.sim.state.counter(f"served:{tr_id}")

    def bar_store(self, store, calendar) -> BarStore:
        return BarStore(store, KisMarketData(self.kis), clock=lambda: self.now,
                        calendar=calendar)

    async def chart(self, code: str, start: date, end: date):
        return (await daily_chart(self.kis, code, start, end)).bars


@pytest.fixture
def calendar(calendar_cache):
    built = krx_calendar(calendar_cache)
    return lambda: built


def test_an_update_asks_only_for_the_sessions_after_the_last_stored_bar(tmp_path, calendar):
    async def go():
        m = Market(tmp_path, T1)
        store = LocalStore(tmp_path / "store")
        first = await m.bar_store(store, calendar).pull(CODES)
        cold_calls = m.served(CHART_TR_ID)
        m.now = T2
        m.chart_queries.clear()
        second = await m.bar_store(store, calendar).pull(CODES)
        warm_calls = m.served(CHART_TR_ID) - cold_calls
        asked_from = {q["FID_INPUT_DATE_1"] for q in m.chart_queries}
        third = await m.bar_store(store, calendar).pull(CODES)
        again = m.served(CHART_TR_ID) - cold_calls - warm_calls
        served = await m.chart("000660", date(2025, 1, 1), T2.date())
        return first, second, third, cold_calls, warm_calls, asked_from, again, served

    first, second, third, cold, warm, asked_from, again, served = asyncio.run(go())
    assert set(first.values()) == {Update.FETCHED} and cold >= 2 * len(CODES)
    assert set(second.values()) == {Update.EXTENDED}
    assert warm == len(CODES) and asked_from == {"20261113"}
    assert set(third.values()) == {Update.CURRENT} and again == 0
    stored = decode("000660", LocalStore(tmp_path / "store").get(bar_key("000660")))
    assert stored.last == T2.date() and stored.name
    assert list(stored.bars) == [b for b in served if b.day >= stored.first]


def test_an_adjustment_on_the_simulator_side_refetches_the_history(tmp_path, calendar):
    async def go():
        store = LocalStore(tmp_path / "store")
        before = Market(tmp_path / "a", T1)
        await before.bar_store(store, calendar).pull(["005930"])
        after = Market(tmp_path / "b", T2, adjustments="005930:2026-11-16:0.5")
        result = await after.bar_store(store, calendar).pull(["005930"])
        expected = await after.chart("005930", date(2025, 1, 1), T2.date())
        return result, expected, before.sim

    result, expected, _ = asyncio.run(go())
    assert result == {"005930": Update.ADJUSTED}
    stored = decode("005930", LocalStore(tmp_path / "store").get(bar_key("005930")))
    assert list(stored.bars) == [b for b in expected if b.day >= stored.first]
    # The stored history is the adjusted one: the bar before the ex-date is halved.
    nov13 = next(b for b in stored.bars if b.day == date(2026, 11, 13))
    assert nov13.close == next(b for b in expected if b.day == date(2026, 11, 13)).close


def test_two_concurrent_updaters_leave_one_consistent_file(tmp_path, calendar):
    async def go():
        m = Market(tmp_path, T2)
        store = LocalStore(tmp_path / "store")
        a, b = m.bar_store(store, calendar), m.bar_store(store, calendar)
        await asyncio.gather(a.pull(CODES), b.pull(CODES))
        # A slow writer that only reached an older session does not roll the file back.
        old = Market(tmp_path / "old", T1)
        stale = old.bar_store(store, calendar)
        for code in CODES:
            series, _ = await stale.update(code, date(2025, 1, 1), T1)
        return {c: await m.chart(c, date(2025, 1, 1), T2.date()) for c in CODES}, series

    served, stale_series = asyncio.run(go())
    store = LocalStore(tmp_path / "store")
    for code in CODES:
        stored = decode(code, store.get(bar_key(code)))
        assert stored.last == T2.date()
        assert list(stored.bars) == [b for b in served[code] if b.day >= stored.first]
    assert stale_series.last == T2.date()


def test_an_interrupted_pull_resumes_where_it_stopped(tmp_path, calendar):
    codes = [*CODES, "005380", "051910", "006400"]

    async def go():
        m = Market(tmp_path, T2)
        store = LocalStore(tmp_path / "store")
        done: list[str] = []
        pulling = asyncio.current_task()

        def on_done(code, action, message):
            done.append(code)
            if len(done) == 2:
                pulling.cancel()

        with pytest.raises(asyncio.CancelledError):
            await m.bar_store(store, calendar).pull(codes, on_done=on_done)
        stored = set(store.list("bars/D/"))
        before = m.served(CHART_TR_ID)
        result = await m.bar_store(store, calendar).pull(codes)
        return stored, result, m.served(CHART_TR_ID) - before

    stored, result, calls = asyncio.run(go())
    kept = {k.rsplit("/", 1)[-1].removesuffix(".parquet") for k in stored}
    current = {c for c, a in result.items() if a is Update.CURRENT}
    fetched = {c for c, a in result.items() if a is Update.FETCHED}
    assert 2 <= len(kept) < 6
    # Nothing stored before the interruption is fetched again (a write already under way in
    # a worker thread when the pull was cancelled may still land: it counts as current).
    assert kept <= current and current | fetched == set(codes) and not current & fetched
    assert fetched
    # Each missing ticker costs its chart pages (a little over a year: three), no more.
    assert calls <= 3 * len(fetched)


def test_in_a_session_todays_bar_comes_from_the_quote_without_a_chart_call(tmp_path, calendar):
    async def go():
        m = Market(tmp_path, T2)
        store = LocalStore(tmp_path / "store")
        await m.bar_store(store, calendar).pull(["005930"])
        m.now = IN_SESSION
        bs = m.bar_store(store, calendar)
        charts, prices = m.served(CHART_TR_ID), m.served(PRICE_TR_ID)
        quotes, _ = await bs.quotes(["005930"])
        start = IN_SESSION.date() - timedelta(days=400)
        day = await bs.daily_bars("005930", start, IN_SESSION.date())
        week = await bs.daily_bars("005930", start, IN_SESSION.date(), Period.WEEK)
        return (quotes["005930"], day, week, m.served(CHART_TR_ID) - charts,
                m.served(PRICE_TR_ID) - prices)

    quote, day, week, charts, prices = asyncio.run(go())
    assert charts == 0 and prices == 1
    today = day.bars[-1]
    assert today.day == IN_SESSION.date() and today.close == quote.price
    assert (today.open, today.high, today.low) == (quote.open, quote.high, quote.low)
    assert day.bars[-2].day == T2.date() and day.bars[-2].close == quote.base
    assert week.bars == resample(day.bars, Period.WEEK)


class HeldQuotes:
    """The simulator's market data, with the quote calls that name `held` kept waiting until
    `release` is set (a slow second batch of quotes)."""

    def __init__(self, broker: KisMarketData, held: str) -> None:
        self.broker = broker
        self.source = broker.source
        self.held = held
        self.release = asyncio.Event()
        self.calls: list[list[str]] = []

    async def quotes(self, tickers):
        self.calls.append(list(tickers))
        if self.held in tickers:
            await self.release.wait()
        return await self.broker.quotes(tickers)

    async def daily_bars(self, ticker, start, end, period=Period.DAY):
        return await self.broker.daily_bars(ticker, start, end, period)


def test_a_bar_is_served_when_its_batch_of_quotes_arrives_not_after_the_last(tmp_path,
                                                                             calendar):
    # A decide over the whole universe asks every quote at once, 30 tickers a call, and reads
    # the stored bars meanwhile: a bar waits for its own call, not for every call.
    codes = [x.code for x in bundled_universe().listings[:QUOTE_CHUNK + 1]]

    async def go():
        m = Market(tmp_path, T2)
        store = LocalStore(tmp_path / "store")
        await m.bar_store(store, calendar).pull(codes[:1])
        m.now = IN_SESSION
        broker = HeldQuotes(KisMarketData(m.kis), held=codes[-1])
        bs = BarStore(store, broker, clock=lambda: m.now, calendar=calendar)
        asked = asyncio.create_task(bs.quotes(codes))
        first = asyncio.create_task(bs.daily_bars(codes[0], IN_SESSION.date() - timedelta(
            days=400), IN_SESSION.date()))
        # A guard against a hang if the bar waited for the held call, not a timing check.
        await asyncio.wait({first}, timeout=30)
        served_while_held = first.done() and not broker.release.is_set()
        broker.release.set()
        quotes, failed = await asked
        return served_while_held, await first, quotes, failed, broker.calls

    served_while_held, day, quotes, failed, calls = asyncio.run(go())
    assert served_while_held
    assert day.bars[-1].day == IN_SESSION.date()
    assert day.bars[-1].close == quotes[codes[0]].price
    assert sorted(map(len, calls)) == [1, QUOTE_CHUNK] and not failed
    assert set(quotes) == set(codes)


class DroppingQuotes(HeldQuotes):
    """The simulator's market data, answering without a price for `held` (KIS leaves a
    halted or untraded code out of a multi-ticker answer)."""

    async def quotes(self, tickers):
        self.calls.append(list(tickers))
        quotes, failed = await self.broker.quotes(tickers)
        if self.held in quotes:
            del quotes[self.held]
            failed[self.held] = f"KIS has no price for {self.held}"
        return quotes, failed


def test_a_ticker_answered_without_a_price_is_not_asked_again_for_its_bar(tmp_path, calendar):
    codes = ["005930", "000660"]

    async def go():
        m = Market(tmp_path, T2)
        store = LocalStore(tmp_path / "store")
        await m.bar_store(store, calendar).pull(codes)
        m.now = IN_SESSION
        broker = DroppingQuotes(KisMarketData(m.kis), held="000660")
        bs = BarStore(store, broker, clock=lambda: m.now, calendar=calendar)
        quotes, failed = await bs.quotes(codes)
        start = IN_SESSION.date() - timedelta(days=400)
        bars = {c: await bs.daily_bars(c, start, IN_SESSION.date()) for c in codes}
        return quotes, failed, bars, broker.calls

    quotes, failed, bars, calls = asyncio.run(go())
    assert set(quotes) == {"005930"} and set(failed) == {"000660"}
    # One quote call in all: the answer without a price stands for the run (no bar today).
    assert calls == [codes]
    assert bars["005930"].bars[-1].day == IN_SESSION.date()
    assert bars["000660"].bars[-1].day == T2.date()


def test_the_bar_store_works_on_s3(tmp_path, calendar, s3_url):
    from quartz_cli.store.s3 import S3Store

    s3 = S3Store("quartz-bars", region="ap-northeast-2", prefix="paper", endpoint_url=s3_url,
                 access_key_id="testing", secret_access_key="testing")
    s3.client.create_bucket(Bucket="quartz-bars",
                            CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})

    async def go():
        m = Market(tmp_path, T1)
        first = await m.bar_store(s3, calendar).pull(CODES[:2])
        m.now = T2
        before = m.served(CHART_TR_ID)
        second = await m.bar_store(s3, calendar).pull(CODES[:2])
        coverage = m.bar_store(s3, calendar).coverage()
        return first, second, m.served(CHART_TR_ID) - before, coverage

    first, second, calls, coverage = asyncio.run(go())
    assert set(first.values()) == {Update.FETCHED}
    assert set(second.values()) == {Update.EXTENDED} and calls == 2
    assert [(c.code, c.last, c.fresh) for c in coverage] == [
        ("000660", T2.date(), True), ("005930", T2.date(), True)]
