"""KIS's domestic index chart (FHKUP03500100) against the simulator's synthetic indexes:
complete paging of a long range, stable history, an unknown index; and the backtest's
KOSPI benchmark taken from it, with the equal-weight fallback when it cannot be had."""

from __future__ import annotations

import asyncio
from datetime import date, time
from decimal import Decimal

import pytest

from quartz_cli.config import load_config
from quartz_cli.errors import BrokerError
from quartz_cli.kis.index_chart import daily_index_chart
from sim_runtime import pin_market, run

MARKET_TIME = "2026-11-20T16:00:00+09:00"


@pytest.fixture
def market(monkeypatch):
    pin_market(monkeypatch, MARKET_TIME)


def test_the_kospi_chart_pages_through_a_long_range_and_its_history_is_stable(market):
    async def go(rt):
        whole = await daily_index_chart(rt.kis, "0001", date(2024, 1, 1), date(2026, 11, 20))
        part = await daily_index_chart(rt.kis, "0001", date(2025, 3, 1), date(2025, 3, 31))
        return whole, part, rt.sim.market.calendar

    whole, part, calendar = run(go)
    sessions = calendar.between(date(2024, 1, 1), date(2026, 11, 20))
    assert [b.day for b in whole.bars] == sessions  # every session, oldest first, today's too
    assert whole.calls == len(sessions) // 100 + 2  # 100 rows a call, then an empty one
    assert whole.name == "종합" and "synthetic" in whole.data_note
    march = [b for b in whole.bars if b.day.month == 3 and b.day.year == 2025]
    assert part.bars == march
    for b in whole.bars:
        assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
        assert b.close == b.close.quantize(Decimal("0.01")) and b.close > 0


def test_an_unknown_index_is_a_broker_error(market):
    with pytest.raises(BrokerError, match="index 9999"):
        run(lambda rt: daily_index_chart(rt.kis, "9999", date(2025, 1, 1), date(2025, 2, 1)))


def test_a_backtest_compares_against_kospi_or_falls_back_to_equal_weight(
        market, calendar_cache, tmp_path, monkeypatch):
    """In local the run's benchmark is the simulator's KOSPI from the index chart (start cash
    × close / the first session's open); without a KIS account it is the equal-weight
    buy-and-hold, named with the reason."""
    from datetime import UTC, datetime

    from quartz_cli.agents.backtest import Settings, report_document
    from quartz_cli.app.backtest import kospi_benchmark, open_backtest
    from quartz_cli.store.local import LocalStore
    from trading_support import seed_calendar

    config = load_config("local")
    seed_calendar(config.home, calendar_cache)
    settings = Settings(start=date(2025, 3, 4), end=date(2025, 3, 12),
                        universe=("005930", "000660"), decision_time=time(15, 30),
                        cash=10_000_000)
    bt, _, _ = open_backtest(config, settings, store=LocalStore(tmp_path / "store"))
    assert bt.index is not None and "SYNTHETIC KOSPI" in bt.benchmark_name()

    async def drive():
        for day in bt.remaining():
            await bt.step(day)

    asyncio.run(drive())
    base = next(b.open for b in bt.index.bars if b.day == date(2025, 3, 4))
    for d in bt.days:
        close = next(b.close for b in bt.index.bars if b.day == d.day)
        assert d.benchmark == int(10_000_000 * close / base)
    doc = report_document(bt, run="bt-x", produced_at=datetime(2026, 11, 29, tzinfo=UTC),
                          interrupted=False)
    assert doc.data.benchmark and doc.benchmark.name.startswith("SYNTHETIC KOSPI")
    assert doc.settings.benchmark == "kospi"

    monkeypatch.delenv("QUARTZ_MARKET_TIME")
    for key in ("HANSEC_INVESTMENT_APP_KEY", "HANSEC_INVESTMENT_APP_SECRET_KEY",
                "HANSEC_INVESTMENT_CANO"):
        monkeypatch.delenv(key, raising=False)
    index, note = kospi_benchmark(load_config("paper"), settings)
    assert index is None and note.startswith("KOSPI unavailable: ")
