"""The technical agent end to end against the simulator: values equal TA-Lib over the
served bars, halts and missing bars are reported (never an RSI of 0), short histories are
reported insufficient, failures stay per ticker, results are cached and published."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import numpy as np
import pytest
import talib

from quartz_cli.agents.technical import analyse_bars, analyze_tickers, read_technical
from quartz_cli.app.runtime import open_runtime
from quartz_cli.calendars import krx_calendar
from quartz_cli.config import load_config
from quartz_cli.domain.bars import Bar, Period
from quartz_cli.errors import InputError
from quartz_cli.kis.quotations import daily_chart

MARKET_TIME = "2026-11-20T10:30:00+09:00"
NOW = datetime.fromisoformat(MARKET_TIME)


@pytest.fixture(autouse=True)
def market(monkeypatch):
    monkeypatch.setenv("QUARTZ_MARKET_TIME", MARKET_TIME)
    monkeypatch.setenv("QUARTZ_SIM_RATE_LIMIT_PER_S", "0")


class DictCache:
    """A cache with the diskcache interface the agent uses (expiry not exercised here)."""

    def __init__(self):
        self.data = {}
        self.expiry = {}

    def get(self, key, default=None):
        return self.data.get(key, default)

    def set(self, key, value, expire=None):
        self.data[key] = value
        self.expiry[key] = expire
        return True


def run(fn):
    async def go():
        cfg = load_config()
        async with open_runtime(cfg) as rt:
            return await fn(rt, cfg)
    return asyncio.run(go())


def _analyze(tickers, periods=(Period.DAY, Period.WEEK, Period.MONTH), cache=None):
    async def go(rt, cfg):
        results = await analyze_tickers(rt.market, rt.store, tickers, list(periods), NOW,
                                        cache=cache, calendar=krx_calendar(cfg.home / "cache"))
        return results, rt
    return run(go)


def test_every_indicator_for_every_period_matches_talib_over_the_served_bars():
    results, _ = _analyze(["005930", "000660"])
    assert [r.code for r in results] == ["005930", "000660"]

    async def bars(rt, cfg):
        return {p: await daily_chart(rt.kis, "000660", date(2025, 10, 16), date(2026, 11, 20), p)
                for p in (Period.DAY,)}
    served = run(bars)[Period.DAY].bars
    for r in results:
        assert r.ok and set(r.periods) == {"D", "W", "M"}
        assert "synthetic" in r.data_source
        for a in r.periods.values():
            assert all(v is not None for v in a.values.model_dump().values()), a.period
            assert not a.insufficient
    d = results[1].periods["D"]
    close = np.array([b.close for b in served], dtype=float)
    assert d.bars == len(served) and d.last_close == served[-1].close
    assert d.values.rsi14 == talib.RSI(close, 14)[-1]
    assert d.values.macd_hist == talib.MACD(close, 12, 26, 9)[2][-1]
    assert d.signals.rsi == ("overbought" if d.values.rsi14 >= 70 else
                             "oversold" if d.values.rsi14 <= 30 else "neutral")


def test_halted_and_missing_sessions_are_skipped_and_reported(monkeypatch):
    monkeypatch.setenv("QUARTZ_SIM_HALTS", "005930:2026-11-02..2026-11-06")
    monkeypatch.setenv("QUARTZ_SIM_MISSING_BARS", "005930:2026-11-10;005930:2026-11-12")
    results, _ = _analyze(["005930"], periods=[Period.DAY])
    d = results[0].periods["D"]
    issues = d.data_issues
    assert issues.halted_sessions == [date(2026, 11, d) for d in (2, 3, 4, 5, 6)]
    assert issues.missing_sessions == [date(2026, 11, 10), date(2026, 11, 12)]
    assert d.values.rsi14 is not None and 0.0 < d.values.rsi14 < 100.0
    # A run without the gaps has 7 more bars: the skipped ones are really left out.
    monkeypatch.delenv("QUARTZ_SIM_HALTS")
    monkeypatch.delenv("QUARTZ_SIM_MISSING_BARS")
    monkeypatch.setenv("QUARTZ_HOME", str(__import__("tempfile").mkdtemp()))
    clean, _ = _analyze(["005930"], periods=[Period.DAY])
    assert clean[0].periods["D"].bars == d.bars + 7


def test_short_history_is_reported_insufficient_not_nan():
    bars = [Bar(date(2026, 1, 1 + i), 1000 + i, 1010 + i, 990 + i, 1000 + i * 3, 100)
            for i in range(25)]
    analysis, _ = analyse_bars(bars, Period.DAY, None)
    short = {i.indicator: (i.needed, i.available) for i in analysis.insufficient}
    assert short == {"macd": (34, 25), "fibonacci": (60, 25)}
    assert analysis.values.macd is None and analysis.values.swing_high is None
    assert analysis.signals.macd_cross is None and analysis.fibonacci_levels == {}
    assert analysis.values.rsi14 == 100.0 and analysis.signals.rsi == "overbought"
    assert analysis.values.sma20 is not None


def test_one_unknown_ticker_fails_alone():
    results, _ = _analyze(["005930", "999999", "000660"], periods=[Period.DAY])
    assert [r.ok for r in results] == [True, False, True]
    bad = results[1]
    # KIS answers an unknown code with success and no bars: the error has no broker code.
    assert bad.error_type == "UnknownTicker" and bad.error_code is None
    assert "999999" in bad.error


def test_malformed_code_is_refused_before_any_call():
    with pytest.raises(InputError, match="not a KRX stock code"):
        _analyze(["005930", "00593O0"])


def test_results_are_published_and_cached():
    cache = DictCache()

    async def go(rt, cfg):
        first = await analyze_tickers(rt.market, rt.store, ["035720"], [Period.DAY], NOW,
                                      cache=cache)
        sent = rt.kis.requests_sent
        second = await analyze_tickers(rt.market, rt.store, ["035720"], [Period.DAY], NOW,
                                       cache=cache)
        return first, second, rt.kis.requests_sent - sent, read_technical(rt.store, "035720")
    first, second, calls, loaded = run(go)
    assert not first[0].cached and second[0].cached and calls == 0
    assert second[0].periods == first[0].periods
    assert list(cache.data) == ["technical|035720|D|2026-11-20"]
    assert cache.expiry["technical|035720|D|2026-11-20"] == 300
    assert loaded is not None and loaded.key.startswith("technical/runs/")
    doc = loaded.document
    assert doc.code == "035720" and doc.env == "local" and "synthetic" in doc.data_source
    assert doc.periods["D"].values.rsi14 == first[0].periods["D"].values.rsi14
