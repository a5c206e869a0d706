"""`local` serves every listing Quartz knows: after `quartz select universe` wrote the master
files' listings to $QUARTZ_HOME/universe.csv, the in-process simulator quotes and charts them
too, and `quartz data pull --universe all` covers them."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from quartz_cli.app.bars import open_bar_store
from quartz_cli.app.runtime import open_runtime
from quartz_cli.config import load_config
from quartz_cli.domain.universe import Universe, bundled_universe
from quartz_cli.kis.master import write_universe_csv
from quartz_cli.store.bars import Update
from trading_support import seed_calendar

NEW = ["900001", "900002", "900003"]


def test_listings_beyond_the_bundled_ones_are_quoted_charted_and_pulled(
        quartz_home, calendar_cache, monkeypatch):
    seed_calendar(quartz_home, calendar_cache)
    monkeypatch.setenv("QUARTZ_MARKET_TIME", "2026-11-20T16:00:00+09:00")
    monkeypatch.setenv("QUARTZ_SIM_RATE_LIMIT_PER_S", "0")
    bundled = list(bundled_universe().listings)
    extra = [replace(bundled[i], code=code, name=f"신규상장{i}", aliases=())
             for i, code in enumerate(NEW)]
    quartz_home.mkdir(parents=True, exist_ok=True)
    write_universe_csv(Universe(bundled + extra), quartz_home / "universe.csv")

    async def go():
        async with open_runtime(load_config()) as rt:
            quotes, failed = await rt.market.quotes(NEW)
            pulled = await open_bar_store(rt).pull(NEW)
            series = open_bar_store(rt).read(NEW[0])
            return quotes, failed, pulled, series

    quotes, failed, pulled, series = asyncio.run(go())
    assert set(quotes) == set(NEW) and failed == {}
    assert pulled == dict.fromkeys(NEW, Update.FETCHED)
    assert series is not None and series.name == "신규상장0" and len(series.bars) > 250
