"""The quotations client against the simulator's quotation endpoints (in-process ASGI and on
loopback): current price, complete paging of D/W/M charts, W/M agreeing with daily bars
resampled independently, unknown tickers, halts and missing bars."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import pytest

from quartz_cli.config import load_config
from quartz_cli.domain.bars import Period
from quartz_cli.domain.krx import is_on_tick
from quartz_cli.errors import InputError
from quartz_cli.kis.quotations import UnknownTicker, daily_chart, inquire_price
from sim_runtime import pin_market, run

MARKET_TIME = "2026-11-20T10:30:00+09:00"


@pytest.fixture
def market(monkeypatch):
    pin_market(monkeypatch, MARKET_TIME)


def test_current_price_is_typed_and_on_tick(market):
    p = run(lambda rt: inquire_price(rt.kis, "005930"))
    assert p.code == "005930"
    assert isinstance(p.price, int) and is_on_tick(p.price)
    assert p.lower_limit <= p.price <= p.upper_limit
    assert p.change == p.price - p.base
    assert not p.halted
    assert "synthetic" in p.data_note


def test_daily_chart_pages_through_a_long_range_completely(market):
    async def go(rt):
        before = rt.kis.requests_sent
        chart = await daily_chart(rt.kis, "000660", date(2022, 1, 1), date(2026, 11, 20))
        return chart, rt.kis.requests_sent - before, rt.sim.market
    chart, sent, sample = run(go)
    sessions = sample.calendar.between(date(2022, 1, 1), date(2026, 11, 20))
    assert [b.day for b in chart.bars] == sessions  # every session, oldest first, no duplicate
    assert chart.calls == len(sessions) // 100 + 1 == sent
    assert chart.name == "SK하이닉스"
    daily = sample.daily("000660", date(2026, 11, 20))
    assert [b.close for b in chart.bars[:-1]] == [int(c) for c in daily.close[:-1]]
    # At 10:30 today's row is the bar as it stands, not the day's final bar.
    today = chart.bars[-1]
    assert today.day == date(2026, 11, 20) and is_on_tick(today.close)
    assert 0 < today.volume < int(daily.volume[-1])
    for prev, bar in pairwise(chart.bars):
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert abs(bar.close - prev.close) <= prev.close * 0.30


def _resample(bars, key):
    """An independent resampler for the agreement test."""
    groups: dict = {}
    for b in bars:
        groups.setdefault(key(b.day), []).append(b)
    return [(g[0].day, g[0].open, max(x.high for x in g), min(x.low for x in g), g[-1].close,
             sum(x.volume for x in g)) for g in groups.values()]


@pytest.mark.parametrize("period,key", [
    (Period.WEEK, lambda d: tuple(d.isocalendar())[:2]),
    (Period.MONTH, lambda d: (d.year, d.month)),
])
def test_weekly_and_monthly_bars_agree_with_resampled_daily_bars(market, period, key):
    start, end = date(2023, 1, 2), date(2026, 11, 20)

    async def go(rt):
        return (await daily_chart(rt.kis, "035420", start, end, Period.DAY),
                await daily_chart(rt.kis, "035420", start, end, period))
    daily, served = run(go)
    got = [(b.day, b.open, b.high, b.low, b.close, b.volume) for b in served.bars]
    assert got == _resample(daily.bars, key)
    if period is Period.WEEK:
        assert served.calls >= 2  # ~200 weeks: paged


def test_unknown_ticker_answered_as_kis_does_is_an_unknown_ticker(market):
    # KIS answers success with a zero price and, on the chart, no name and no bars.
    with pytest.raises(UnknownTicker) as err:
        run(lambda rt: daily_chart(rt.kis, "999999", date(2026, 1, 1), date(2026, 11, 20)))
    assert "999999" in err.value.message and err.value.code is None
    with pytest.raises(UnknownTicker) as err:
        run(lambda rt: inquire_price(rt.kis, "99999A"))
    assert "99999A" in err.value.message and "zero price" in err.value.message


def test_malformed_code_is_refused_before_any_call(market):
    with pytest.raises(InputError, match="not a KRX stock code"):
        run(lambda rt: inquire_price(rt.kis, "5930"))


def test_halts_and_missing_bars_are_served_as_configured(market, monkeypatch):
    monkeypatch.setenv("QUARTZ_SIM_HALTS", "005930:2026-11-02..2026-11-04;005930:2026-11-20")
    monkeypatch.setenv("QUARTZ_SIM_MISSING_BARS", "005930:2026-10-15")

    async def go(rt):
        return (await daily_chart(rt.kis, "005930", date(2026, 10, 1), date(2026, 11, 20)),
                await inquire_price(rt.kis, "005930"))
    chart, price = run(go)
    days = {b.day: b for b in chart.bars}
    assert date(2026, 10, 15) not in days
    halted = [d for d, b in days.items() if b.halted]
    assert halted == [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 20)]
    assert days[date(2026, 11, 2)].close == days[date(2026, 10, 30)].close
    assert price.halted and price.volume == 0 and price.price == price.base


def test_chart_over_loopback_http(market):
    from fakes.server import LoopbackServer
    from quartz_cli.app.runtime import local_simulator

    sim = local_simulator(load_config())
    with LoopbackServer(sim.app) as srv:
        import os
        os.environ["QUARTZ_KIS_BASE_URL"] = srv.url
        try:
            chart = run(lambda rt: daily_chart(rt.kis, "005930", date(2026, 1, 1),
                                               date(2026, 11, 20), Period.MONTH))
        finally:
            del os.environ["QUARTZ_KIS_BASE_URL"]
    assert [b.day.month for b in chart.bars] == list(range(1, 12))
