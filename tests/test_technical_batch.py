"""The technical agent computes every ticker in one native batch (grouped by bar count) with
values equal to one-by-one analysis and to TA-Lib, and, over the bar store, a second run
analyses fresh bars (today's partial bar from the quote) without a single chart call."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import numpy as np
import talib

from quartz_cli.agents.technical import PeriodBars, analyse_bars, analyse_many, analyze_tickers
from quartz_cli.app.runtime import open_runtime
from quartz_cli.config import load_config
from quartz_cli.domain.bars import Bar, Period
from quartz_cli.kis.quotations import CHART_TR_ID, PRICE_TR_ID


def _walk(seed: int, n: int) -> list[Bar]:
    rng = np.random.default_rng(seed)
    close = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    start = date(2025, 1, 1)
    return [Bar(start + timedelta(days=i), int(c), int(c * 1.01) + 1, int(c * 0.99), int(c),
                1000 + i) for i, c in enumerate(close)]


def test_one_batch_equals_one_by_one_and_talib():
    items = [PeriodBars(_walk(s, n), p, None) for s, n, p in
             [(1, 250, Period.DAY), (2, 250, Period.DAY), (3, 180, Period.DAY),
              (4, 120, Period.WEEK), (5, 250, Period.DAY), (6, 0, Period.DAY)]]
    batch = analyse_many(items)
    assert str(batch[-1]) == "no traded D bars in the range"
    for item, out in zip(items[:-1], batch[:-1], strict=True):
        alone, _ = analyse_bars(item.bars, item.period, None)
        assert out[0] == alone
    close = np.array([b.close for b in items[1].bars], dtype=float)
    values = batch[1][0].values
    assert abs(values.rsi14 - talib.RSI(close, 14)[-1]) <= 1e-9
    assert abs(values.macd_signal - talib.MACD(close, 12, 26, 9)[1][-1]) <= 1e-9
    assert abs(values.bb_upper - talib.BBANDS(close, 20, 2, 2)[0][-1]) <= 1e-9


def test_a_second_run_in_session_reads_fresh_bars_from_the_store(in_session):
    now = datetime.fromisoformat("2026-11-24T10:00:00+09:00")
    later = now + timedelta(hours=2)
    codes = ["005930", "000660", "035420"]

    async def go():
        async with open_runtime(load_config()) as rt:
            first = await analyze_tickers(rt.market, None, codes, [Period.DAY], now)
            counters = rt.sim.state.counters()
            quotes, _ = await rt.market.quotes(codes)
            second = await analyze_tickers(rt.market, None, codes, [Period.DAY], later)
            after = rt.sim.state.counters()
            return first, second, quotes, counters, after

    first, second, quotes, before, after = asyncio.run(go())
    served = {k: after.get(k, 0) - before.get(k, 0) for k in (f"served:{CHART_TR_ID}",
                                                            f"served:{PRICE_TR_ID}")}
    assert served == {f"served:{CHART_TR_ID}": 0, f"served:{PRICE_TR_ID}": len(codes)}
    for a, b in zip(first, second, strict=True):
        assert a.ok and b.ok
        d = b.periods["D"]
        assert d.as_of == now.date() and d.last_close == quotes[b.code].price
        assert d.bars == a.periods["D"].bars


def test_batches_analysed_while_bars_arrive_equal_one_run_of_all(in_session, monkeypatch):
    # Two rows a batch: the five tickers' analyses run in three worker-thread batches as
    # their bars come in (a ticker that fails in the middle), and equal one batch of all.
    import quartz_cli.agents.technical as technical

    now = datetime.fromisoformat("2026-11-24T10:00:00+09:00")
    codes = ["005930", "000660", "999999", "035420", "005380", "051910"]

    async def go():
        async with open_runtime(load_config()) as rt:
            return await analyze_tickers(rt.market, None, codes, [Period.DAY], now)

    whole = asyncio.run(go())
    monkeypatch.setattr(technical, "BATCH_ROWS", 2)
    batched = asyncio.run(go())
    assert [r.ok for r in batched] == [True, True, False, True, True, True]
    assert [r.model_dump() for r in batched] == [r.model_dump() for r in whole]
